"""mAP@R worked out by hand, and how much the field's conventions move it.

``ap_table`` spells out AP@R for one ranked list, row by row, exactly as the definition reads
(PROTOCOLS: keep the top R, rel_k = 1 when the k-th item is relevant):

    AP@R = (1 / n) * sum_{k <= R, rel_k = 1} (hits in the top k) / k,    n = sum_{k <= R} rel_k

``tie_order_map`` ranks the database by Hamming distance but orders each tie with the
relevant items first or last: the best and the worst an unstable argsort can give (the
implementations the field compares use one), so the two numbers bracket every published
"mAP" of the same codes. ``convention_table`` puts them beside the package's deterministic
and tie-aware numbers and the two ways of counting queries with nothing relevant in their top
R. Both build the (Q, N) distance matrix: meant for small data such as the shipped digits.
"""
from __future__ import annotations

import numpy as np

from .. import retrieval


def ap_table(relevant, topk: int | None = None) -> dict:
    """AP@topk of one ranked list, with the working.

    ``relevant``: 0/1 (or bool) relevance of the items in rank order. Returns a dict with
    ``rows`` (one per kept rank: ``rank``, ``relevant``, ``hits`` in the top rank,
    ``precision`` = hits / rank, ``counted``: whether this precision enters the mean),
    ``n_relevant`` (relevant items in the top R) and ``ap`` (0.0 when there are none: the
    empty="zero" convention).
    """
    rel = np.asarray(relevant)
    if rel.ndim != 1 or rel.size == 0 or not np.isin(rel, (0, 1)).all():
        raise ValueError(f"relevant={relevant!r}: expected a non-empty 1-D sequence of 0/1 values")
    if topk is not None and (isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1):
        raise ValueError(f"topk={topk!r} is invalid: expected None or an integer >= 1")
    rel = rel.astype(bool)[: len(rel) if topk is None else int(topk)]
    rows, hits, total = [], 0, 0.0
    for rank, r in enumerate(rel, start=1):
        hits += int(r)
        precision = hits / rank
        rows.append({"rank": rank, "relevant": int(r), "hits": hits, "precision": precision,
                     "counted": bool(r)})
        if r:
            total += precision
    return {"rows": rows, "n_relevant": hits, "ap": total / hits if hits else 0.0}


def hamming_ranking(query_code, database_codes) -> tuple[np.ndarray, np.ndarray]:
    """(order, distances): the database sorted by Hamming distance to one query, ties by index."""
    q = np.asarray(query_code)
    d = retrieval.hamming_distance(q.reshape(1, -1), database_codes)[0]  # (N,)
    order = np.argsort(d, kind="stable")
    return order, d[order]


def relevance_matrix(query_labels, database_labels) -> np.ndarray:
    """(Q, N) bool: query and database item share a label (class ids or multi-hot rows)."""
    q, d = np.asarray(query_labels), np.asarray(database_labels)
    if q.ndim != d.ndim or q.ndim not in (1, 2):
        raise ValueError(f"query_labels {q.shape} and database_labels {d.shape}: expected both (N,) "
                         "class ids or both (N, C) multi-hot rows")
    if q.ndim == 1:
        return q[:, None] == d[None, :]
    return (q.astype(np.int64) @ d.astype(np.int64).T) > 0


def tie_order_map(query_codes, database_codes, query_labels, database_labels, topk: int | None = None,
                  order: str = "first") -> float:
    """mAP@topk (empty="zero") when every tie in Hamming distance puts its relevant items
    ``order="first"`` or ``"last"``: the upper and lower end of what an arbitrary tie order gives."""
    if order not in ("first", "last"):
        raise ValueError(f"order={order!r} is invalid: expected 'first' or 'last'")
    dist = retrieval.hamming_distance(query_codes, database_codes)  # (Q, N)
    rel = relevance_matrix(query_labels, database_labels)
    if rel.shape != dist.shape:
        raise ValueError(f"labels give a {rel.shape} relevance matrix but the codes a {dist.shape} "
                         "distance matrix: expected one label per item")
    R = dist.shape[1] if topk is None else min(int(topk), dist.shape[1])
    tie_key = ~rel if order == "first" else rel  # False sorts first
    aps = np.empty(len(dist))
    for i in range(len(dist)):
        ranking = np.lexsort((np.arange(dist.shape[1]), tie_key[i], dist[i]))[:R]
        aps[i] = ap_table(rel[i, ranking])["ap"]
    return float(aps.mean())


def convention_table(query_codes, database_codes, query_labels, database_labels,
                     topk: int | None = None) -> list[dict]:
    """mAP@topk of the same codes under the conventions the field mixes, one row each.

    Rows: ties by index with empty queries as 0 (this package's default), the same leaving
    empty queries out (the authors' PyTorch evaluation), the tie-aware expectation (He et al.
    2018), and relevant-first / relevant-last inside ties (the range of an unstable argsort).
    """
    args = (query_codes, database_codes, query_labels, database_labels)
    rows = [
        ("ties by index, empty queries count 0", retrieval.mean_average_precision(*args, topk=topk, empty="zero")),
        ("ties by index, empty queries left out", retrieval.mean_average_precision(*args, topk=topk, empty="skip")),
        ("tie-aware expectation", retrieval.mean_average_precision(*args, topk=topk, ties="tie_aware")),
        ("relevant items first in ties", tie_order_map(*args, topk=topk, order="first")),
        ("relevant items last in ties", tie_order_map(*args, topk=topk, order="last")),
    ]
    return [{"convention": name, "topk": "all" if topk is None else topk, "map": float(value)}
            for name, value in rows]

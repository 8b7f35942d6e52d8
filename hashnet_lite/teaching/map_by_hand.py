"""mAP@R worked out by hand, and how much the field's conventions move it.

``ap_table`` spells out AP@R for one ranked list, row by row, exactly as the definition reads
(docs/conventions.md: keep the top R, rel_k = 1 when the k-th item is relevant):

    AP@R = (1 / n) * sum_{k <= R, rel_k = 1} (hits in the top k) / k,    n = sum_{k <= R} rel_k

``tie_order_map`` ranks the database by Hamming distance but orders each tie with the
relevant items first or last, two orders an unstable argsort (which the implementations the
field compares use) can give. Over the whole ranking (R = all) they are the best and the worst
any tie order gives. At a cut R they need not be: the tie at the cut also decides how many
relevant items are counted, and R, I, [R, I] at R = 3 scores 1.0 with the relevant item last
and 0.83 with it first (docs/conventions.md). ``convention_table`` puts them beside the package's deterministic
and tie-aware numbers and the two ways of counting queries with nothing relevant in their top
R. Both build the (Q, N) distance matrix: meant for small data such as the shipped digits.
"""
from __future__ import annotations

import numpy as np

from .. import retrieval
from ..retrieval import reference


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


relevance_matrix = reference.relevance  # (Q, N) bool: query and database item share a label


def tie_order_map(query_codes, database_codes, query_labels, database_labels, topk: int | None = None,
                  order: str = "first") -> float:
    """mAP@topk (empty="zero") when every tie in Hamming distance puts its relevant items
    ``order="first"`` or ``"last"``. With topk=None these are the highest and the lowest mAP an
    arbitrary tie order gives; at a cut R they need not be (see the module docstring)."""
    if order not in ("first", "last"):
        raise ValueError(f"order={order!r} is invalid: expected 'first' or 'last'")
    return reference.mean_average_precision(query_codes, database_codes, query_labels, database_labels,
                                            topk=topk, empty="zero", tie_order=f"relevant_{order}")


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

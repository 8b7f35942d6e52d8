"""What a retrieval gallery shows: one query's top matches, which of them are right, and how
to pick queries and turn data items into pictures.

The ranking is the evaluation's own (``HammingIndex`` with the "numpy" backend: Hamming
distance, ties by database index), so the gallery shows exactly the list that mAP scores.
Relevance is the paper's: two items are similar when they share at least one label.

The pictures themselves are drawn by ``lesson01.plot_retrieval_gallery``; nothing here imports
matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import as_numpy, class_ids, label_rows  # noqa: F401 (class_ids: the lessons use it from here)
from ..retrieval import HammingIndex, hamming_distance, precision_recall_curve


# Display names of the classes of the data sets with class ids (in id order).
CLASS_NAMES = {
    "digits": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def class_names(spec: str) -> list[str] | None:
    """The class names of a data spec ('fashion-mnist:/some/root' -> Fashion-MNIST's), or None."""
    return CLASS_NAMES.get(str(spec).split(":", 1)[0].lower())


@dataclass(frozen=True)
class Matches:
    """The top ``k`` database items for one query, in rank order."""

    query: int  # index of the query in the query set
    indices: np.ndarray  # (k,) int64 database indices
    distances: np.ndarray  # (k,) int32 Hamming distances
    relevant: np.ndarray  # (k,) bool: shares at least one label with the query

    @property
    def precision(self) -> float:
        """Share of the k matches that are relevant (precision@k of this query)."""
        return float(self.relevant.mean())


def top_matches(query_codes, database_codes, query_labels, database_labels, query: int,
                k: int = 10) -> Matches:
    """The ``k`` nearest database items of query number ``query`` by Hamming distance.

    Codes are +-1 (N, K); labels class ids (N,) or multi-hot rows (N, C), the same form for
    queries and database. Ties in distance are broken by database index, as in the mAP.
    """
    q_codes = as_numpy(query_codes, "query_codes")
    if q_codes.ndim != 2:
        raise ValueError(f"query_codes has shape {q_codes.shape}: expected (Q, K)")
    n_queries = q_codes.shape[0]
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)) or not 0 <= query < n_queries:
        raise ValueError(f"query={query!r} is invalid: expected an integer in [0, {n_queries - 1}]")
    q_labels = label_rows(query_labels, "query_labels")
    d_labels = label_rows(database_labels, "database_labels")
    if len(q_labels) != n_queries:
        raise ValueError(f"query_labels has {len(q_labels)} rows but query_codes has {n_queries}")
    index = HammingIndex(database_codes, backend="numpy")
    if len(d_labels) != len(index):
        raise ValueError(f"database_labels has {len(d_labels)} rows but database_codes has {len(index)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(index):
        raise ValueError(f"k={k!r} is invalid: expected an integer in [1, {len(index)}] (the database size)")
    width = max(q_labels.shape[1], d_labels.shape[1])  # class ids may leave out the top classes
    q_row = np.pad(q_labels[query], (0, width - q_labels.shape[1]))
    distances, indices = index.search(q_codes[query], int(k))
    d_rows = np.pad(d_labels[indices[0]], ((0, 0), (0, width - d_labels.shape[1])))
    relevant = (d_rows.astype(np.int64) @ q_row.astype(np.int64)) > 0
    return Matches(query=int(query), indices=indices[0], distances=distances[0], relevant=relevant)


def pick_queries(labels, per_class: int = 1, *, seed: int = 0) -> np.ndarray:
    """``per_class`` item indices of every class (by ``class_ids``), drawn with
    ``np.random.default_rng(seed)``, ordered by class; fewer for a class with fewer items."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class={per_class!r} is invalid: expected an integer >= 1")
    classes = class_ids(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(classes[classes >= 0]):
        members = np.flatnonzero(classes == c)
        picked.append(np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False)))
    return np.concatenate(picked).astype(np.int64) if picked else np.zeros(0, np.int64)


def display_images(dataset, indices) -> np.ndarray:
    """Items ``indices`` of a Dataset of (x, y) image items as pictures, float32 in [0, 1]:
    (n, H, W) for one channel, (n, H, W, 3) for three. Items outside [0, 1] (normalised
    inputs) are rescaled to it, each image on its own."""
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= len(dataset)):
        raise ValueError(f"indices hold {idx.min() if idx.min() < 0 else idx.max()}: expected indices "
                         f"in [0, {len(dataset) - 1}]")
    xs = [np.asarray(as_numpy(dataset[int(i)][0], "x"), dtype=np.float32) for i in idx]
    if not xs:
        return np.zeros((0, 1, 1), np.float32)
    x = np.stack(xs)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"dataset items have shape {x.shape[1:]}: expected images (1 or 3, H, W)")
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    hi = x.max(axis=(1, 2, 3), keepdims=True)
    outside = (lo < 0) | (hi > 1)
    x = np.where(outside, (x - lo) / np.maximum(hi - lo, 1e-12), x)
    return x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)


def radius_curves(query_codes, database_codes, query_labels, database_labels) -> dict:
    """Precision within every Hamming radius r = 0..K, two ways, and how many balls are empty.

    ``macro``: each query's precision (0 when its ball is empty), then the mean over queries,
    as ``retrieval.precision_recall_curve`` and the paper's "precision within radius 2" count
    it; ``micro``: relevant retrieved over retrieved, pooled over queries; ``empty``: the share
    of queries that retrieve nothing at radius r. Float64 arrays of K + 1 values each.
    """
    macro, _ = precision_recall_curve(query_codes, database_codes, query_labels, database_labels)
    micro, _ = precision_recall_curve(query_codes, database_codes, query_labels, database_labels, average="micro")
    nearest = hamming_distance(query_codes, database_codes).min(axis=1)  # (Q,)
    radii = np.arange(len(macro))
    empty = (nearest[:, None] > radii[None, :]).mean(axis=0)
    return {"macro": macro, "micro": micro, "empty": empty}

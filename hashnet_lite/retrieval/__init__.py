"""Retrieval in Hamming space and the paper's metrics; knows codes and labels only.

It imports nothing else of hashnet_lite but ``checks`` (numpy-only argument checks), so
anyone can evaluate their own codes with it.

- ``metrics``: mAP@R (ties by index or tie-aware; three conventions for empty queries),
  precision@k, precision-recall over Hamming radii, precision within radius 2, HashNet-nobin's
  real-valued ranking, packing and Hamming distances.
- ``index``: ``HammingIndex``, exact k-nearest and range search (numpy or faiss backends).
- ``kernels``: the popcount, top-k and histogram kernels (numba, or chunked numpy).
- ``reference``: AP@R by the definition, one query at a time: the yardstick.
"""
from .index import HammingIndex
from .metrics import (UndefinedMetricWarning, average_precisions, average_precisions_real, hamming_distance, mean_average_precision,
                      mean_average_precision_real, pack_codes, precision_at_k, precision_recall_curve,
                      precision_within_radius, unpack_codes)

__all__ = [
    "HammingIndex", "UndefinedMetricWarning", "average_precisions", "average_precisions_real", "hamming_distance",
    "mean_average_precision", "mean_average_precision_real", "pack_codes", "precision_at_k",
    "precision_recall_curve", "precision_within_radius", "unpack_codes",
]

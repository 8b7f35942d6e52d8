"""How every number of the package is scored: mAP under one convention for queries with
no relevant item and one rule for ties in Hamming distance (docs/conventions.md).

``train``, ``reproduce``, the demo and the lessons all score codes with ``evaluate``, and
every row they write records ``CONVENTION`` and ``TIES`` (they are part of a reproduction's
run key), so two numbers of the package are always comparable.
"""
from __future__ import annotations

from . import retrieval

CONVENTION = "zero"  # queries with no relevant item in their top list count as AP 0
TIES = "index"  # ties in Hamming distance broken by database index


def evaluate(query_codes, database_codes, data, topk: int | None, *, continuous: bool = False) -> dict:
    """mAP (and, for binary codes, precision within Hamming radius 2) under our convention."""
    args = (query_codes, database_codes, data.y_query, data.y_database)
    if continuous:
        m = retrieval.mean_average_precision_real(*args, topk=topk, empty=CONVENTION, metric="inner")
        return {"map": float(m)}
    m = retrieval.mean_average_precision(*args, topk=topk, empty=CONVENTION, ties=TIES)
    p2 = retrieval.precision_within_radius(*args, r=2)
    return {"map": float(m), "precision_radius2": float(p2)}

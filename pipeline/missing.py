"""Missing numbers: pandas and numpy write a missing value as NaN, JSON has only null.

One rule for every table, report and JSON file: ``None`` and a float that is not finite (NaN, ±inf)
are missing; :func:`json_safe` turns them into ``None`` so that a file is strict JSON.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_missing", "json_safe"]


def is_missing(value: Any) -> bool:
    """``None`` or a non-finite float (NaN from pandas/numpy for a missing cell, ±inf)."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def json_safe(obj: Any) -> Any:
    """``obj`` with every missing float, in nested dicts, lists and tuples, as ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return None if is_missing(obj) else obj

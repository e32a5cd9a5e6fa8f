"""Missing numbers: pandas and numpy write a missing value as NaN, JSON has only null.

One rule for every table, report and JSON file: ``None`` and a float that is not finite (NaN, ±inf)
are missing; :func:`json_safe` turns them into ``None`` so that a file is strict JSON,
:func:`finite_metrics` keeps the numbers that are there (metrics for MLflow / a state file), and
:func:`finite_mean_median` summarises a column over the values that are there.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Mapping

__all__ = ["is_missing", "json_safe", "finite_metrics", "finite_mean_median"]


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


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are finite numbers (numpy scalars too), as floats; missing and non-numeric ones dropped."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real) and math.isfinite(v)}


def finite_mean_median(values: Iterable[Any]) -> tuple[float, float]:
    """Mean and median of the values that are not missing; (NaN, NaN) when none is."""
    import numpy as np

    a = np.asarray([v for v in values if v is not None], dtype=float)
    a = a[np.isfinite(a)]
    return (float(a.mean()), float(np.median(a))) if a.size else (math.nan, math.nan)

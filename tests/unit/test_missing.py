"""Missing numbers: None and non-finite floats; strict JSON from nested results."""

from __future__ import annotations

import json
import math

import numpy as np

from pipeline.missing import finite_mean_median, finite_metrics, is_missing, json_safe


def test_none_nan_and_inf_are_missing_numbers_and_strings_are_not():
    assert all(is_missing(v) for v in (None, math.nan, float("inf"), -math.inf, np.float64("nan")))
    assert not any(is_missing(v) for v in (0.0, 0, False, "nan", np.float64(1.5), [math.nan]))


def test_json_safe_replaces_missing_floats_at_any_depth_and_keeps_the_rest():
    data = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf, "d": "x"}], "e": (2, math.nan), "f": None, "g": True}
    out = json_safe(data)
    assert out == {"a": None, "b": [1.0, None, {"c": None, "d": "x"}], "e": [2, None], "f": None, "g": True}
    json.dumps(out, allow_nan=False)  # strict JSON: raises on any NaN/inf left
    assert math.isnan(data["a"])  # the input is not changed


def test_finite_mean_median_skips_missing_values_and_is_nan_when_none_is_left():
    assert finite_mean_median([1.0, None, math.nan, 3.0, math.inf, 8.0]) == (4.0, 3.0)
    assert finite_mean_median(np.array([2.0, np.nan])) == (2.0, 2.0)
    assert all(math.isnan(v) for v in finite_mean_median([None, math.nan]))


def test_finite_metrics_keeps_finite_numbers_as_floats():
    out = finite_metrics({"a": 1, "b": np.float32(0.5), "c": math.nan, "d": None, "e": "x", "f": -math.inf, "g": np.int64(3)})
    assert out == {"a": 1.0, "b": 0.5, "g": 3.0} and all(type(v) is float for v in out.values())

"""``bondiff benchmark``: samplers (bondiff, RDKit ETKDGv3, ETKDGv3+MMFF) side by side against reference ensembles."""

from __future__ import annotations

from typing import Any

from pipeline.benchmark.config import BenchmarkConfig

__all__ = ["BenchmarkConfig", "run_benchmark"]


def run_benchmark(*args: Any, **kwargs: Any):  # noqa: ANN201 - re-export with a lazy import
    """See :func:`pipeline.benchmark.runner.run_benchmark`."""
    from pipeline.benchmark.runner import run_benchmark as _run

    return _run(*args, **kwargs)

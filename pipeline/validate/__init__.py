"""Validation stage: per-conformer RDKit checks, ensemble coverage against references, report.

``run_validate`` is imported on first use so that ``import pipeline.validate`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from pipeline.validate.config import ValidateConfig

__all__ = ["ValidateConfig", "run_validate"]


def run_validate(*args: Any, **kwargs: Any):  # noqa: ANN201 - re-export with a lazy import
    """See :func:`pipeline.validate.stage.run_validate`."""
    from pipeline.validate.stage import run_validate as _run

    return _run(*args, **kwargs)

"""The prior stage: bond graph → ``Σ = RRᵀ`` (``graph``), batched factors (``PriorBatch``), calibration
of ``c``/``λ`` against a dataset (``calibrate``) and the tracked stage ``run_prior`` (``stage``).

Imports here are numpy/torch/pydantic only; RDKit and matplotlib are imported inside the functions
that need them.
"""

from __future__ import annotations

from typing import Any

from pipeline.prior.batch import PriorBatch
from pipeline.prior.graph import graph_laplacian, prior_factor
from pipeline.prior.params import PriorParams, load_prior_params

__all__ = ["PriorParams", "PriorBatch", "graph_laplacian", "prior_factor", "load_prior_params", "run_prior", "PriorConfig"]


def __getattr__(name: str) -> Any:  # lazy: the stage pulls in the dataset reader and hashing
    if name == "run_prior":
        from pipeline.prior.stage import run_prior

        return run_prior
    if name == "PriorConfig":
        from pipeline.prior.config import PriorConfig

        return PriorConfig
    raise AttributeError(f"module 'pipeline.prior' has no attribute {name!r}")

"""The prior stage: bond graph → ``Σ = RRᵀ`` (``graph``), batched factors (``PriorBatch``), calibration
of ``c``/``λ`` against a dataset (``calibrate``) and the tracked stage ``run_prior`` (``stage``).

Every name is imported lazily: ``pipeline.prior.batch`` and ``graph`` are numpy/torch only (the training
path on a GPU machine without pydantic imports them), ``params`` and the stage need pydantic; RDKit and
matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

from pipeline.lazy import lazy_exports

__all__ = ["PriorParams", "PriorBatch", "graph_laplacian", "prior_factor", "load_prior_params", "run_prior", "PriorConfig"]

_WHERE = {
    "PriorBatch": "pipeline.prior.batch",
    "graph_laplacian": "pipeline.prior.graph",
    "prior_factor": "pipeline.prior.graph",
    "PriorParams": "pipeline.prior.params",
    "load_prior_params": "pipeline.prior.params",
    "run_prior": "pipeline.prior.stage",  # pulls in the dataset reader and hashing
    "PriorConfig": "pipeline.prior.config",
}


__getattr__ = lazy_exports(__name__, _WHERE)

"""The equivariant x̂₀-denoiser: features, e3nn network, Σ-aware preconditioning, spec, save/load.

Imports are lazy (``pipeline.model.Denoiser`` loads torch/e3nn on first access) so that importing
``pipeline.model`` stays cheap.
"""

from __future__ import annotations

from pipeline.lazy import lazy_exports

__all__ = ["Denoiser", "EquivariantNet", "ModelSpec", "build_denoiser", "featurize", "save_model", "load_denoiser"]

_WHERE = {
    "Denoiser": "pipeline.model.precond",
    "build_denoiser": "pipeline.model.precond",
    "EquivariantNet": "pipeline.model.network",
    "ModelSpec": "pipeline.model.spec",
    "featurize": "pipeline.model.features",
    "save_model": "pipeline.model.io",
    "load_denoiser": "pipeline.model.io",
}


__getattr__ = lazy_exports(__name__, _WHERE)

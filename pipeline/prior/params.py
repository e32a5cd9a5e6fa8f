"""``PriorParams``: the numbers that define the prior for every molecule (JSON-able)."""

from __future__ import annotations

import json
from pathlib import Path

from typing import Any

import numpy as np
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from pipeline.config import StrictModel
from pipeline.prior.graph import LamMode, prior_factor

__all__ = ["PriorParams", "load_prior_params"]


class PriorParams(StrictModel):
    """``J = c (L + κ L² + λ M)`` with ``L`` bond-order-weighted when ``weighted``.

    ``c`` is in Å⁻² (``3/c`` is the mean squared length of a tree bond when ``κ = λ = 0``); ``kappa``
    (κ, bending: stiffens chains so the prior is as extended as real molecules) and ``lam`` (λ,
    keeps fragments together) are dimensionless. ``lam_mode`` picks ``M``: ``"identity"`` (``M = I``,
    λ on every mode) or ``"fragments"`` (λ on the fragment-centroid modes only; see ``graph.py``).
    ``prior.json`` (written by ``bondiff prior``) holds these under ``"params"``; a missing ``kappa``
    reads as 0 and a missing ``lam_mode`` as ``"identity"``. ``lam_mode="identity"`` is left out of
    the serialised form, so the spec and cache key of an identity-mode prior do not depend on
    whether the reader knows the field.
    """

    c: float = Field(2.0, gt=0, description="stiffness scale of J, Å^-2")
    lam: float = Field(0.1, ge=0, description="λ: diagonal shift keeping fragments together")
    weighted: bool = Field(False, description="bond-order-weighted Laplacian (default: unweighted)")
    kappa: float = Field(0.0, ge=0, description="κ: bending stiffness (coefficient of L²)")
    lam_mode: LamMode = Field("identity", description="what λ multiplies: I (identity) or the fragment-centroid modes only (fragments)")

    @model_serializer(mode="wrap")
    def _omit_identity_mode(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and self.lam_mode == "identity":
            data.pop("lam_mode", None)
        return data

    def factor(self, n_atoms: int, bonds: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(R [N, N], d [N])`` of one molecule under these parameters (see ``graph.prior_factor``)."""
        return prior_factor(n_atoms, bonds, self.c, self.lam, self.weighted, self.kappa, self.lam_mode)


def load_prior_params(path: str | Path) -> PriorParams:
    """Read ``PriorParams`` from a prior directory (its ``prior.json``) or from a ``prior.json`` file."""
    p = Path(path)
    if p.is_dir():
        p = p / "prior.json"
    if not p.is_file():
        raise FileNotFoundError(f"no prior.json at {p} (run `bondiff prior --dataset DIR` first)")
    data = json.loads(p.read_text())
    return PriorParams.model_validate(data["params"] if "params" in data else data)

"""``PriorParams``: the three numbers that define the prior for every molecule (JSON-able)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from pipeline.config import StrictModel

__all__ = ["PriorParams", "load_prior_params"]


class PriorParams(StrictModel):
    """``J = c (L + λ I)`` with ``L`` bond-order-weighted when ``weighted``.

    ``c`` is in Å⁻² (``3/c`` is the mean squared length of a tree bond when ``λ = 0``); ``lam``
    (λ) is dimensionless. ``prior.json`` (written by ``bondiff prior``) holds these under ``"params"``.
    """

    c: float = Field(2.0, gt=0, description="stiffness scale of J, Å^-2")
    lam: float = Field(0.1, ge=0, description="λ: diagonal shift keeping fragments together")
    weighted: bool = Field(False, description="bond-order-weighted Laplacian (default: unweighted)")


def load_prior_params(path: str | Path) -> PriorParams:
    """Read ``PriorParams`` from a prior directory (its ``prior.json``) or from a ``prior.json`` file."""
    p = Path(path)
    if p.is_dir():
        p = p / "prior.json"
    if not p.is_file():
        raise FileNotFoundError(f"no prior.json at {p} (run `bondiff prior --dataset DIR` first)")
    data = json.loads(p.read_text())
    return PriorParams.model_validate(data["params"] if "params" in data else data)

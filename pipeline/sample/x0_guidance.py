"""The shape every guidance of the sampler shares: a wrapper around any denoiser that corrects its x̂₀.

The samplers (:mod:`pipeline.diffusion`) only ever see ``denoiser(x, t, batch) -> x̂₀``, so a guidance
that edits x̂₀ guides every solver the same way (EDM's preconditioning is the same idea: a wrapper
around any backbone). A guidance says *when* it acts (:meth:`X0Guidance.acts_at`, from the diffusion
time) and *what* it adds (:meth:`X0Guidance.correction`, a float64 displacement of the detached x̂₀);
the wrapper does the rest, and counts the evaluations it acted on.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["X0Guidance", "batch_index", "batch_values", "dihedral"]


class X0Guidance:
    """Wraps a denoiser: ``x̂₀ + correction(x̂₀)`` at the times :meth:`acts_at` allows, x̂₀ elsewhere.

    Attributes the wrapper does not have (``parameters()``, ``eval()``, ``to()``) are the wrapped model's,
    so guidances stack (steric, then stereo on top) and the sampler treats them as the network.
    """

    def __init__(self, denoiser: Callable[..., Any]):
        self.denoiser = denoiser
        self.evaluations = 0  # evaluations the correction was computed at

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["denoiser"], name)

    def acts_at(self, t: float) -> bool:
        """Whether to correct x̂₀ at diffusion time ``t`` (the batch's largest)."""
        raise NotImplementedError

    def correction(self, pos: Any, t: float) -> Any:
        """The displacement to add to x̂₀ at time ``t`` (``pos``: x̂₀ detached, float64, shape [atoms, 3])."""
        raise NotImplementedError

    def __call__(self, x: Any, t: Any, batch: Any) -> Any:
        import torch

        x0 = self.denoiser(x, t, batch)
        tt = float(torch.as_tensor(t).max())
        if not self.acts_at(tt):
            return x0
        self.evaluations += 1
        return x0 + self.correction(x0.detach().to(torch.float64), tt).to(x0.dtype)


def batch_index(per_molecule: Sequence[np.ndarray], offsets: Sequence[int], width: int) -> Any:
    """Per-molecule atom-index arrays ``[k, width]`` shifted to the batch's atom numbering, stacked (long)."""
    import torch

    parts = [np.asarray(a).reshape(-1, width) + off for a, off in zip(per_molecule, offsets)]
    stacked = np.concatenate(parts) if parts else np.zeros((0, width))
    return torch.as_tensor(stacked, dtype=torch.long).reshape(-1, width)


def batch_values(per_molecule: Sequence[np.ndarray]) -> Any:
    """Per-molecule value arrays concatenated (float64)."""
    import torch

    parts = [np.asarray(a, dtype=np.float64).reshape(-1) for a in per_molecule]
    return torch.as_tensor(np.concatenate(parts) if parts else np.zeros(0), dtype=torch.float64)


def dihedral(p: Any) -> Any:
    """Signed dihedral ψ (radians, in [−π, π], the IUPAC sign: RDKit's ``GetDihedralRad``) of [P, 4, 3] point
    quadruples (a, j, k, b): the angle about the axis j→k from the projection of a to that of b."""
    import torch

    b0, b1, b2 = p[:, 0] - p[:, 1], p[:, 2] - p[:, 1], p[:, 3] - p[:, 2]
    axis = b1 / b1.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    v = b0 - (b0 * axis).sum(-1, keepdim=True) * axis
    w = b2 - (b2 * axis).sum(-1, keepdim=True) * axis
    return torch.atan2((torch.cross(v, w, dim=-1) * axis).sum(-1), (v * w).sum(-1))

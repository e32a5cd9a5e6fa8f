"""Helpers for the sampling tests.

* :func:`tiny_model` — a randomly initialised *real* ``Denoiser`` of the ``tiny`` preset.
* :class:`ReferenceDenoiser` — returns fixed reference coordinates (optionally mirrored) as x̂₀,
  so the PF-ODE lands on known geometry: deterministic stereo/mirror tests without training.
* :class:`PoisonFirstRun` — wraps a denoiser and returns NaN for molecules of a given size during
  the first ``runs`` sampling runs (a run starts when ``t`` is at its largest value).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["tiny_model", "ReferenceDenoiser", "PoisonFirstRun", "etkdg_coords"]


def tiny_model(seed: int = 0, max_atoms: int = 64):
    """``(denoiser, spec)``: a freshly initialised tiny denoiser (eval mode, float32)."""
    import torch

    from pipeline.model import ModelSpec, build_denoiser

    torch.manual_seed(seed)
    spec = ModelSpec(max_atoms=max_atoms)
    return build_denoiser(spec).eval(), spec


def etkdg_coords(mol, seed: int = 0) -> np.ndarray:
    """Centred ETKDGv3 coordinates [N, 3] of ``mol`` (hydrogens explicit)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    m = Chem.Mol(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(m, params) != 0:
        raise ValueError("ETKDG failed")
    x = m.GetConformer().GetPositions()
    return x - x.mean(axis=0)


class ReferenceDenoiser:
    """x̂₀ = the reference conformer of the molecule with the same atom count (mirrored if asked)."""

    def __init__(self, refs: Sequence[np.ndarray], mirror: bool = False):
        self.by_size = {int(r.shape[0]): np.asarray(r, dtype=np.float64) for r in refs}
        self.sign = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])

    def __call__(self, x, t, batch):
        import torch

        sizes = torch.bincount(batch.batch, minlength=int(batch.num_graphs)).tolist()
        out = [torch.as_tensor(self.by_size[n] * self.sign, dtype=x.dtype, device=x.device) for n in sizes]
        return torch.cat(out)


class PoisonFirstRun:
    """NaN for molecules with ``n_atoms`` atoms during the first ``runs`` sampling runs.

    A run is counted at each call with ``t`` at its start value (the first ``t`` ever seen): every
    sampler calls the denoiser exactly once there per run.
    """

    def __init__(self, inner: Any, n_atoms: int, runs: int = 1):
        self.inner, self.n_atoms, self.runs = inner, int(n_atoms), runs
        self.t_start: float | None = None
        self.seen_runs = 0

    def __call__(self, x, t, batch):
        import torch

        t0 = float(torch.as_tensor(t).max())
        if self.t_start is None:
            self.t_start = t0
        if abs(t0 - self.t_start) < 1e-12:
            self.seen_runs += 1
        out = self.inner(x, t, batch)
        if self.seen_runs <= self.runs:
            sizes = torch.bincount(batch.batch, minlength=int(batch.num_graphs))
            bad = (sizes == self.n_atoms)[batch.batch]
            out = torch.where(bad[:, None], torch.full_like(out, float("nan")), out)
        return out



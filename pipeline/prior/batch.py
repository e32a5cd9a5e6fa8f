"""``PriorBatch``: the prior factors ``R`` of a batch of molecules as torch tensors.

Atoms use the PyG flat layout: molecule ``m`` owns atoms ``ptr[m]:ptr[m+1]`` of every ``[A, 3]``
tensor, and ``batch[a]`` is the molecule index of atom ``a``. The factors are zero-padded to
``R [M, Nmax, Nmax]`` with ``mask [M, Nmax]``; ``apply_R`` scatters ``[A, 3]`` into the padded
layout, does one ``bmm`` and gathers back. Works on CPU and CUDA, float32 and float64 (factors
are computed in float64 numpy and cast once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

if TYPE_CHECKING:  # pydantic: not on the training path of a GPU machine
    from pipeline.prior.params import PriorParams

__all__ = ["PriorBatch", "randn_like_atoms"]


def randn_like_atoms(
    n: int, dtype: torch.dtype, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``z ~ N(0, I)`` of shape [n, 3]; drawn on the generator's device, then moved (CPU generator + CUDA data work)."""
    if generator is None:
        return torch.randn(n, 3, dtype=dtype, device=device)
    z = torch.randn(n, 3, dtype=dtype, device=generator.device, generator=generator)
    return z.to(device)


@dataclass(frozen=True, eq=False)
class PriorBatch:
    """Padded per-molecule prior factors (``R_m R_mᵀ = Σ_m``) for a batch of molecules.

    Attributes: ``n_atoms`` [M] long, ``batch`` [A] long, ``local`` [A] long (index of the atom
    inside its molecule), ``ptr`` [M+1] long, ``R`` [M, Nmax, Nmax] (zero-padded), ``mask`` [M, Nmax]
    bool, ``eigvals`` [M, Nmax] (eigenvalues ``d`` of ``J``, padded with 0).
    """

    n_atoms: torch.Tensor
    batch: torch.Tensor
    local: torch.Tensor
    ptr: torch.Tensor
    R: torch.Tensor
    mask: torch.Tensor
    eigvals: torch.Tensor

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_graphs(
        cls,
        n_atoms: Sequence[int],
        bonds: Sequence[np.ndarray | None],
        params: PriorParams,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> "PriorBatch":
        """Build the factors of molecules given as (atom count, bonds [B,2|3]) pairs."""
        if len(n_atoms) != len(bonds):
            raise ValueError(f"{len(n_atoms)} atom counts but {len(bonds)} bond arrays")
        cache: dict[tuple[int, tuple[int, ...], bytes], tuple[np.ndarray, np.ndarray]] = {}  # copies of a molecule: one eigh
        factors = []
        for n, b in zip(n_atoms, bonds):
            arr = np.zeros((0, 3), dtype=np.int64) if b is None else np.ascontiguousarray(b, dtype=np.int64)
            key = (int(n), arr.shape, arr.tobytes())
            if key not in cache:
                cache[key] = params.factor(int(n), arr)
            factors.append(cache[key])
        return cls.from_factors([f[0] for f in factors], [f[1] for f in factors], dtype=dtype, device=device)

    @classmethod
    def from_factors(
        cls,
        factors: Sequence[np.ndarray],
        eigvals: Sequence[np.ndarray] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> "PriorBatch":
        """Build from precomputed per-molecule factors ``R_m`` [N_m, N_m] (e.g. stored by the prior stage)."""
        if len(factors) == 0:
            raise ValueError("PriorBatch needs at least one molecule")
        sizes = [int(np.asarray(r).shape[0]) for r in factors]
        m, nmax = len(sizes), max(sizes)
        r_pad = np.zeros((m, nmax, nmax), dtype=np.float64)
        d_pad = np.zeros((m, nmax), dtype=np.float64)
        mask = np.zeros((m, nmax), dtype=bool)
        for k, (r, n) in enumerate(zip(factors, sizes)):
            r_pad[k, :n, :n] = r
            mask[k, :n] = True
            if eigvals is not None:
                d_pad[k, :n] = eigvals[k]
        n_t = torch.tensor(sizes, dtype=torch.long)
        ptr = torch.zeros(m + 1, dtype=torch.long)
        ptr[1:] = torch.cumsum(n_t, 0)
        batch = torch.repeat_interleave(torch.arange(m), n_t)
        local = torch.arange(int(ptr[-1])) - ptr[batch]
        out = cls(
            n_atoms=n_t,
            batch=batch,
            local=local,
            ptr=ptr,
            R=torch.from_numpy(r_pad),
            mask=torch.from_numpy(mask),
            eigvals=torch.from_numpy(d_pad),
        )
        return out.to(device=device, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"PriorBatch(molecules={self.num_molecules}, atoms={self.num_atoms}, nmax={self.R.shape[1]}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_molecules(self) -> int:
        return int(self.n_atoms.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.batch.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.R.dtype

    @property
    def device(self) -> torch.device:
        return self.R.device

    # -- operations ----------------------------------------------------------------------------
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """[A, 3] → [M, Nmax, 3] (zeros in padding)."""
        out = x.new_zeros(self.num_molecules, self.R.shape[1], x.shape[-1])
        out[self.batch, self.local] = x
        return out

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """[M, Nmax, 3] → [A, 3]."""
        return x[self.batch, self.local]

    def apply_R(self, z: torch.Tensor) -> torch.Tensor:
        """``R z`` per molecule: [A, 3] → [A, 3] (centred per molecule)."""
        self._check_atoms(z)
        return self.unpad(torch.bmm(self.R, self.pad(z)))

    def apply_Rt(self, x: torch.Tensor) -> torch.Tensor:
        """``Rᵀ x`` per molecule: [A, 3] → [A, 3]."""
        self._check_atoms(x)
        return self.unpad(torch.bmm(self.R.transpose(1, 2), self.pad(x)))

    def apply_sigma(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ x = R Rᵀ x`` per molecule."""
        return self.apply_R(self.apply_Rt(x))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One prior draw ``R z``, ``z ~ N(0, I)``: [A, 3], centred, covariance Σ on each axis."""
        return self.apply_R(randn_like_atoms(self.num_atoms, self.dtype, self.device, generator))

    def center(self, x: torch.Tensor) -> torch.Tensor:
        """Subtract each molecule's centroid: [A, 3] → [A, 3]."""
        self._check_atoms(x)
        sums = x.new_zeros(self.num_molecules, x.shape[-1]).index_add_(0, self.batch, x)
        means = sums / self.n_atoms.to(x.dtype).unsqueeze(-1)
        return x - means[self.batch]

    def per_atom(self, values: torch.Tensor) -> torch.Tensor:
        """Broadcast a per-molecule [M] (or scalar) tensor to [A, 1] for ``[A, 3]`` arithmetic."""
        if values.dim() == 0:
            return values.reshape(1, 1)
        return values[self.batch].unsqueeze(-1)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "PriorBatch":
        """Copy to ``device`` and/or float ``dtype`` (index tensors keep long/bool)."""

        def f(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device=device)

        return PriorBatch(
            n_atoms=self.n_atoms.to(device),
            batch=self.batch.to(device),
            local=self.local.to(device),
            ptr=self.ptr.to(device),
            R=f(self.R),
            mask=self.mask.to(device),
            eigvals=f(self.eigvals),
        )

    def _check_atoms(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[0] != self.num_atoms:
            raise ValueError(f"expected [{self.num_atoms}, 3] atom tensor, got {tuple(x.shape)}")

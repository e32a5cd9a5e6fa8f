"""Dense per-molecule layout of a torch-geometric batch: atoms ``[A, ...]`` <-> ``[M, Nmax, ...]``.

A batch of molecules of different sizes is padded to the largest one; ``mask`` marks real atoms and
``pair_mask`` real ordered pairs ``(i, j)``, ``i != j``. The featurizer stores pair features per
molecule as flattened ``N*N`` arrays concatenated molecule after molecule
(:mod:`pipeline.model.features`); :meth:`DenseLayout.pairs` scatters them into ``[M, Nmax, Nmax]``.
Plain torch ops only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DenseLayout"]


@dataclass
class DenseLayout:
    num_molecules: int
    nmax: int
    batch: torch.Tensor  # [A] molecule of each atom
    local: torch.Tensor  # [A] index of the atom inside its molecule
    counts: torch.Tensor  # [M] atoms per molecule
    mask: torch.Tensor  # [M, Nmax] bool, real atoms
    pair_mask: torch.Tensor  # [M, Nmax, Nmax] bool, real pairs i != j
    _pair_index: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def from_batch(cls, batch: torch.Tensor, num_molecules: int) -> "DenseLayout":
        counts = torch.bincount(batch, minlength=num_molecules)
        ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        local = torch.arange(batch.shape[0], device=batch.device) - ptr[batch]
        nmax = int(counts.max()) if num_molecules else 0
        mask = torch.arange(nmax, device=batch.device)[None, :] < counts[:, None]
        eye = torch.eye(nmax, dtype=torch.bool, device=batch.device)
        pair_mask = mask[:, :, None] & mask[:, None, :] & ~eye
        return cls(num_molecules, nmax, batch, local, counts, mask, pair_mask)

    def to_dense(self, x: torch.Tensor) -> torch.Tensor:
        """``[A, ...]`` -> ``[M, Nmax, ...]`` (padding is 0)."""
        out = x.new_zeros((self.num_molecules, self.nmax) + tuple(x.shape[1:]))
        out[self.batch, self.local] = x
        return out

    def to_atoms(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, Nmax, ...]`` -> ``[A, ...]``."""
        return x[self.batch, self.local]

    def pairs(self, flat: torch.Tensor) -> torch.Tensor:
        """Concatenated per-molecule ``N*N`` arrays -> ``[M, Nmax, Nmax]`` (padding is 0)."""
        if self._pair_index is None:
            n = self.counts
            nn = n * n
            pair_ptr = torch.cat([nn.new_zeros(1), torch.cumsum(nn, 0)])
            mol = torch.repeat_interleave(torch.arange(self.num_molecules, device=n.device), nn)
            k = torch.arange(int(pair_ptr[-1]), device=n.device) - pair_ptr[mol]
            self._pair_index = (mol, k // n[mol], k % n[mol])
        mol, a, b = self._pair_index
        if flat.shape[0] != mol.shape[0]:
            raise ValueError(f"pair array has {flat.shape[0]} entries, the batch needs {mol.shape[0]} (sum of N^2)")
        out = flat.new_zeros((self.num_molecules, self.nmax, self.nmax) + tuple(flat.shape[1:]))
        out[mol, a, b] = flat
        return out

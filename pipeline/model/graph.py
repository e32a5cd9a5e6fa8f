"""Edges within each molecule of a batch, with plain torch ops (no torch-cluster).

Molecules up to ``fc_max_atoms`` atoms are fully connected; larger ones keep the pairs closer than
``cutoff`` (in the current, noisy geometry) plus every bonded pair. Each edge also carries its
index into the per-molecule flattened ``N*N`` pair-feature arrays built by
:func:`pipeline.model.features.featurize` (PyG concatenates those arrays molecule after molecule,
so the offset of molecule m is ``sum_{m'<m} N_m'^2``).
"""

from __future__ import annotations

import torch

__all__ = ["molecule_ptr", "build_edges"]


def molecule_ptr(batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """[M+1] atom offsets from a PyG ``batch`` vector (atoms of a molecule are contiguous)."""
    counts = torch.bincount(batch, minlength=num_graphs)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def build_edges(
    pos: torch.Tensor,
    ptr: torch.Tensor,
    pair_bond: torch.Tensor,
    fc_max_atoms: int,
    cutoff: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(src, dst, pair_index)``; messages flow src -> dst; no self-loops."""
    n = ptr[1:] - ptr[:-1]
    nn = n * n
    pair_ptr = torch.cat([nn.new_zeros(1), torch.cumsum(nn, 0)])
    mol = torch.repeat_interleave(torch.arange(n.shape[0], device=pos.device), nn)
    k = torch.arange(int(pair_ptr[-1]), device=pos.device) - pair_ptr[mol]
    nm = n[mol]
    a, b = k // nm, k % nm
    dst, src = ptr[mol] + a, ptr[mol] + b
    keep = a != b
    big = nm > fc_max_atoms
    if bool(big.any()):
        d2 = (pos[dst] - pos[src]).pow(2).sum(-1)
        near = (d2 < cutoff * cutoff) | (pair_bond > 0)
        keep = keep & (~big | near)
    return src[keep], dst[keep], k[keep] + pair_ptr[mol][keep]

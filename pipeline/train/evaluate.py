"""Periodic evaluation during training: validation loss and quick sample validity.

* ``val_loss``: the training loss on validation molecules with a *fixed* noise seed (comparable
  between evaluations; never touches the training RNG).
* ``sample_valid_frac``: sample one conformer per molecule with :func:`pipeline.diffusion.sample`
  and count the molecules whose every bonded distance is within ``bond_tolerance`` Å of the
  reference conformer's; ``sample_bond_mae`` is the mean absolute bond-length error (Å).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from pipeline.train.data import MoleculeRecord, collate
from pipeline.train.loss import x0_loss

__all__ = ["validation_loss", "sample_validity", "bond_errors", "evenly_spaced", "pick_validation"]

EVAL_SEED = 12345


def evenly_spaced(items: Sequence, n: int) -> list:
    """``n`` of ``items`` evenly spaced over the whole sequence, first and last included, in order (all of
    them when there are no more than ``n``). A packed training set lists its parts in order, so the first
    ``n`` molecules of a split would all come from its first part."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if len(items) <= n:
        return list(items)
    last = len(items) - 1
    return [items[i] for i in sorted({round(k * last / max(n - 1, 1)) for k in range(n)})]


def pick_validation(records: Sequence, n: int, how: str) -> list:
    """The validation molecules a run evaluates: its first ``n`` (``how="first"``, campaigns started before
    ``eval.val_pick`` existed) or ``n`` evenly spaced over the split (``"spaced"``)."""
    if how == "first":
        return list(records[:n])
    if how == "spaced":
        return evenly_spaced(records, n)
    raise ValueError(f"val_pick must be 'first' or 'spaced', got {how!r}")


@torch.no_grad()
def validation_loss(model, records: Sequence[MoleculeRecord], loss_cfg, atom_budget: int, device) -> float:
    gen = torch.Generator().manual_seed(EVAL_SEED)
    total, count = 0.0, 0
    items = [(i, 0) for i in range(len(records))]
    start = 0
    while start < len(items):
        chunk, atoms = [], 0
        while start < len(items) and (not chunk or atoms + records[items[start][0]].n_atoms <= atom_budget):
            chunk.append(items[start])
            atoms += records[items[start][0]].n_atoms
            start += 1
        batch = collate(records, chunk).to(device)
        _, per_mol, _ = x0_loss(model, batch, loss_cfg, gen)
        total += float(per_mol.sum())
        count += len(chunk)
    return total / max(count, 1)


def bond_errors(x: torch.Tensor, ref: torch.Tensor, bonds_per_mol: Sequence, ptr: torch.Tensor) -> list[torch.Tensor]:
    """Per molecule: |d_gen − d_ref| for every bond (Å)."""
    out = []
    for m, b in enumerate(bonds_per_mol):
        b = torch.as_tensor(np.array(b[:, :2]), dtype=torch.long, device=x.device) + ptr[m]
        if b.numel() == 0:
            out.append(x.new_zeros(0))
            continue
        d = (x[b[:, 0]] - x[b[:, 1]]).norm(dim=-1)
        d_ref = (ref[b[:, 0]] - ref[b[:, 1]]).norm(dim=-1)
        out.append((d - d_ref).abs())
    return out


@torch.no_grad()
def sample_validity(model, records: Sequence[MoleculeRecord], sampler_cfg, tolerance: float, device) -> dict[str, float]:
    from pipeline.diffusion import sample

    if not records:
        return {}
    batch = collate(records, [(i, 0) for i in range(len(records))]).to(device)
    core = getattr(model, "module", model)
    gen = torch.Generator().manual_seed(EVAL_SEED)
    x = sample(
        core,
        batch.prior,
        core.schedule,
        method=sampler_cfg.method,
        steps=sampler_cfg.steps,
        generator=gen,
        batch=batch.graph,
        grid=sampler_cfg.grid,
        final_denoise=sampler_cfg.final_denoise,
        corrector_passes=sampler_cfg.corrector_passes,
        corrector_noise=sampler_cfg.corrector_noise,
        corrector_noise_min=sampler_cfg.corrector_noise_min,
    )
    errs = bond_errors(x, batch.x0, [r.bonds for r in records], batch.prior.ptr)
    ok = [bool((e <= tolerance).all()) for e in errs]
    flat = torch.cat(errs) if errs else x.new_zeros(0)
    return {
        "sample_valid_frac": sum(ok) / len(ok),
        "sample_bond_mae": float(flat.mean()) if flat.numel() else 0.0,
    }


def aligned_rmsd(x: torch.Tensor, ref: torch.Tensor) -> float:
    """RMSD after optimal rotation (Kabsch, proper rotations only: no reflection) of centred copies."""
    a = (x - x.mean(0)).double()
    b = (ref - ref.mean(0)).double()
    h = a.T @ b
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.det(vt.T @ u.T))
    corr = torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=a.dtype))
    rot = vt.T @ corr @ u.T
    return float(((a @ rot.T - b).pow(2).sum(-1).mean()).sqrt())

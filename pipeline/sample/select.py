"""Which conformers of a molecule are written when ``prune_rms`` or ``energy_window`` is set.

Like RDKit's ``EmbedMultipleConfs(pruneRmsThresh=...)``: the sampler draws ``oversample`` × the
requested count, then, in order of energy (lowest first; draw order without energies):

* ``energy_window`` (kcal/mol): drop conformers more than this above the lowest (needs the
  force-field energies of ``refine``);
* ``prune_rms`` (Å): keep a conformer only if its heavy-atom RMSD to every conformer kept so far is
  at least this (symmetry-aware, after optimal superposition: ``rdMolAlign.GetBestRMS``);

and keeps the first ``count``. Fewer come out when the molecule has fewer distinct low-energy
conformers than asked for.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pipeline.sample.finish import Conformer

__all__ = ["select_conformers", "heavy_rms"]


def heavy_rms(mol: Any, a: np.ndarray, b: np.ndarray) -> float:
    """Symmetry-aware heavy-atom RMSD (Å) of two conformers [N, 3] of ``mol`` after optimal superposition."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    from pipeline.chem import set_conformers

    probe, ref = Chem.Mol(mol), Chem.Mol(mol)
    set_conformers(probe, a)
    set_conformers(ref, b)
    probe, ref = Chem.RemoveHs(probe, sanitize=False), Chem.RemoveHs(ref, sanitize=False)  # coordinates come along
    return float(rdMolAlign.GetBestRMS(probe, ref))


def select_conformers(
    mol: Any, confs: Sequence[Conformer], count: int, prune_rms: float | None = None, energy_window: float | None = None
) -> list[Conformer]:
    """Up to ``count`` of ``confs`` (see the module docstring), lowest energy first when energies are known."""
    energies = [c.energy for c in confs]
    known = all(e is not None and np.isfinite(e) for e in energies)
    order = sorted(range(len(confs)), key=lambda i: energies[i]) if known and confs else list(range(len(confs)))
    if energy_window is not None and known and confs:
        e_min = min(energies)
        order = [i for i in order if energies[i] - e_min <= energy_window]
    kept: list[Conformer] = []
    for i in order:
        if len(kept) == count:
            break
        c = confs[i]
        if prune_rms is not None and any(heavy_rms(mol, c.coords, k.coords) < prune_rms for k in kept):
            continue
        kept.append(c)
    return kept

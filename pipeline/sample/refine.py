"""Force-field refinement of generated conformers (``refine: mmff``), shared with the benchmark's
``etkdg-mmff`` baseline so both sides of a comparison relax geometries the same way.

MMFF94 when RDKit has parameters for every atom, else UFF. Diffusion samples get the torsional
arrangement and the overall shape from the model; a short relaxation fixes the local bond lengths
and angles (the same division of labour as ETKDG + MMFF). The force field does not know the
intended stereo and can invert a strained centre: the sampler checks the stereo again on the
relaxed coordinates (:mod:`pipeline.sample.finish`).

* :class:`Relaxer` — one molecule, one conformer at a time (the sampler: relax, then re-check);
  returns the relaxed coordinates, the energy (kcal/mol) and whether the minimiser converged.
* :func:`force_field_optimize` — every conformer of a ``Mol`` in place (the ETKDG + MMFF baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

from pipeline.chem import minimize

__all__ = ["RefineMethod", "RefineResult", "Relaxed", "Relaxer", "force_field_optimize", "force_field_name"]

RefineMethod = Literal["none", "mmff"]


@dataclass(frozen=True)
class RefineResult:
    force_field: str  # "MMFF94", "UFF" or "none"
    conformers: int
    not_converged: int


@dataclass(frozen=True)
class Relaxed:
    coords: np.ndarray  # [N, 3]
    force_field: str  # "MMFF94" | "UFF" | "none" (no parameters: coordinates unchanged)
    energy: float  # kcal/mol (nan without a force field)
    converged: bool


def force_field_name(mol: Any) -> str:
    """The force field used for ``mol``: MMFF94 if it has parameters for every atom, else UFF, else none."""
    from rdkit.Chem import rdForceFieldHelpers as ffh

    if ffh.MMFFHasAllMoleculeParams(mol):
        return "MMFF94"
    if ffh.UFFHasAllMoleculeParams(mol):
        return "UFF"
    return "none"


class Relaxer:
    """Relaxes conformers of one molecule (hydrogens explicit) one at a time."""

    def __init__(self, mol: Any, max_iters: int):
        from rdkit import Chem
        from rdkit.Chem import rdForceFieldHelpers as ffh

        self.max_iters = int(max_iters)
        self.mol = Chem.Mol(mol)
        self.mol.RemoveAllConformers()
        self.mol.AddConformer(Chem.Conformer(self.mol.GetNumAtoms()), assignId=True)
        self.force_field = force_field_name(self.mol)
        self._props = ffh.MMFFGetMoleculeProperties(self.mol) if self.force_field == "MMFF94" else None

    def _field(self):
        from rdkit.Chem import rdForceFieldHelpers as ffh

        if self.force_field == "MMFF94":
            return ffh.MMFFGetMoleculeForceField(self.mol, self._props)
        return ffh.UFFGetMoleculeForceField(self.mol)

    def _set(self, coords: np.ndarray) -> None:
        from rdkit.Geometry import Point3D

        conf = self.mol.GetConformer()
        for i, (x, y, z) in enumerate(np.asarray(coords, dtype=np.float64)):
            conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))

    def relax(self, coords: np.ndarray, hold: Sequence[int] = (), hold_tolerance: float = 0.3, hold_k: float = 100.0) -> Relaxed:
        """Minimise from ``coords`` [N, 3] for at most ``max_iters`` iterations.

        ``hold``: atoms first kept within ``hold_tolerance`` Å of their start (flat-bottom restraint,
        ``hold_k`` kcal/mol/Å²) while the rest relaxes, then everything is minimised freely — a strained
        stereocentre settles on its own side before the free minimisation instead of passing through.
        """
        if self.force_field == "none":
            return Relaxed(np.array(coords, dtype=np.float64), "none", float("nan"), False)
        self._set(coords)
        if len(hold):
            ff = self._field()
            add = ff.MMFFAddPositionConstraint if self.force_field == "MMFF94" else ff.UFFAddPositionConstraint
            for i in hold:
                add(int(i), float(hold_tolerance), float(hold_k))
            ff.Initialize()
            minimize(ff, self.max_iters)
            self._set(np.asarray(ff.Positions(), dtype=np.float64).reshape(-1, 3))
        ff = self._field()
        ff.Initialize()
        code = minimize(ff, self.max_iters)
        out = np.asarray(ff.Positions(), dtype=np.float64).reshape(-1, 3)
        return Relaxed(out, self.force_field, float(ff.CalcEnergy()), code == 0)


def force_field_optimize(mol: Any, max_iters: int, threads: int = 1) -> RefineResult:
    """Optimise every conformer of ``mol`` in place (MMFF94, else UFF); counts what did not converge."""
    from rdkit.Chem import rdForceFieldHelpers as ffh

    n = mol.GetNumConformers()
    if n == 0:
        return RefineResult("none", 0, 0)
    ff = force_field_name(mol)
    if ff == "MMFF94":
        res = ffh.MMFFOptimizeMoleculeConfs(mol, numThreads=threads, maxIters=int(max_iters))
    elif ff == "UFF":
        res = ffh.UFFOptimizeMoleculeConfs(mol, numThreads=threads, maxIters=int(max_iters))
    else:
        return RefineResult("none", n, n)
    return RefineResult(ff, n, sum(1 for flag, _ in res if flag != 0))

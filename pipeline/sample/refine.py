"""Force-field refinement of generated conformers (``refine: mmff``), shared with the benchmark's
``etkdg-mmff`` baseline so both sides of a comparison relax geometries the same way.

MMFF94 when RDKit has parameters for every atom, else UFF; every conformer of the ``Mol`` is
optimised in place for at most ``max_iters`` iterations. Diffusion samples get the torsional
arrangement and the overall shape from the model; a short relaxation fixes the local bond lengths
and angles (the same division of labour as ETKDG + MMFF, or torsional diffusion's use of RDKit's
local structure). Stereo is not enforced by the force field: the validate stage checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["RefineMethod", "RefineResult", "force_field_optimize"]

RefineMethod = Literal["none", "mmff"]


@dataclass(frozen=True)
class RefineResult:
    force_field: str  # "MMFF94", "UFF" or "none"
    conformers: int
    not_converged: int


def force_field_optimize(mol: Any, max_iters: int, threads: int = 1) -> RefineResult:
    """Optimise every conformer of ``mol`` in place (MMFF94, else UFF); counts what did not converge."""
    from rdkit.Chem import rdForceFieldHelpers as ffh

    n = mol.GetNumConformers()
    if n == 0:
        return RefineResult("none", 0, 0)
    if ffh.MMFFHasAllMoleculeParams(mol):
        res, ff = ffh.MMFFOptimizeMoleculeConfs(mol, numThreads=threads, maxIters=int(max_iters)), "MMFF94"
    elif ffh.UFFHasAllMoleculeParams(mol):
        res, ff = ffh.UFFOptimizeMoleculeConfs(mol, numThreads=threads, maxIters=int(max_iters)), "UFF"
    else:
        return RefineResult("none", n, n)
    return RefineResult(ff, n, sum(1 for flag, _ in res if flag != 0))

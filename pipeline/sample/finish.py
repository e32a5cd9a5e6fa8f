"""What happens to one sample between the sampler and the SDF: mirror guard, force-field relaxation,
and the stereo check of the coordinates that will be written.

Stereo is perceived once on the raw sample (it feeds the mirror guard, whose reflection's check
follows without a second perception) and once more after the relaxation, which can invert a
strained centre (then the relaxation is run again from the sample, the centres and their
neighbours held near their start first, :meth:`~pipeline.sample.refine.Relaxer.relax`): :attr:`Conformer.stereo_ok` is judged on the final coordinates, and the caller
redraws a wrong one (:mod:`pipeline.sample.draw`) or writes it flagged (``stereo_ok = false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.sample.refine import Relaxer
from pipeline.sample.stereo import StereoCheck, StereoTarget, check_stereo, mirror_fix

__all__ = ["Conformer", "Finisher"]


@dataclass(frozen=True)
class Conformer:
    """A finished sample: final coordinates and what was done to them."""

    coords: np.ndarray  # [N, 3], as written
    attempt: int  # 0 = first draw
    raw: StereoCheck  # stereo of the sampler's output
    final: StereoCheck  # stereo of ``coords``
    mirrored: bool
    refined: str = "none"  # force field used, or "none"
    energy: float | None = None  # kcal/mol after relaxation
    converged: bool | None = None

    @property
    def stereo_ok(self) -> bool:
        return self.final.right

    def props(self) -> dict[str, Any]:
        """Per-conformer SDF properties (``None`` = not written)."""
        return {
            "attempt": self.attempt,
            "mirror_fixed": self.mirrored,
            "refined": self.refined,
            "energy_kcal_mol": None if self.energy is None else round(self.energy, 4),
            "refine_converged": self.converged,
            "stereo_ok": self.stereo_ok,
        }


class Finisher:
    """Turns raw samples of one molecule into :class:`Conformer` s."""

    def __init__(self, mol: Any, target: StereoTarget, mirror_fix: bool = True, refine: str = "none", refine_max_iters: int = 200):
        self.mol, self.target, self.mirror = mol, target, mirror_fix
        self.refine, self.max_iters = refine, refine_max_iters
        self._relaxer: Relaxer | None = None

    def check(self, x: np.ndarray) -> StereoCheck:
        return check_stereo(self.mol, x, self.target)

    def __call__(self, x: np.ndarray, attempt: int) -> Conformer:
        raw = self.check(x)
        x, mirrored, guarded = mirror_fix(x, raw, self.mirror)
        if self.refine == "none":
            return Conformer(x, attempt, raw, guarded, mirrored)
        if self._relaxer is None:
            self._relaxer = Relaxer(self.mol, self.max_iters)
        r = self._relaxer.relax(x)
        if r.force_field == "none":
            return Conformer(x, attempt, raw, guarded, mirrored)
        final = self.check(r.coords)
        if final.centres_ok < guarded.centres_ok:  # the relaxation inverted a centre: again, holding the centres first
            r = self._relaxer.relax(x, hold=self._centre_atoms())
            final = self.check(r.coords)
        return Conformer(r.coords, attempt, raw, final, mirrored, r.force_field, r.energy, r.converged)

    def _centre_atoms(self) -> list[int]:
        """The specified centres and their neighbours."""
        atoms = set(self.target.centres)
        for i in self.target.centres:
            atoms.update(n.GetIdx() for n in self.mol.GetAtomWithIdx(i).GetNeighbors())
        return sorted(atoms)

"""One record per input molecule, built once and used by every later step of sampling: the graph the
denoiser reads, the bonds (prior, divergence check), the prior's factor R (one eigendecomposition
per molecule, not per sample), the stereo the graph asks for (CIP target for the checks, sign
constraints for the guidance), the steric guidance's atom pairs, and for a two-atom molecule its one
bond length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.sample.diatomic import diatomic_length
from pipeline.sample.guidance import StereoConstraints, stereo_constraints
from pipeline.sample.modelspec import spec_max_atoms
from pipeline.sample.steric import StericPairs, steric_pairs
from pipeline.sample.stereo import StereoTarget, stereo_target
from pipeline.sample.torsion import TorsionSet, torsion_set

__all__ = ["PreparedMolecule", "prepare_molecules", "default_featurizer"]


@dataclass
class PreparedMolecule:
    mol: Any  # RDKit Mol, hydrogens explicit
    graph: Any  # the denoiser's input (torch-geometric Data)
    bonds: np.ndarray  # [B, 3] (i, j, order)
    target: StereoTarget
    diatomic: float | None = None  # bond length set exactly for a two-atom molecule (pipeline.sample.diatomic)
    _factor: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _constraints: StereoConstraints | None = field(default=None, repr=False)
    _steric: dict[int, StericPairs] = field(default_factory=dict, repr=False)
    _torsions: dict[float, TorsionSet] = field(default_factory=dict, repr=False)

    @property
    def n_atoms(self) -> int:
        return self.mol.GetNumAtoms()

    def factor(self, prior_params: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(R, eigenvalues of J)`` of the prior (computed on first use)."""
        if self._factor is None:
            self._factor = prior_params.factor(self.n_atoms, self.bonds)
        return self._factor

    @property
    def constraints(self) -> StereoConstraints:
        """The stereo-guidance constraints (computed on first use)."""
        if self._constraints is None:
            self._constraints = stereo_constraints(self.mol)
        return self._constraints

    def steric(self, min_bonds_apart: int) -> StericPairs:
        """The steric-guidance pairs (computed on first use)."""
        if min_bonds_apart not in self._steric:
            self._steric[min_bonds_apart] = steric_pairs(self.mol, min_bonds_apart)
        return self._steric[min_bonds_apart]

    def torsions(self, min_barrier: float) -> TorsionSet:
        """The torsion-guidance torsions (computed on first use)."""
        if min_barrier not in self._torsions:
            self._torsions[min_barrier] = torsion_set(self.mol, min_barrier)
        return self._torsions[min_barrier]


def default_featurizer(spec: Any) -> Callable[[Any], Any]:
    from pipeline.model.features import featurize

    feature_cfg = getattr(spec, "features", None)
    return lambda m: featurize(m, feature_cfg)


def _rejection(mol: Any, max_atoms: int | None) -> str | None:
    if mol is None or mol.GetNumAtoms() == 0:
        return "empty molecule"
    if any(a.GetNumImplicitHs() > 0 for a in mol.GetAtoms()):
        return "molecule has implicit hydrogens; add them first (Chem.AddHs)"
    if max_atoms is not None and mol.GetNumAtoms() > max_atoms:
        return f"{mol.GetNumAtoms()} atoms (with hydrogens) exceeds the model's limit of {max_atoms}"
    return None


def prepare_molecules(
    mols: Sequence[Any], spec: Any, featurizer: Callable[[Any], Any] | None = None
) -> tuple[list[PreparedMolecule | None], dict[int, str]]:
    """``(prepared, {index: rejection reason})``; ``prepared[i]`` is None for a rejected molecule."""
    from pipeline.chem import bonds_array

    featurizer = featurizer or default_featurizer(spec)
    max_atoms = spec_max_atoms(spec)
    prepared: list[PreparedMolecule | None] = []
    rejected: dict[int, str] = {}
    for i, mol in enumerate(mols):
        reason = _rejection(mol, max_atoms)
        graph = None
        if reason is None:
            try:
                graph = featurizer(mol)
            except (ValueError, KeyError) as exc:
                reason = f"cannot featurize: {exc}"
        if reason is not None:
            rejected[i] = reason
            prepared.append(None)
            continue
        prepared.append(PreparedMolecule(mol, graph, bonds_array(mol), stereo_target(mol), diatomic_length(mol)))
    return prepared, rejected

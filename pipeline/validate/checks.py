"""Per-conformer validity checks with RDKit (docs/design.md §5), one column per check.

:class:`MoleculeChecker` precomputes everything that depends only on the intended molecule (the
graph with charges and the stereo the user asked for): distance-geometry bounds, which pairs are
bonds / angles / non-bonded, flat systems, stereo targets, force-field parameters. Each conformer
is then checked from its coordinates (in the intended molecule's atom order):

``coordinates``       the coordinates are a possible 3D conformer (:mod:`pipeline.sanity`: no coincident
                      atoms, no atom absurdly far away, not a flat 2D drawing); when this fails the
                      other checks are not run (``None``) and ``error`` says why;
``connectivity``      bonds perceived from the 3D coordinates (``rdDetermineBonds.DetermineConnectivity``,
                      covalent radii × factor, net charge given) equal the intended graph's bonds
                      (a perceived 1-3 contact across a 4-membered ring is not counted);
``stereo_centres``    every specified tetrahedral centre (charged N and P included) has the intended
                      chirality (``AssignStereochemistryFrom3D`` on the intended graph);
``stereo_bonds``      every specified double bond has the intended E/Z (dihedral of the substituents);
``bond_lengths``      heavy-atom bonds within the DG bounds widened by ``bond_tolerance`` (PoseBusters);
``bond_angles``       1-3 distances within the DG bounds widened by ``angle_tolerance`` (PoseBusters);
``no_clash``          non-bonded pairs no closer than (1 - ``clash_tolerance``) × DG lower bound;
``aromatic_flat``     aromatic 5/6 rings within ``flatness_tolerance`` Å of their plane;
``double_bonds_flat`` C=C with their substituents within ``flatness_tolerance`` Å of a plane;
``energy``            (E - E_relaxed) / heavy atoms ≤ ``energy_max_per_heavy_atom`` kcal/mol, MMFF94
                      (UFF when MMFF lacks parameters), E_relaxed after a local minimisation of a copy.

A check is ``True``/``False`` (one with nothing to check passes: no stereo centre, no aromatic ring);
``None`` means it could not be evaluated (no stereo reference, no force field, switched off); the
``unchecked`` column names those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pipeline.chem import FLAT_DOUBLE_BONDS, bounds_matrix, minimize
from pipeline.sanity import flat_2d, geometry_problem
from pipeline.validate.config import CHECK_NAMES, CheckConfig
from pipeline.validate.matching import full_atom_maps

__all__ = ["MoleculeChecker", "check_conformers", "FLAT_RINGS"]

#: SMARTS of PoseBusters' flatness checks (the double bonds': pipeline.chem.FLAT_DOUBLE_BONDS, shared with the sampler)
FLAT_RINGS = ("[ar5^2]1[ar5^2][ar5^2][ar5^2][ar5^2]1", "[ar6^2]1[ar6^2][ar6^2][ar6^2][ar6^2][ar6^2]1")
_TERMINAL = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"


def _plane_distance(x: np.ndarray) -> float:
    """Largest distance of the points to their least-squares plane."""
    c = x - x.mean(axis=0)
    normal = np.linalg.svd(c)[2][-1]
    return float(np.abs(c @ normal).max())


def _dihedral_cos(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> float:
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    n1 = b0 - np.dot(b0, b1) / np.dot(b1, b1) * b1
    n2 = b2 - np.dot(b2, b1) / np.dot(b1, b1) * b1
    den = np.linalg.norm(n1) * np.linalg.norm(n2)
    return float(np.dot(n1, n2) / den) if den > 0 else 0.0


@dataclass
class _StereoBond:
    begin: int
    end: int
    sub_begin: int  # lowest-index substituent on ``begin``
    sub_end: int
    cis: bool  # intended relation of the two substituents


@dataclass
class MoleculeChecker:
    """Checks for one intended molecule (hydrogens explicit, stereo tags from the user's SMILES)."""

    mol: Any
    cfg: CheckConfig = field(default_factory=CheckConfig)
    stereo_known: bool = True

    def __post_init__(self) -> None:
        from rdkit import Chem

        self.mol = Chem.Mol(self.mol)
        self.mol.RemoveAllConformers()
        Chem.AssignStereochemistry(self.mol, cleanIt=True, force=True)
        self.n_atoms = self.mol.GetNumAtoms()
        self.heavy = np.array([a.GetAtomicNum() != 1 for a in self.mol.GetAtoms()], dtype=bool)
        self.n_heavy = int(self.heavy.sum())
        self.charge = int(sum(a.GetFormalCharge() for a in self.mol.GetAtoms()))
        self.bond_set = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in self.mol.GetBonds()}
        # across a 4-membered ring the 1-3 distance (~2.0-2.1 Å for C...C) is within 1.3 x the covalent
        # radii: a perceived "bond" there is the ring's geometry, not a wrong graph (angles are checked apart)
        self._ring13: set[tuple[int, int]] = set()
        for ring in self.mol.GetRingInfo().AtomRings():
            if len(ring) == 4:
                self._ring13 |= {tuple(sorted((ring[0], ring[2]))), tuple(sorted((ring[1], ring[3])))}
        self._pairs()
        self._flat_systems()
        self._stereo_targets()
        self._force_field_setup()

    # -- precomputation ------------------------------------------------------------------------
    def _pairs(self) -> None:
        from rdkit import Chem

        n = self.n_atoms
        bounds = bounds_matrix(self.mol)  # as PoseBusters' ``distance_geometry`` check
        iu = np.triu_indices(n, k=1)
        upper, lower = bounds[iu].copy(), bounds[(iu[1], iu[0])].copy()
        index = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(*iu))}
        # conjugated terminal groups (carboxylate, nitro, ...) get the widest bounds of their kind
        groups: dict[tuple[str, str], list[int]] = {}
        for a, b in self.mol.GetSubstructMatches(Chem.MolFromSmarts(_TERMINAL)):
            key = tuple(sorted((self.mol.GetAtomWithIdx(a).GetSymbol(), self.mol.GetAtomWithIdx(b).GetSymbol())))
            groups.setdefault(key, []).append(index[tuple(sorted((a, b)))])
        for ks in groups.values():
            lower[ks], upper[ks] = lower[ks].min(), upper[ks].max()
        is_bond = np.array([(int(i), int(j)) in self.bond_set for i, j in zip(*iu)], dtype=bool)
        adj = np.zeros((n, n), dtype=bool)
        for i, j in self.bond_set:
            adj[i, j] = adj[j, i] = True
        two = (adj.astype(np.int32) @ adj.astype(np.int32)) > 0
        is_angle = two[iu] & ~is_bond
        keep = self.heavy[iu[0]] & self.heavy[iu[1]] if self.cfg.ignore_hydrogens else np.ones(len(iu[0]), bool)
        self._i, self._j = iu
        self._lower, self._upper = lower, upper
        self._bond_mask = is_bond & keep
        self._angle_mask = is_angle & keep
        self._nonbond_mask = ~is_bond & ~is_angle & keep
        # all heavy-atom bonds (for the deviation plot), regardless of ignore_hydrogens
        self._heavy_bond_mask = is_bond & self.heavy[iu[0]] & self.heavy[iu[1]]

    def _flat_systems(self) -> None:
        from rdkit import Chem

        def groups(smarts: Sequence[str]) -> list[np.ndarray]:
            out = []
            for s in smarts:
                out += [np.array(m) for m in self.mol.GetSubstructMatches(Chem.MolFromSmarts(s))]
            return out

        self._rings = groups(FLAT_RINGS)
        self._double_bonds = groups(FLAT_DOUBLE_BONDS)

    def _stereo_targets(self) -> None:
        from rdkit import Chem

        self._centres: dict[int, Any] = {}
        self._bonds: list[_StereoBond] = []
        if not self.stereo_known:
            return
        tetra = (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
        for atom in self.mol.GetAtoms():
            if atom.GetChiralTag() in tetra:
                self._centres[atom.GetIdx()] = atom.GetChiralTag()
        for bond in self.mol.GetBonds():
            sb = _intended_bond(self.mol, bond)
            if sb is not None:
                self._bonds.append(sb)

    def _force_field_setup(self) -> None:
        from rdkit.Chem import rdForceFieldHelpers as ffh

        self._ff_name: str | None = None
        self._mmff_props = None
        if not self.cfg.energy:
            return
        try:
            if ffh.MMFFHasAllMoleculeParams(self.mol):
                from rdkit.Chem import rdForceFieldHelpers

                self._mmff_props = rdForceFieldHelpers.MMFFGetMoleculeProperties(self.mol)
                self._ff_name = "MMFF94"
            elif ffh.UFFHasAllMoleculeParams(self.mol):
                self._ff_name = "UFF"
        except Exception:  # force-field typing failed: the energy check reports itself as unchecked
            self._ff_name = None

    # -- checks --------------------------------------------------------------------------------
    def _with_coords(self, coords: np.ndarray) -> Any:
        from rdkit import Chem

        from pipeline.chem import set_conformers

        m = Chem.Mol(self.mol)
        set_conformers(m, coords[None])
        return m

    def connectivity(self, coords: np.ndarray) -> tuple[bool, int]:
        """(perceived bonds == intended bonds, number of bonds that differ)."""
        from rdkit import Chem
        from rdkit.Chem import rdDetermineBonds

        rw = Chem.RWMol()
        for a in self.mol.GetAtoms():
            na = Chem.Atom(a.GetAtomicNum())
            na.SetFormalCharge(a.GetFormalCharge())
            na.SetNoImplicit(True)
            rw.AddAtom(na)
        m = rw.GetMol()
        from pipeline.chem import set_conformers

        set_conformers(m, coords[None])
        rdDetermineBonds.DetermineConnectivity(m, useHueckel=False, charge=self.charge, covFactor=self.cfg.connectivity_factor)
        found = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in m.GetBonds()} - self._ring13
        diff = len(found ^ self.bond_set)
        return diff == 0, diff

    def stereo(self, coords: np.ndarray) -> tuple[int, int]:
        """(wrong tetrahedral centres, wrong double bonds) for these coordinates."""
        from rdkit import Chem

        wrong_c = 0
        if self._centres:
            m = self._with_coords(coords)
            Chem.AssignStereochemistryFrom3D(m, confId=-1, replaceExistingTags=True)
            for idx, tag in self._centres.items():
                if m.GetAtomWithIdx(idx).GetChiralTag() != tag:
                    wrong_c += 1
        wrong_b = 0
        for sb in self._bonds:
            cos = _dihedral_cos(coords[sb.sub_begin], coords[sb.begin], coords[sb.end], coords[sb.sub_end])
            if (cos > 0) != sb.cis:
                wrong_b += 1
        return wrong_c, wrong_b

    def geometry(self, coords: np.ndarray) -> dict[str, Any]:
        """Bond lengths, bond angles and clashes against the distance-geometry bounds."""
        d = np.linalg.norm(coords[self._i] - coords[self._j], axis=1)
        lo, up = self._lower, self._upper
        # out-of-bounds relative error (0 inside the bounds), as PoseBusters' ``bpe``
        rel = np.where(d < lo, (d - lo) / lo, np.where(d > up, (d - up) / np.maximum(up, 1e-9), 0.0))
        b, a, nb = self._bond_mask, self._angle_mask, self._nonbond_mask
        bond_dev = float(np.abs(rel[b]).max()) if b.any() else 0.0
        angle_dev = float(np.abs(rel[a]).max()) if a.any() else 0.0
        clash_ratio = d[nb] / lo[nb] if nb.any() else np.array([np.inf])
        n_clash = int((clash_ratio < 1.0 - self.cfg.clash_tolerance).sum())
        return {
            "bond_lengths": bond_dev <= self.cfg.bond_tolerance,
            "bond_angles": angle_dev <= self.cfg.angle_tolerance,
            "no_clash": n_clash == 0,
            "bond_max_rel_dev": bond_dev,
            "angle_max_rel_dev": angle_dev,
            "n_clashes": n_clash,
            "min_nonbonded_ratio": float(clash_ratio.min()) if nb.any() else float("nan"),
        }

    def bond_deviations(self, coords: np.ndarray) -> np.ndarray:
        """Heavy-atom bond length minus the middle of its DG bounds (Å), for plots."""
        m = self._heavy_bond_mask
        d = np.linalg.norm(coords[self._i[m]] - coords[self._j[m]], axis=1)
        return d - 0.5 * (self._lower[m] + self._upper[m])

    def flatness(self, coords: np.ndarray) -> dict[str, Any]:
        ring = max((_plane_distance(coords[g]) for g in self._rings), default=0.0)
        dbl = max((_plane_distance(coords[g]) for g in self._double_bonds), default=0.0)
        tol = self.cfg.flatness_tolerance
        return {"aromatic_flat": ring <= tol, "double_bonds_flat": dbl <= tol, "ring_max_plane_dist": ring, "double_bond_max_plane_dist": dbl}

    def energy(self, coords: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"energy": None, "energy_ff": self._ff_name, "energy_delta": float("nan")}
        if self._ff_name is None:
            return out
        from rdkit.Chem import rdForceFieldHelpers as ffh

        m = self._with_coords(coords)
        if self._ff_name == "MMFF94":
            ff = ffh.MMFFGetMoleculeForceField(m, self._mmff_props, confId=-1)
        else:
            ff = ffh.UFFGetMoleculeForceField(m, confId=-1)
        e0 = ff.CalcEnergy()
        minimize(ff, self.cfg.energy_max_iters)
        delta = float(e0 - ff.CalcEnergy())
        per_atom = delta / max(self.n_heavy, 1)
        out.update(energy=bool(np.isfinite(per_atom) and per_atom <= self.cfg.energy_max_per_heavy_atom), energy_delta=delta, energy_delta_per_heavy=per_atom)
        return out

    def check(self, coords: np.ndarray) -> dict[str, Any]:
        """All checks for one conformer ``coords[N, 3]`` in this molecule's atom order."""
        coords = np.asarray(coords, dtype=np.float64)
        row: dict[str, Any] = {}
        if not np.isfinite(coords).all():
            row.update({c: False for c in CHECK_NAMES})
            row["error"] = "non-finite coordinates"
            return _finish(row, self.cfg)
        why = ("flat 2D coordinates (all z = 0), not a 3D conformer" if flat_2d(coords) else None) or geometry_problem(coords)
        if why:  # impossible geometry: the other checks are not run (RDKit's would not survive it)
            row.update(coordinates=False, error=why)
            return _finish(row, self.cfg)
        row["coordinates"] = True
        ok, diff = self.connectivity(coords)
        row.update(connectivity=ok, n_bonds_differ=diff)
        row["n_stereo_centres"], row["n_stereo_bonds"] = len(self._centres), len(self._bonds)
        if self.stereo_known:
            wc, wb = self.stereo(coords)
            row.update(stereo_centres=wc == 0, stereo_bonds=wb == 0, n_stereo_centres_wrong=wc, n_stereo_bonds_wrong=wb)
        else:
            row.update(stereo_centres=None, stereo_bonds=None)
        row.update(self.geometry(coords))
        row.update(self.flatness(coords))
        if self.cfg.energy:
            try:
                row.update(self.energy(coords))
            except Exception as exc:  # a force-field failure is a failed check with its reason, not a crash
                row.update(energy=False, error=f"energy: {exc}")
        else:
            row["energy"] = None
        return _finish(row, self.cfg)


def _finish(row: dict[str, Any], cfg: CheckConfig) -> dict[str, Any]:
    """Add ``valid``, ``failed`` and ``unchecked`` from the boolean check columns."""
    for c in CHECK_NAMES:
        row.setdefault(c, None)
    failed = [c for c in CHECK_NAMES if row[c] is False]
    unchecked = [c for c in CHECK_NAMES if row[c] is None]
    row["valid"] = not any(row[c] is False for c in cfg.valid_requires)
    row["failed"] = ",".join(failed)
    row["unchecked"] = ",".join(unchecked)
    row.setdefault("error", "")
    return row


def _intended_bond(mol: Any, bond: Any) -> _StereoBond | None:
    """The intended cis/trans relation of the lowest-index substituents of a stereo double bond."""
    from rdkit import Chem

    st = bond.GetStereo()
    S = Chem.BondStereo
    if st not in (S.STEREOE, S.STEREOZ, S.STEREOCIS, S.STEREOTRANS):
        return None
    u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    nu = sorted(n.GetIdx() for n in mol.GetAtomWithIdx(u).GetNeighbors() if n.GetIdx() != v)
    nv = sorted(n.GetIdx() for n in mol.GetAtomWithIdx(v).GetNeighbors() if n.GetIdx() != u)
    if not nu or not nv:
        return None
    if st in (S.STEREOCIS, S.STEREOTRANS):
        a, c = list(bond.GetStereoAtoms())
        cis = st == S.STEREOCIS
    else:
        rank = lambda i: int(mol.GetAtomWithIdx(i).GetProp("_CIPRank"))  # noqa: E731
        a, c = max(nu, key=rank), max(nv, key=rank)
        cis = st == S.STEREOZ
    flips = int(a != nu[0]) + int(c != nv[0])
    return _StereoBond(u, v, nu[0], nv[0], cis if flips % 2 == 0 else not cis)


def check_conformers(ref_mol: Any, mol: Any, cfg: CheckConfig | None = None, stereo_known: bool = True) -> list[dict]:
    """One row per conformer of ``mol``, one column per check (contract in docs/contracts.md).

    ``ref_mol`` is the intended molecule (hydrogens explicit; stereo tags as the user asked, e.g.
    ``Chem.AddHs(Chem.MolFromSmiles(smiles))``); ``mol`` holds the same compound with conformers,
    in any atom order. Stereo is judged under the symmetry-equivalent atom map that explains it best.
    """
    checker = MoleculeChecker(ref_mol, cfg or CheckConfig(), stereo_known=stereo_known)
    perms = full_atom_maps(mol, checker.mol)
    rows = []
    for conf in mol.GetConformers():
        xyz = np.asarray(conf.GetPositions(), dtype=np.float64)
        rows.append(check_mapped(checker, xyz, perms))
    return rows


def check_mapped(checker: MoleculeChecker, xyz: np.ndarray, perms: list[list[int]]) -> dict[str, Any]:
    """Check coordinates given in another atom order; ``perms[k][intended_idx] = source_idx``."""
    row = checker.check(xyz[perms[0]])
    wrong = row.get("n_stereo_centres_wrong", 0) + row.get("n_stereo_bonds_wrong", 0)
    if wrong and len(perms) > 1:
        # a graph symmetry may relabel symmetric stereo elements (e.g. meso); take the best map
        seen = {_stereo_key(checker, perms[0])}
        for perm in perms[1:]:
            key = _stereo_key(checker, perm)
            if key in seen:
                continue
            seen.add(key)
            wc, wb = checker.stereo(xyz[perm])
            if wc + wb < wrong:
                wrong = wc + wb
                row.update(stereo_centres=wc == 0, stereo_bonds=wb == 0, n_stereo_centres_wrong=wc, n_stereo_bonds_wrong=wb)
                if wrong == 0:
                    break
        row = _finish({k: v for k, v in row.items() if k not in ("valid", "failed", "unchecked")}, checker.cfg)
    return row


def _stereo_key(checker: MoleculeChecker, perm: list[int]) -> tuple[int, ...]:
    """The part of a map that matters for stereo: stereo atoms and their neighbours."""
    atoms: set[int] = set()
    for idx in checker._centres:
        atoms.add(idx)
        atoms.update(n.GetIdx() for n in checker.mol.GetAtomWithIdx(idx).GetNeighbors())
    for sb in checker._bonds:
        atoms.update((sb.begin, sb.end, sb.sub_begin, sb.sub_end))
    return tuple(perm[i] for i in sorted(atoms))

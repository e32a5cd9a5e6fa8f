"""Each validity check flags a deliberately broken conformer and passes an ETKDG one."""

from __future__ import annotations

import numpy as np
import pytest

Chem = pytest.importorskip("rdkit.Chem")
from rdkit.Chem import rdDistGeom, rdMolTransforms  # noqa: E402

from pipeline.chem import conformer_coords, set_conformers  # noqa: E402
from pipeline.validate.checks import check_conformers  # noqa: E402
from pipeline.validate.config import CHECK_NAMES, CheckConfig  # noqa: E402

# E double bond, a tetrahedral centre, an aromatic ring, a charged tetrahedral N centre
SMILES = "C/C=C/c1ccc(cc1)[C@@H](N)C(=O)O"
CHARGED_N = "C[C@@H]1CCC[N@@H+]1C"


@pytest.fixture(scope="module")
def mol():
    m = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    p = rdDistGeom.ETKDGv3()
    p.randomSeed = 42
    assert len(rdDistGeom.EmbedMultipleConfs(m, 3, p)) == 3
    return m


def intended():
    return Chem.AddHs(Chem.MolFromSmiles(SMILES))


def with_xyz(m, xyz):
    out = Chem.Mol(m)
    set_conformers(out, xyz[None])
    return out


def atom(m, smarts):
    return m.GetSubstructMatch(Chem.MolFromSmarts(smarts))


def row_for(m, xyz, **cfg):
    return check_conformers(intended(), with_xyz(m, xyz), CheckConfig(**cfg))[0]


def test_etkdg_conformers_pass_every_check(mol):
    rows = check_conformers(intended(), mol)
    assert len(rows) == 3
    for r in rows:
        assert r["valid"], r
        assert all(r[c] is True for c in CHECK_NAMES), r
        assert r["n_stereo_centres"] == 1 and r["n_stereo_bonds"] == 1
        assert r["energy_ff"] == "MMFF94"


def test_charged_nitrogen_centre_is_checked_and_mirror_fails():
    m = Chem.AddHs(Chem.MolFromSmiles(CHARGED_N))
    p = rdDistGeom.ETKDGv3()
    p.randomSeed = 11
    rdDistGeom.EmbedMolecule(m, p)
    ref = Chem.AddHs(Chem.MolFromSmiles(CHARGED_N))
    good = check_conformers(ref, m)[0]
    assert good["n_stereo_centres"] == 2 and good["stereo_centres"] is True
    mirror = with_xyz(m, conformer_coords(m)[0] * np.array([-1.0, 1.0, 1.0]))
    bad = check_conformers(ref, mirror)[0]
    assert bad["stereo_centres"] is False and bad["n_stereo_centres_wrong"] == 2


def test_stretched_bond(mol):
    xyz = conformer_coords(mol)[0]
    c, n = atom(mol, "[CH1]([NH2])C(=O)")[:2]
    v = xyz[n] - xyz[c]
    xyz[n] += 0.6 * v / np.linalg.norm(v)  # C-N from ~1.47 to ~2.07 Å
    r = row_for(mol, xyz)
    assert r["bond_lengths"] is False and not r["valid"]
    assert "bond_lengths" in r["failed"]
    assert r["stereo_centres"] is True  # the centre's handedness did not change


def test_inverted_centre(mol):
    mirror = conformer_coords(mol)[0] * np.array([-1.0, 1.0, 1.0])
    r = row_for(mol, mirror)
    assert r["stereo_centres"] is False and r["n_stereo_centres_wrong"] == 1
    assert r["stereo_bonds"] is True  # a mirror keeps E/Z
    assert r["bond_lengths"] and r["bond_angles"] and r["connectivity"] and r["energy"]
    assert not r["valid"]


def test_flipped_double_bond(mol):
    m = with_xyz(mol, conformer_coords(mol)[0])
    a, b, c, d = atom(m, "[CH3]/[CH]=[CH]/c")
    conf = m.GetConformer()
    rdMolTransforms.SetDihedralDeg(conf, a, b, c, d, rdMolTransforms.GetDihedralDeg(conf, a, b, c, d) + 180.0)
    r = row_for(mol, conformer_coords(m)[0])
    assert r["stereo_bonds"] is False and r["n_stereo_bonds_wrong"] == 1
    assert r["stereo_centres"] is True and r["bond_lengths"] is True
    assert not r["valid"]


def test_clash(mol):
    xyz = conformer_coords(mol)[0]
    methyl = atom(mol, "[CH3]/[CH]=[CH]")[0]
    acid_o = atom(mol, "C(=O)[OH]")[2]
    xyz[methyl] = xyz[acid_o] + np.array([0.9, 0.0, 0.0])  # two non-bonded heavy atoms 0.9 Å apart
    r = row_for(mol, xyz)
    assert r["no_clash"] is False and r["n_clashes"] >= 1


def test_bent_aromatic_ring(mol):
    xyz = conformer_coords(mol)[0]
    ring = list(atom(mol, "c1ccccc1"))
    centred = xyz[ring] - xyz[ring].mean(0)
    normal = np.linalg.svd(centred)[2][-1]
    xyz[ring[0]] += 0.8 * normal  # boat-like pucker: ~0.39 Å from the best plane
    r = row_for(mol, xyz)
    assert r["aromatic_flat"] is False and r["ring_max_plane_dist"] > 0.25
    assert r["stereo_centres"] is True


def test_strained_conformer_fails_energy(mol):
    rng = np.random.default_rng(0)
    xyz = conformer_coords(mol)[0] + rng.normal(scale=0.2, size=(mol.GetNumAtoms(), 3))
    r = row_for(mol, xyz)
    assert r["energy"] is False and r["energy_delta_per_heavy"] > 5.0
    # the same conformer with the energy check switched off is not judged on energy
    assert row_for(mol, xyz, energy=False)["energy"] is None


def test_detached_hydrogen_breaks_connectivity(mol):
    xyz = conformer_coords(mol)[0]
    h = next(a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1)
    xyz[h] += np.array([4.0, 0.0, 0.0])
    r = row_for(mol, xyz)
    assert r["connectivity"] is False and r["n_bonds_differ"] >= 1
    assert r["bond_lengths"] is True  # hydrogens are not part of the DG checks


def test_atom_order_does_not_matter(mol):
    rng = np.random.default_rng(1)
    perm = [int(i) for i in rng.permutation(mol.GetNumAtoms())]
    shuffled = Chem.RenumberAtoms(mol, perm)
    a, b = check_conformers(intended(), mol), check_conformers(intended(), shuffled)
    for ra, rb in zip(a, b):
        for c in CHECK_NAMES:
            assert ra[c] == rb[c]
        assert ra["energy_delta"] == pytest.approx(rb["energy_delta"], abs=1e-3)


def test_geometry_agrees_with_posebusters(mol):
    pb = pytest.importorskip("posebusters.modules.distance_geometry")
    xyz = conformer_coords(mol)[0]
    c, n = atom(mol, "[CH1]([NH2])C(=O)")[:2]
    stretched = xyz.copy()
    stretched[n] += 0.6 * (xyz[n] - xyz[c]) / np.linalg.norm(xyz[n] - xyz[c])
    for coords in (xyz, stretched):
        ours = row_for(mol, coords)
        theirs = pb.check_geometry(with_xyz(mol, coords), threshold_bad_bond_length=0.25, threshold_clash=0.3, threshold_bad_angle=0.25)["results"]
        assert ours["bond_lengths"] == bool(theirs["bond_lengths_within_bounds"])
        assert ours["bond_angles"] == bool(theirs["bond_angles_within_bounds"])
        assert ours["no_clash"] == bool(theirs["no_internal_clash"])


def test_four_membered_ring_cross_distance_is_not_a_bond():
    # ETKDG puckers azetidines so that the C...C across the ring is < 1.3 x (r_C + r_C) = 1.976 Å,
    # which bond perception reports as a bond; it is ring geometry, not a wrong graph
    smiles = "CC1(C)CN(C)C1"
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    p = rdDistGeom.ETKDGv3()
    p.randomSeed = 42
    rdDistGeom.EmbedMultipleConfs(m, 30, p)
    ring = next(r for r in m.GetRingInfo().AtomRings() if len(r) == 4)
    xyz = conformer_coords(m)
    cc = [(i, j) for i, j in ((ring[0], ring[2]), (ring[1], ring[3])) if m.GetAtomWithIdx(i).GetSymbol() == m.GetAtomWithIdx(j).GetSymbol() == "C"]
    cross = np.linalg.norm(xyz[:, cc[0][0]] - xyz[:, cc[0][1]], axis=1)
    assert cross.min() < 1.976  # the case is really there
    rows = check_conformers(Chem.AddHs(Chem.MolFromSmiles(smiles)), m, CheckConfig(energy=False))
    assert all(r["connectivity"] for r in rows)

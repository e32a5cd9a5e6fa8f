"""Torsion guidance (pipeline.sample.torsion): the well table, the rigid turn, the torsion set, the wrapper, the wiring."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import rdMolTransforms

from pipeline.chem import conformer_coords, set_conformers
from pipeline.model import ModelSpec
from pipeline.sample.generate import generate_detailed
from pipeline.sample.inputs import prepare_molecule
from pipeline.sample.torsion import TorsionDenoiser, TorsionGuidanceConfig, dihedral_deg, rotate_sides, torsion_set, well_table
from tests.helpers.sample import ReferenceDenoiser, etkdg_coords

# N-methyl amide on a chiral carbon with an ester: an amide C-N, an ester C-O, sp3-sp3 bonds, one stereocentre
SMILES = "C[C@H](NC(=O)c1ccccc1)C(=O)OC"


def _mol(smiles: str = SMILES):
    return prepare_molecule("--smiles", "1", smiles, Chem.MolFromSmiles(smiles), seed=0).mol


def _bond_geometry(mol, x):
    """Every bond length and every bond angle of ``x``."""
    lengths = [np.linalg.norm(x[b.GetBeginAtomIdx()] - x[b.GetEndAtomIdx()]) for b in mol.GetBonds()]
    angles = []
    for a in mol.GetAtoms():
        nb = [n.GetIdx() for n in a.GetNeighbors()]
        for p in range(len(nb)):
            for q in range(p + 1, len(nb)):
                u, v = x[nb[p]] - x[a.GetIdx()], x[nb[q]] - x[a.GetIdx()]
                angles.append(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))
    return np.array(lengths), np.array(angles)


def _volumes(mol, x):
    """Signed volume of the first three neighbours of every atom with four (the stereocentre's handedness)."""
    out = []
    for a in mol.GetAtoms():
        nb = [n.GetIdx() for n in a.GetNeighbors()]
        if len(nb) == 4:
            c = x[a.GetIdx()]
            out.append(np.linalg.det(np.stack([x[nb[0]] - c, x[nb[1]] - c, x[nb[2]] - c])))
    return np.array(out)


def _set_dihedral(mol, x, quad, degrees):
    m = Chem.Mol(mol)
    set_conformers(m, np.asarray(x)[None])
    rdMolTransforms.SetDihedralDeg(m.GetConformer(), *(int(a) for a in quad), float(degrees))
    return np.asarray(m.GetConformer().GetPositions())


def test_well_table_descends_to_the_nearest_minimum():
    # E = V (1 + cos 3φ): minima at ±60° and 180°, maxima at 0° and ±120°
    wells, barrier = well_table([0.0, 0.0, 4.0, 0, 0, 0], [1, 1, 1, 1, 1, 1])
    at = lambda phi: wells[int(phi) + 180]  # noqa: E731
    assert barrier == pytest.approx(8.0)
    assert at(10) == 60 and at(-10) == -60 and at(100) == 60 and at(130) == -180 and at(-130) == -180 and at(60) == 60
    # a one-fold profile with its minimum at 0° (an amide's O=C-N-C: V1 = 100, s = -1): every angle descends to 0
    wells, _ = well_table([100.0, 0, 0, 0, 0, 0], [-1, 1, 1, 1, 1, 1])
    assert set(wells.tolist()) == {0.0}
    # two-fold (an aryl ketone's c-c-C=O: V2 = 5, s = -1): minima at 0° and 180°
    wells, _ = well_table([0.0, 5.0, 0, 0, 0, 0], [1, -1, 1, 1, 1, 1])
    assert {wells[p + 180] for p in (-89, -30, 0, 45, 89)} == {0.0}
    assert wells[100 + 180] == -180 and wells[-100 + 180] == -180 and wells[179 + 180] == -180


def test_torsion_set_covers_acyclic_bonds_and_turns_the_smaller_side():
    mol = _mol()
    ts = torsion_set(mol)
    assert not ts.empty and len(ts.quads) == len(ts.wells)
    for r, (i, j, k, l) in enumerate(ts.quads):
        bond = mol.GetBondBetweenAtoms(int(j), int(k))
        assert bond is not None and not bond.IsInRing() and bond.GetBondType() == Chem.BondType.SINGLE
        side = set(ts.side[ts.owner == r].tolist())
        assert k in side and j not in side and i not in side and l in side
        assert len(side) <= mol.GetNumAtoms() - len(side)
    bonds = {frozenset((int(j), int(k))) for _, j, k, _ in ts.quads}
    assert len(bonds) == len(ts.quads)  # one torsion per bond
    assert torsion_set(_mol("c1ccccc1")).empty  # no acyclic bond with a preference
    # the library also matches the double bond of an alkene: never turned (it would flip E/Z)
    alkene = _mol("C/C=C/C")
    from rdkit.Chem import rdDistGeom

    assert any(alkene.GetBondBetweenAtoms(int(t["atomIndices"][1]), int(t["atomIndices"][2])).GetBondType() == Chem.BondType.DOUBLE
               for t in rdDistGeom.GetExperimentalTorsions(alkene))
    assert all(alkene.GetBondBetweenAtoms(int(j), int(k)).GetBondType() == Chem.BondType.SINGLE for _, j, k, _ in torsion_set(alkene).quads)


def test_a_turn_is_rigid_and_exact():
    mol = _mol()
    x = torch.as_tensor(etkdg_coords(mol, seed=0))
    ts = torsion_set(mol)
    quads = torch.as_tensor(ts.quads)
    before = dihedral_deg(x, quads)
    ref = Chem.Mol(mol)
    set_conformers(ref, x.numpy()[None])
    np.testing.assert_allclose(before.numpy(), [rdMolTransforms.GetDihedralDeg(ref.GetConformer(), *map(int, q)) for q in ts.quads], atol=1e-6)
    lengths, angles = _bond_geometry(mol, x.numpy())
    vols = _volumes(mol, x.numpy())
    for r in range(len(ts.quads)):
        pick = ts.owner == r
        y = rotate_sides(x, quads[r : r + 1], torch.as_tensor(ts.side[pick]), torch.zeros(int(pick.sum()), dtype=torch.long),
                         torch.tensor([37.0], dtype=torch.float64))
        after = dihedral_deg(y, quads)
        gap = (after - before + 180.0) % 360.0 - 180.0
        assert float(gap[r]) == pytest.approx(37.0, abs=1e-6)
        l2, a2 = _bond_geometry(mol, y.numpy())
        np.testing.assert_allclose(l2, lengths, atol=1e-9)
        np.testing.assert_allclose(a2, angles, atol=1e-9)
        np.testing.assert_allclose(_volumes(mol, y.numpy()), vols, atol=1e-9)  # the stereocentre keeps its sign


def test_wrapper_turns_towards_the_well_within_its_window():
    mol = _mol()
    ts = torsion_set(mol)
    amide = next(r for r, (i, j, k, l) in enumerate(ts.quads)
                 if {mol.GetAtomWithIdx(int(a)).GetSymbol() for a in (j, k)} == {"C", "N"}
                 and any(b.GetBondTypeAsDouble() == 2 for b in mol.GetAtomWithIdx(int(j if mol.GetAtomWithIdx(int(j)).GetSymbol() == "C" else k)).GetBonds()))
    q = ts.quads[amide]
    x0 = etkdg_coords(mol, seed=0)
    well = ts.wells[amide][int(round(float(dihedral_deg(torch.as_tensor(x0), torch.as_tensor(q[None]))[0]))) + 180]
    x = torch.as_tensor(_set_dihedral(mol, x0, q, well + 50.0))  # 50° out of its well
    inner = lambda x_, t_, b_: x  # noqa: E731  (x̂₀: the twisted conformer, whatever the input)
    g = TorsionDenoiser(inner, [ts], [0], TorsionGuidanceConfig(strength=0.5), t_onset=0.3, t_stop=0.05)
    for t, changed in [(0.5, False), (0.2, True), (0.04, False)]:
        out = g(torch.zeros_like(x), torch.tensor([t]), None)
        assert (not torch.equal(out, x)) is changed, t
    out = g(torch.zeros_like(x), torch.tensor([0.2]), None)
    gap = (float(dihedral_deg(out, torch.as_tensor(q[None]))[0]) - well + 180.0) % 360.0 - 180.0
    assert gap == pytest.approx(25.0, abs=1e-6)  # half the way
    assert g.evaluations == 2


def test_batched_molecules_are_turned_independently():
    a, b = _mol(), _mol("CCOC(=O)c1ccccc1")
    sa, sb = torsion_set(a), torsion_set(b)
    xa, xb = etkdg_coords(a, seed=1), etkdg_coords(b, seed=2)
    x = torch.as_tensor(np.concatenate([xa, xb]))
    g = TorsionDenoiser(lambda x_, t_, b_: x, [sa, sb], [0, a.GetNumAtoms()], TorsionGuidanceConfig(strength=1.0), t_onset=1.0, t_stop=0.0)
    y = g(x, torch.tensor([0.5]), None)
    alone = TorsionDenoiser(lambda x_, t_, b_: torch.as_tensor(xb), [sb], [0], TorsionGuidanceConfig(strength=1.0), t_onset=1.0)
    np.testing.assert_allclose(y[a.GetNumAtoms():].numpy(), alone(torch.as_tensor(xb), torch.tensor([0.5]), None).numpy(), atol=1e-9)
    for s, z in ((sa, y[: a.GetNumAtoms()]), (sb, y[a.GetNumAtoms():])):  # strength 1: every torsion at a well minimum
        phi = dihedral_deg(z, torch.as_tensor(s.quads)).numpy()
        for r, p in enumerate(phi):
            assert abs((s.wells[r][(int(round(p)) + 180) % 360] - p + 180) % 360 - 180) < 1.0


def test_a_diverged_sample_stays_where_it_is():
    mol = _mol()
    ts = torsion_set(mol)
    x = torch.full((mol.GetNumAtoms(), 3), float("nan"), dtype=torch.float64)
    g = TorsionDenoiser(lambda x_, t_, b_: x, [ts], [0], TorsionGuidanceConfig(), t_onset=1.0)
    assert torch.isnan(g(x, torch.tensor([0.1]), None)).all()


@pytest.mark.parametrize("enabled", [True, False])
def test_generate_applies_it(enabled):
    mol = _mol()
    ts = torsion_set(mol)
    x0 = etkdg_coords(mol, seed=0)
    amide_like = [r for r, q in enumerate(ts.quads) if ts.wells[r].max() - ts.wells[r].min() == 0]  # a profile with one well
    r = amide_like[0] if amide_like else 0
    q = ts.quads[r]
    well = ts.wells[r][int(round(float(dihedral_deg(torch.as_tensor(x0), torch.as_tensor(q[None]))[0]))) + 180]
    twisted = _set_dihedral(mol, x0, q, well + 60.0)
    cfg = TorsionGuidanceConfig(enabled=enabled, strength=1.0, stop_noise=0.0)  # the reference denoiser ignores its input: guide to the end
    out = generate_detailed([mol], ReferenceDenoiser([twisted]), ModelSpec(), 2, sampler="dpmpp_2m_sde", steps=8, torsion=cfg,
                            progress=False, refine="none")
    assert out.errors == []
    for x in conformer_coords(out.mols[0]):
        phi = float(dihedral_deg(torch.as_tensor(x), torch.as_tensor(q[None]))[0])
        off = abs((phi - well + 180.0) % 360.0 - 180.0)
        assert bool(off < 5.0) is enabled, off


@pytest.mark.parametrize("refine, raw_only, guided", [("none", True, True), ("mmff", True, False), ("mmff", False, True)])
def test_raw_only_leaves_relaxed_samples_to_the_force_field(monkeypatch, refine, raw_only, guided):
    import pipeline.sample.torsion as torsion_mod

    built = []

    class Counting(torsion_mod.TorsionDenoiser):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(torsion_mod, "TorsionDenoiser", Counting)
    mol = _mol()
    out = generate_detailed([mol], ReferenceDenoiser([etkdg_coords(mol, seed=0)]), ModelSpec(), 1, sampler="dpmpp_2m_sde", steps=4,
                            torsion=TorsionGuidanceConfig(raw_only=raw_only), progress=False, refine=refine)
    assert out.errors == [] and bool(built) is guided

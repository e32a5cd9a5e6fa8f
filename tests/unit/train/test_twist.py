"""Torsion twists of training inputs: the right bonds, rigid exact turns, only the drawn low-noise molecules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from pydantic import ValidationError  # noqa: E402
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem, rdMolTransforms  # noqa: E402

from pipeline.train.config import TwistConfig  # noqa: E402
from pipeline.train.twist import TorsionIndex, rotatable_bonds, twist_x0  # noqa: E402


def _mol(smiles: str, seed: int = 3):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def _bonds(mol) -> np.ndarray:
    return np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType())) for b in mol.GetBonds()])


def _coords(mol) -> torch.Tensor:
    x = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float64)
    return x - x.mean(0)


@pytest.mark.parametrize(
    ("smiles", "count"),
    [
        ("CCCC", 3),  # the two methyls turn too
        ("c1ccccc1", 0),  # ring bonds never
        ("Cc1ccccc1", 1),
        ("C=CC", 1),  # the double bond is not turned, its single neighbour is
        ("CC(=O)Nc1ccc(O)cc1", 4),  # CH3-C, C(=O)-N, N-c, c-O
        ("[Na+].[O-]C(=O)c1ccccc1", 1),  # the O- has no other neighbour; the ions are on no side
        ("CC#N", 0),  # the nitrile C is linear: no torsion about CH3-C
        ("CC#CC(C)O", 2),  # nor about the alkyne's single bonds; C-O and CH3-C(O) turn
    ],
)
def test_rotatable_bonds_are_acyclic_single_bonds_with_something_to_turn(smiles, count):
    mol = _mol(smiles)
    rot = rotatable_bonds(mol.GetNumAtoms(), _bonds(mol))
    assert rot.count == count
    for k, (fixed, pivot) in enumerate(rot.axis.tolist()):
        side = set(rot.side[rot.side_of == k].tolist())
        bond = mol.GetBondBetweenAtoms(fixed, pivot)
        assert bond is not None and bond.GetBondType() == Chem.BondType.SINGLE and not bond.IsInRing()
        assert pivot in side and fixed not in side
        # the side is exactly the pivot's fragment once the bond is broken, and the smaller one
        frags = Chem.GetMolFrags(Chem.FragmentOnBonds(mol, [bond.GetIdx()], addDummies=False), asMols=False)
        fragment = next(set(f) for f in frags if pivot in f)
        other = next(set(f) for f in frags if fixed in f)
        assert side == fragment and len(side) <= len(other)


def _one_molecule(smiles: str):
    mol = _mol(smiles)
    x0 = _coords(mol)
    rot = rotatable_bonds(mol.GetNumAtoms(), _bonds(mol))
    index = TorsionIndex.of([rot], [mol.GetNumAtoms()])
    return mol, x0, rot, index


def _set(mol, x: torch.Tensor):
    conf = mol.GetConformer()
    for i, p in enumerate(x.tolist()):
        conf.SetAtomPosition(i, p)


def _dihedrals(mol, rot) -> list[float]:
    """One dihedral about each rotatable bond (degrees)."""
    out = []
    for fixed, pivot in rot.axis.tolist():
        a = next(n.GetIdx() for n in mol.GetAtomWithIdx(fixed).GetNeighbors() if n.GetIdx() != pivot)
        b = next(n.GetIdx() for n in mol.GetAtomWithIdx(pivot).GetNeighbors() if n.GetIdx() != fixed)
        out.append(rdMolTransforms.GetDihedralDeg(mol.GetConformer(), a, fixed, pivot, b))
    return out


def test_a_twist_is_one_exact_rigid_turn_of_one_side():
    mol, x0, rot, index = _one_molecule("CC(=O)Nc1ccc(O)cc1")
    cfg = TwistConfig(probability=1.0, max_bonds=1, min_angle=30.0, max_angle=30.0)
    batch = torch.zeros(mol.GetNumAtoms(), dtype=torch.long)
    x = twist_x0(x0, batch, torch.tensor([0.1]), index, cfg, torch.Generator().manual_seed(5))
    assert torch.allclose(x.mean(0), torch.zeros(3, dtype=x.dtype), atol=1e-12)  # re-centred
    before = _dihedrals(mol, rot)
    _set(mol, x)
    moved = [abs(math.remainder(a - b, 360.0)) for a, b in zip(_dihedrals(mol, rot), before)]
    turned = [k for k, d in enumerate(moved) if d > 1e-6]
    assert len(turned) == 1, f"exactly one bond is turned: {moved}"
    k = turned[0]
    assert moved[k] == pytest.approx(30.0, abs=1e-6)
    # rigid: distances within the side and within the rest are unchanged, so are all bonds and angles
    side = torch.zeros(mol.GetNumAtoms(), dtype=torch.bool)
    side[torch.from_numpy(rot.side[rot.side_of == k])] = True
    d0, d1 = torch.cdist(x0, x0), torch.cdist(x, x)
    assert torch.allclose(d0[side][:, side], d1[side][:, side], atol=1e-9)
    assert torch.allclose(d0[~side][:, ~side], d1[~side][:, ~side], atol=1e-9)
    assert not torch.allclose(d0[side][:, ~side], d1[side][:, ~side], atol=1e-3)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        assert d1[i, j].item() == pytest.approx(d0[i, j].item(), abs=1e-9)


def test_only_drawn_low_noise_molecules_are_twisted_and_a_molecule_stays_intact():
    mols = [_mol(s) for s in ("CCCCO", "CC(=O)Nc1ccc(O)cc1", "CCCCO")]
    x0 = torch.cat([_coords(m) for m in mols])
    sizes = [m.GetNumAtoms() for m in mols]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    index = TorsionIndex.of([rotatable_bonds(m.GetNumAtoms(), _bonds(m)) for m in mols], sizes)
    cfg = TwistConfig(probability=1.0, max_noise=0.25, max_bonds=3)
    x = twist_x0(x0, batch, torch.tensor([0.1, 0.1, 0.5]), index, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(x[batch == 2], x0[batch == 2]), "σ/α above max_noise: untouched"
    for m in (0, 1):
        a, b = x0[batch == m], x[batch == m]
        assert not torch.allclose(a, b)
        for bond in mols[m].GetBonds():  # every bond of a twisted molecule keeps its length
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            assert (b[i] - b[j]).norm().item() == pytest.approx((a[i] - a[j]).norm().item(), abs=1e-9)
    # deterministic in the generator, and the same molecules drawn whatever max_noise lets through
    again = twist_x0(x0, batch, torch.tensor([0.1, 0.1, 0.5]), index, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_probability_zero_touches_nothing_not_even_the_generator():
    mol, x0, _, index = _one_molecule("CCCCO")
    gen = torch.Generator().manual_seed(1)
    state = gen.get_state()
    batch = torch.zeros(mol.GetNumAtoms(), dtype=torch.long)
    assert twist_x0(x0, batch, torch.tensor([0.01]), index, TwistConfig(), gen) is x0
    assert torch.equal(gen.get_state(), state)


def test_probability_decides_per_molecule():
    mols = [_mol("CCCCO", seed=s) for s in range(40)]
    sizes = [m.GetNumAtoms() for m in mols]
    x0 = torch.cat([_coords(m) for m in mols])
    batch = torch.repeat_interleave(torch.arange(40), torch.tensor(sizes))
    index = TorsionIndex.of([rotatable_bonds(m.GetNumAtoms(), _bonds(m)) for m in mols], sizes)
    x = twist_x0(x0, batch, torch.full((40,), 0.1), index, TwistConfig(probability=0.5), torch.Generator().manual_seed(2))
    twisted = sum(not torch.equal(x[batch == m], x0[batch == m]) for m in range(40))
    assert 8 <= twisted <= 32  # Binomial(40, 0.5): outside this with probability < 1e-4


def test_twist_config_checks_its_angles():
    with pytest.raises(ValidationError):
        TwistConfig(min_angle=40, max_angle=20)


def test_scale_with_noise_shrinks_turns_towards_the_clean_end():
    mol, x0, rot, index = _one_molecule("CC(=O)Nc1ccc(O)cc1")
    batch = torch.zeros(mol.GetNumAtoms(), dtype=torch.long)
    cfg = TwistConfig(probability=1.0, max_noise=0.2, max_bonds=1, min_angle=30.0, max_angle=30.0, scale_with_noise=True)
    before = _dihedrals(mol, rot)
    for ratio, want in ((0.05, 7.5), (0.2, 30.0)):
        x = twist_x0(x0, batch, torch.tensor([ratio]), index, cfg, torch.Generator().manual_seed(5))
        _set(mol, x)
        moved = sorted(abs(math.remainder(a - b, 360.0)) for a, b in zip(_dihedrals(mol, rot), before))
        assert moved[-1] == pytest.approx(want, abs=1e-6) and moved[-2] < 1e-6


def test_a_twist_without_the_batch_rotatable_bonds_is_an_error_not_a_silent_no_op():
    mol, x0, _, _ = _one_molecule("CCCCO")
    batch = torch.zeros(mol.GetNumAtoms(), dtype=torch.long)
    with pytest.raises(ValueError, match="rotatable bonds"):
        twist_x0(x0, batch, torch.tensor([0.1]), None, TwistConfig(probability=0.5), torch.Generator().manual_seed(0))

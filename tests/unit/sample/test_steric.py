"""Steric guidance (pipeline.sample.steric): pairs, the projection, the wrapper's time window, the wiring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rdkit import Chem

from pipeline.chem import conformer_coords
from pipeline.diffusion.schedules import get_schedule
from pipeline.model import ModelSpec
from pipeline.sample.generate import generate_detailed
from pipeline.sample.inputs import prepare_molecule
from pipeline.sample.steric import StericDenoiser, StericGuidanceConfig, project, steric_pairs, stop_time
from pipeline.validate.checks import check_conformers
from tests.helpers.sample import ReferenceDenoiser, etkdg_coords


def _mol(smiles: str):
    return prepare_molecule("--smiles", "1", smiles, Chem.MolFromSmiles(smiles), seed=0).mol


def _overlapping_dimer():
    """Two methanes 0.6 Å apart: every inter-molecular pair far inside its lower bound."""
    mol = _mol("C.C")
    x = etkdg_coords(mol, seed=1)
    a = [at.GetIdx() for at in mol.GetAtoms() if at.GetIdx() in Chem.GetMolFrags(mol)[0]]
    b = [i for i in range(mol.GetNumAtoms()) if i not in a]
    one = x[a] - x[a].mean(0)
    two = x[b] - x[b].mean(0)
    out = np.zeros_like(x)
    out[a], out[b] = one, two + np.array([0.6, 0.0, 0.0])
    return mol, out


def _tensors(pairs):
    return (torch.as_tensor(pairs.far), torch.as_tensor(pairs.lower), torch.as_tensor(pairs.local))


def test_pairs_by_topological_distance():
    mol = _mol("CCCCCC")  # hexane
    pairs = steric_pairs(mol, 4)
    topo = Chem.GetDistanceMatrix(mol)
    assert len(pairs.far) and all(topo[i, j] >= 4 for i, j in pairs.far)
    assert sum(1 for i in range(mol.GetNumAtoms()) for j in range(i + 1, mol.GetNumAtoms()) if topo[i, j] >= 4) == len(pairs.far)
    assert (pairs.lower > 1.0).all()
    assert len(pairs.local) == sum(1 for i in range(mol.GetNumAtoms()) for j in range(i + 1, mol.GetNumAtoms()) if 1 <= topo[i, j] <= 2)
    frags = steric_pairs(_mol("[Na+].[Cl-]"), 4)
    assert frags.far.tolist() == [[0, 1]] and len(frags.local) == 0


def test_projection_separates_and_keeps_local_geometry():
    mol, x = _overlapping_dimer()
    pairs = steric_pairs(mol, 4)
    far, lower, local = _tensors(pairs)
    y = project(torch.as_tensor(x), far, lower, local, iterations=200).numpy()
    d = lambda z, p: np.linalg.norm(z[p[:, 0]] - z[p[:, 1]], axis=1)  # noqa: E731
    assert (d(x, pairs.far) / pairs.lower).min() < 0.5
    assert (d(y, pairs.far) / pairs.lower).min() > 0.97
    np.testing.assert_allclose(d(y, pairs.local), d(x, pairs.local), atol=0.03)


def test_projection_leaves_a_clash_free_conformer_alone():
    mol = _mol("CCCCCC")
    x = torch.as_tensor(etkdg_coords(mol, seed=2))
    y = project(x, *_tensors(steric_pairs(mol, 4)), iterations=10)
    assert torch.equal(x, y)


def test_projection_is_equivariant():
    mol, x = _overlapping_dimer()
    t = _tensors(steric_pairs(mol, 4))
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    shift = np.array([1.0, -2.0, 0.5])
    a = project(torch.as_tensor(x @ q.T + shift), *t, iterations=5).numpy()
    b = project(torch.as_tensor(x), *t, iterations=5).numpy() @ q.T + shift
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_stop_time_is_the_noise_level():
    s = get_schedule("cosine")
    t = stop_time(s, 0.05)
    assert 0 < t < 0.5
    assert math.isclose(float(s.sigma(torch.tensor(t)) / s.alpha(torch.tensor(t))), 0.05, rel_tol=1e-4)
    assert stop_time(s, 0.0) == 0.0


def test_wrapper_guides_only_between_stop_and_onset():
    mol, x = _overlapping_dimer()
    pairs = steric_pairs(mol, 4)
    inner = lambda x_, t_, b_: torch.as_tensor(x)  # noqa: E731  (x̂₀: the overlapping dimer, whatever the input)
    g = StericDenoiser(inner, [pairs], [0], StericGuidanceConfig(onset=0.5), t_stop=0.1)
    for t, changed in [(0.6, False), (0.3, True), (0.09, False), (0.05, False)]:
        out = g(torch.zeros_like(torch.as_tensor(x)), torch.tensor([t]), None)
        assert (not torch.equal(out, torch.as_tensor(x))) is changed, t
    assert g.evaluations == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_generate_applies_it(enabled):
    mol, x = _overlapping_dimer()
    cfg = StericGuidanceConfig(enabled=enabled, stop_noise=0.0, iterations=200)  # the reference denoiser ignores its input: guide to the end
    out = generate_detailed([mol], ReferenceDenoiser([x]), ModelSpec(), 2, sampler="dpmpp_2m_sde", steps=8, steric=cfg,
                            progress=False, refine="none")
    assert out.errors == [] and conformer_coords(out.mols[0]).shape[0] == 2
    rows = check_conformers(mol, out.mols[0])
    assert all(r["no_clash"] for r in rows) is enabled


def _twist(x, mol, j, k, degrees):
    """``x`` with the side of bond j-k that holds k rotated about the bond axis."""
    from rdkit.Chem import rdMolTransforms
    from pipeline.chem import set_conformers

    m = Chem.Mol(mol)
    set_conformers(m, x[None])
    a = next(n.GetIdx() for n in m.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != k)
    b = next(n.GetIdx() for n in m.GetAtomWithIdx(k).GetNeighbors() if n.GetIdx() != j)
    conf = m.GetConformer()
    rdMolTransforms.SetDihedralDeg(conf, a, j, k, b, rdMolTransforms.GetDihedralDeg(conf, a, j, k, b) + degrees)
    return np.asarray(conf.GetPositions())


def test_twisted_double_bond_is_flattened():
    mol = _mol("C/C=C/C")
    pairs = steric_pairs(mol, 4)
    assert pairs.flat.shape == (1, 6)
    (j, k), = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds() if b.GetBondTypeAsDouble() == 2]
    x = _twist(etkdg_coords(mol, seed=0), mol, j, k, 40.0)
    height = lambda z: np.abs(np.linalg.svd(z - z.mean(0))[2][-1] @ (z - z.mean(0)).T).max()  # noqa: E731
    group = pairs.flat[0]
    assert height(x[group]) > 0.3
    far, lower, local = _tensors(pairs)
    y = project(torch.as_tensor(x), far, lower, local, iterations=200, flat=torch.as_tensor(pairs.flat)).numpy()
    assert height(y[group]) < 0.1
    d = lambda z, p: np.linalg.norm(z[p[:, 0]] - z[p[:, 1]], axis=1)  # noqa: E731
    np.testing.assert_allclose(d(y, pairs.local), d(x, pairs.local), atol=0.05)
    assert not np.allclose(y, project(torch.as_tensor(x), far, lower, local, iterations=200).numpy())  # without the groups: untouched


def test_a_diverged_molecule_does_not_break_the_batch():
    mol = _mol("C/C=C/C")
    other, x_other = _overlapping_dimer()
    pa, pb = steric_pairs(mol, 4), steric_pairs(other, 4)
    n = mol.GetNumAtoms()
    x = np.concatenate([np.full((n, 3), np.nan), x_other])
    far = np.concatenate([pa.far, pb.far + n])
    lower = np.concatenate([pa.lower, pb.lower])
    local = np.concatenate([pa.local, pb.local + n])
    y = project(torch.as_tensor(x), torch.as_tensor(far), torch.as_tensor(lower), torch.as_tensor(local), iterations=200,
                flat=torch.as_tensor(pa.flat)).numpy()
    assert np.isnan(y[:n]).all() and np.isfinite(y[n:]).all()
    d = np.linalg.norm(y[pb.far[:, 0] + n] - y[pb.far[:, 1] + n], axis=1)
    assert (d / pb.lower).min() > 0.97


def test_flat_groups_can_be_guided_past_the_far_pairs_stop():
    """``flat_stop_noise``: below ``stop_noise`` the far pairs are left alone, the C=C groups still flattened."""
    mol = _mol("C/C=C/CCCC")
    pairs = steric_pairs(mol, 4)
    (j, k), = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds() if b.GetBondTypeAsDouble() == 2]
    x = torch.as_tensor(_twist(etkdg_coords(mol, seed=0), mol, j, k, 40.0))
    # pull one far pair inside its lower bound too, so "far pairs guided" is visible
    (a, b), low = pairs.far[0], pairs.lower[0]
    x[b] = x[a] + (x[b] - x[a]) * (0.5 * low / float((x[b] - x[a]).norm()))
    inner = lambda x_, t_, b_: x.clone()  # noqa: E731
    height = lambda z: float(np.abs(np.linalg.svd(z - z.mean(0))[2][-1] @ (z - z.mean(0)).T).max())  # noqa: E731
    group = pairs.flat[0]
    cfg = StericGuidanceConfig(onset=0.5, iterations=200, flat_stop_noise=0.0, local_slack=None)  # the bond clamp has its own test
    g = StericDenoiser(inner, [pairs], [0], cfg, t_stop=0.1, t_flat_stop=0.0)
    late = g(torch.zeros_like(x), torch.tensor([0.05]), None).numpy()  # below stop: flat only
    early = g(torch.zeros_like(x), torch.tensor([0.3]), None).numpy()  # both
    d_far = lambda z: float(np.linalg.norm(z[a] - z[b]))  # noqa: E731
    assert height(x.numpy()[group]) > 0.3 and height(late[group]) < 0.1 and height(early[group]) < 0.1
    assert d_far(late) < 0.6 * low < 0.95 * low < d_far(early)
    assert g.evaluations == 2
    unset = StericDenoiser(inner, [pairs], [0], StericGuidanceConfig(onset=0.5), t_stop=0.1)  # the default: stop together
    assert torch.equal(unset(torch.zeros_like(x), torch.tensor([0.05]), None), x) and unset.evaluations == 0


def test_local_slack_brings_a_compressed_bond_back_within_its_bounds():
    """``local_slack``: a bond squeezed far below its distance-geometry lower bound is pulled towards it at every
    guided evaluation, late in the trajectory too (its neighbours' 1-3 distances are kept, so one evaluation
    goes part of the way; a few, as in a sampler, reach the widened bounds); without the key nothing moves."""
    mol = _mol("CC(C)(C)CO")
    pairs = steric_pairs(mol, 4)
    assert pairs.local_bounds.shape == (len(pairs.local), 2) and (pairs.local_bounds[:, 0] <= pairs.local_bounds[:, 1]).all()
    x = torch.as_tensor(etkdg_coords(mol, seed=0))
    heavy_bond = next(r for r, (i, j) in enumerate(pairs.local)
                      if mol.GetBondBetweenAtoms(int(i), int(j)) is not None and min(mol.GetAtomWithIdx(int(i)).GetAtomicNum(), mol.GetAtomWithIdx(int(j)).GetAtomicNum()) > 1)
    i, j = (int(v) for v in pairs.local[heavy_bond])
    x[j] = x[i] + (x[j] - x[i]) * 0.8  # a C-C bond 20 % short, as the network leaves some in crowded molecules
    lo, slack = float(pairs.local_bounds[heavy_bond, 0]), 0.05
    d = lambda z: (z[pairs.local[:, 0]] - z[pairs.local[:, 1]]).norm(dim=1).numpy()  # noqa: E731
    short = lo - slack - d(x)[heavy_bond]
    assert short > 0.2
    cfg = StericGuidanceConfig(onset=0.5, iterations=100, local_slack=slack)
    y = x
    for k in range(6):  # x̂₀ = its input, as at low noise: below stop_noise the far pairs are left alone, bonds still repaired
        y = StericDenoiser(lambda x_, t_, b_: x_.clone(), [pairs], [0], cfg, t_stop=0.1, t_flat_stop=0.0)(y, torch.tensor([0.02]), None)
        if k == 0:
            assert lo - slack - d(y)[heavy_bond] < short / 2
    assert (d(y) > pairs.local_bounds[:, 0] - slack - 0.01).all() and (d(y) < pairs.local_bounds[:, 1] + slack + 0.01).all()
    assert float((y - x).norm(dim=1).pow(2).mean().sqrt()) < 0.1  # a local repair, not a reshaping of the molecule
    off = StericDenoiser(lambda x_, t_, b_: x.clone(), [pairs], [0], StericGuidanceConfig(onset=0.5, iterations=100, local_slack=None),
                         t_stop=0.1, t_flat_stop=0.0)
    assert torch.equal(off(torch.zeros_like(x), torch.tensor([0.02]), None), x)
    later = StericDenoiser(lambda x_, t_, b_: x.clone(), [pairs], [0], cfg, t_stop=0.1, t_flat_stop=0.0, t_local_onset=0.01)
    assert torch.equal(later(torch.zeros_like(x), torch.tensor([0.02]), None), x)  # before local_onset_noise: not yet
    assert not torch.equal(later(torch.zeros_like(x), torch.tensor([0.005]), None), x)

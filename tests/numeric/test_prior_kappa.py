"""The bending term ``J = c (L + κL² + λI)``: exact factor, fragments, closed-form statistics, calibration of κ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.prior import PriorBatch, PriorParams, graph_laplacian, load_prior_params, prior_factor
from pipeline.prior.calibrate import calibrate, data_scale, molecule_modes, prior_scale
from pipeline.prior.graph import centering_matrix

CHAIN = (8, np.array([[0, 1], [1, 2], [2, 3], [0, 4], [0, 5], [3, 6], [3, 7]]))
RING = (9, np.array([[i, (i + 1) % 6] for i in range(6)] + [[0, 6], [2, 7], [4, 8]]))
SALT = (7, np.array([[0, 1], [1, 2], [1, 3], [5, 6]]))  # 3 fragments: 4 atoms, lone ion 4, a 2-atom piece
GRAPHS = [CHAIN, RING, SALT, (2, np.array([[0, 1]])), (1, None)]


def _sigma_direct(n, bonds, c, lam, kappa):
    """``P J⁻¹ P`` formed explicitly (pseudo-inverse when J is singular)."""
    lap = graph_laplacian(n, bonds)
    j = c * (lap + kappa * lap @ lap + lam * np.eye(n))
    p = centering_matrix(n)
    return p @ np.linalg.pinv(j, hermitian=True) @ p


@pytest.mark.parametrize("n, bonds", GRAPHS)
@pytest.mark.parametrize("kappa", [0.7, 30.0])
def test_factor_is_exact_centred_and_full_rank(n, bonds, kappa):
    R, d = prior_factor(n, bonds, c=0.3, lam=0.05, kappa=kappa)
    np.testing.assert_allclose(R @ R.T, _sigma_direct(n, bonds, 0.3, 0.05, kappa), atol=1e-10, rtol=1e-8)
    np.testing.assert_allclose(R.sum(axis=0), 0.0, atol=1e-10)
    assert np.linalg.matrix_rank(R @ R.T, tol=1e-9) == n - 1
    lap = graph_laplacian(n, bonds)
    np.testing.assert_allclose(np.sort(d), np.sort(np.linalg.eigvalsh(0.3 * (lap + kappa * lap @ lap + 0.05 * np.eye(n)))), rtol=1e-9, atol=1e-12)


def test_connected_graph_with_lambda_zero_and_bending():
    n, bonds = RING
    R, _ = prior_factor(n, bonds, c=0.5, lam=0.0, kappa=4.0)
    np.testing.assert_allclose(R @ R.T, _sigma_direct(n, bonds, 0.5, 0.0, 4.0), atol=1e-10)
    with pytest.raises(ValueError, match="fragments"):
        prior_factor(*SALT, c=0.5, lam=0.0, kappa=4.0)
    with pytest.raises(ValueError, match="kappa"):
        prior_factor(n, bonds, c=0.5, lam=0.1, kappa=-1.0)


def test_bending_leaves_fragment_centroids_to_lambda_and_stiffens_the_rest():
    # L² has the same null space as L (per-fragment constants): centroid separation is 3(1/n1+1/n2)/(cλ) for any κ
    n, bonds = SALT
    c, lam = 0.4, 0.05
    v = np.zeros(n)
    v[[0, 1, 2, 3]], v[4] = 1 / 4, -1.0  # centroid of the 4-atom fragment minus the lone ion
    seps = [float(v @ prior_factor(n, bonds, c, lam, kappa=k)[0] @ prior_factor(n, bonds, c, lam, kappa=k)[0].T @ v) for k in (0.0, 3.0, 100.0)]
    np.testing.assert_allclose(seps, (1 / 4 + 1) / (c * lam), rtol=1e-8)
    # ... while the internal spread of the 4-atom fragment shrinks as κ grows (at fixed c)
    inner = [np.trace(prior_factor(n, bonds, c, lam, kappa=k)[0][:4] @ prior_factor(n, bonds, c, lam, kappa=k)[0][:4].T) for k in (0.0, 3.0)]
    assert inner[1] < inner[0]


def test_params_factor_json_round_trip_and_old_prior_json(tmp_path):
    p = PriorParams(c=0.2, lam=0.05, kappa=12.5, weighted=True)
    R, d = p.factor(*CHAIN)
    R2, d2 = prior_factor(*CHAIN, c=0.2, lam=0.05, weighted=True, kappa=12.5)
    np.testing.assert_array_equal(R, R2)
    np.testing.assert_array_equal(d, d2)
    assert PriorParams.model_validate_json(p.model_dump_json()) == p
    (tmp_path / "prior.json").write_text(json.dumps({"params": {"c": 1.5, "lam": 0.05, "weighted": False}}))
    old = load_prior_params(tmp_path)
    assert old.kappa == 0.0 and old.c == 1.5
    with pytest.raises(ValueError):
        PriorParams(kappa=-0.1)


def test_prior_batch_uses_kappa():
    p = PriorParams(c=0.2, lam=0.05, kappa=8.0)
    pb = PriorBatch.from_graphs([CHAIN[0], RING[0]], [CHAIN[1], RING[1]], p, dtype=torch.float64)
    R, _ = prior_factor(*RING, c=0.2, lam=0.05, kappa=8.0)
    np.testing.assert_allclose(pb.R[1, : RING[0], : RING[0]].numpy(), R, atol=1e-12)


def _draws(params: PriorParams, k: int, seed: int, graphs=GRAPHS):
    rng = np.random.default_rng(seed)
    return [params.factor(n, b)[0] @ rng.standard_normal((k, n, 3)) for n, b in graphs]


def test_closed_form_statistics_with_bending_match_sampling():
    params = PriorParams(c=0.25, lam=0.05, kappa=6.0)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    bond, rg2 = prior_scale(modes, params)
    scales = [data_scale(x, b) for x, (_, b) in zip(_draws(params, 20000, 0), GRAPHS)]
    n_bonds = sum(m.n_bonds for m in modes)
    assert sum(s.bond_d2_sum for s in scales) / n_bonds == pytest.approx(bond, rel=0.02)
    assert np.mean([s.rg2 for s in scales]) == pytest.approx(rg2, rel=0.02)
    # fragment separation (SALT: the 4-atom fragment vs the lone ion and vs the 2-atom piece)
    salt = scales[2]
    expect = [3 * (1 / 4 + 1 / 1) / (params.c * params.lam), 3 * (1 / 4 + 1 / 2) / (params.c * params.lam)]
    np.testing.assert_allclose(salt.frag_d2, expect, rtol=0.03)
    assert modes[2].frag_pairs == ((4, 1), (4, 2))


@pytest.mark.parametrize("c_target", ["bonds", "rg"])
def test_calibration_recovers_c_and_kappa(c_target):
    truth = PriorParams(c=0.2, lam=0.05, kappa=5.0)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    scales = [data_scale(x, b) for x, (_, b) in zip(_draws(truth, 4000, 1), GRAPHS)]
    res = calibrate(modes, scales, False, np.geomspace(0.05, 10, 31), 0.1, c_target, np.geomspace(0.01, 1000, 41))
    st = res.stats
    assert st["fit"] == "kappa" and st["kappa_fitted"] and not st["kappa_at_bound"] and not st["lam_at_bound"]
    assert res.params.lam == pytest.approx(0.05)  # λ stays at its floor
    assert res.params.kappa == pytest.approx(truth.kappa, rel=0.15)
    assert res.params.c == pytest.approx(truth.c, rel=0.05)
    # bisection: both statistics match the data (not just to the grid step)
    assert st["prior_bond_rms"] == pytest.approx(st["data_bond_rms"], rel=1e-6)
    assert st["prior_rg_rms"] == pytest.approx(st["data_rg_rms"], rel=1e-6)
    assert st["sigma_data"] == pytest.approx(1.0, rel=1e-6)
    assert st["curve"][0]["kappa"] == 0.0 and len(st["curve"]) == 42


def test_kappa_fit_falls_back_to_lambda_when_data_are_compact_and_flags_the_bound():
    draws = _draws(PriorParams(c=1.3, lam=0.4), 3000, 2)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    scales = [data_scale(x, b) for x, (_, b) in zip(draws, GRAPHS)]
    kgrid = np.geomspace(0.01, 100, 21)
    # data generated with λ = 0.4 > floor 0.05 and κ = 0: more compact than any κ ≥ 0 at the floor -> λ is fitted
    res = calibrate(modes, scales, False, np.geomspace(0.05, 10, 61), 0.1, "bonds", kgrid)
    assert res.stats["fit"] == "lam" and res.params.kappa == 0.0
    assert res.params.lam == pytest.approx(0.4, rel=0.15)
    # data far more extended than κ_max allows: κ at the end of its grid, flagged
    stretched = [type(s)(s.bond_d2_sum, 400 * s.rg2) for s in scales]
    res = calibrate(modes, stretched, False, None, 0.05, "bonds", kgrid)
    assert res.stats["kappa_at_bound"] and res.params.kappa == pytest.approx(100.0)
    assert res.stats["prior_rg_rms"] < res.stats["data_rg_rms"]


# a few drug-like molecules (ETKDG conformers) — the data the bending term is for
DRUGS = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",  # ibuprofen
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "CN(C)CCOC(c1ccccc1)c1ccccc1",  # diphenhydramine
    "OC(=O)CCCCCCCCC",  # decanoic acid
]


@pytest.fixture(scope="module")
def etkdg():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from pipeline.chem import bonds_array, conformer_coords

    out = []
    for smi in DRUGS:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        assert len(AllChem.EmbedMultipleConfs(mol, numConfs=4, randomSeed=11)) == 4, smi
        out.append((mol.GetNumAtoms(), bonds_array(mol), conformer_coords(mol)))
    return out


def test_calibrated_prior_matches_drug_like_radius_of_gyration(etkdg):
    modes = [molecule_modes(n, b) for n, b, _ in etkdg]
    scales = [data_scale(x, b) for n, b, x in etkdg]
    res = calibrate(modes, scales, False, np.geomspace(0.05, 10, 61), 0.1, "bonds", np.geomspace(0.01, 1000, 41))
    flat = calibrate(modes, scales, False, np.geomspace(0.05, 10, 61), 0.1, "bonds")  # the κ = 0 calibration
    assert res.params.kappa > 0 and flat.params.kappa == 0
    # sample the calibrated prior end to end (PriorBatch) and compare Rg and bond lengths with the data
    k = 500
    pb = PriorBatch.from_graphs([n for n, _, _ in etkdg] * k, [b for _, b, _ in etkdg] * k, res.params, dtype=torch.float64)
    x = pb.sample(torch.Generator().manual_seed(3)).numpy()
    rg2, bond2, nb = [], 0.0, 0
    for m in range(pb.num_molecules):
        xm = x[int(pb.ptr[m]) : int(pb.ptr[m + 1])]
        b = etkdg[m % len(etkdg)][1]
        rg2.append((xm**2).sum(-1).mean())
        bond2 += ((xm[b[:, 0]] - xm[b[:, 1]]) ** 2).sum()
        nb += len(b)
    data_rg = np.sqrt(np.mean([s.rg2 for s in scales]))
    data_bond = np.sqrt(sum(s.bond_d2_sum for s in scales) / sum(m.n_bonds for m in modes))
    ratio = np.sqrt(np.mean(rg2)) / data_rg
    assert abs(ratio - 1) < 0.05, f"calibrated prior Rg / data Rg = {ratio:.3f}"
    assert np.sqrt(bond2 / nb) / data_bond == pytest.approx(1.0, abs=0.05)
    # without bending, the same bond lengths give a much more compact prior
    assert flat.stats["prior_rg_rms"] / flat.stats["data_rg_rms"] < 0.8

"""Σ = RRᵀ from bonds: exactness, centring, rank, fragments, batching (float64 unless stated)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.prior import PriorBatch, PriorParams, graph_laplacian, prior_factor
from pipeline.prior.graph import centering_matrix, n_components

RING6 = np.array([[i, (i + 1) % 6, 12] for i in range(6)])
CHAIN4 = np.array([[0, 1, 1], [1, 2, 2], [2, 3, 1]])
SALT = np.array([[0, 1, 1], [1, 2, 1]])  # 3-atom fragment + 1 lone ion (atom 3)
GRAPHS = {"atom": (1, None), "diatomic": (2, np.array([[0, 1, 3]])), "ring": (6, RING6), "chain": (4, CHAIN4), "salt": (4, SALT)}


def _sigma_direct(n, bonds, c, lam, weighted=False):
    p = centering_matrix(n)
    return p @ np.linalg.inv(c * (graph_laplacian(n, bonds, weighted) + lam * np.eye(n))) @ p


def test_laplacian_rows_sum_to_zero_and_weights():
    lap = graph_laplacian(4, CHAIN4)
    assert np.allclose(lap.sum(axis=1), 0)
    assert lap[1, 2] == -1 and lap[1, 1] == 2
    wl = graph_laplacian(4, CHAIN4, weighted=True)
    assert wl[1, 2] == -2 and wl[1, 1] == 3  # double bond weighs 2
    assert graph_laplacian(6, RING6, weighted=True)[0, 1] == -1.5  # aromatic
    assert np.allclose(graph_laplacian(4, CHAIN4[:, :2]), lap)  # [B,2] bonds work too


@pytest.mark.parametrize("name", list(GRAPHS))
@pytest.mark.parametrize("weighted", [False, True])
def test_RRt_equals_PJinvP_and_is_centred(name, weighted):
    n, bonds = GRAPHS[name]
    c, lam = 1.7, 0.25
    R, d = prior_factor(n, bonds, c, lam, weighted)
    sigma = _sigma_direct(n, bonds, c, lam, weighted)
    assert np.allclose(R @ R.T, sigma, atol=1e-12, rtol=0)
    assert np.allclose(R.sum(axis=0), 0, atol=1e-12)  # every R z is centred
    assert np.allclose(np.sort(d), np.sort(np.linalg.eigvalsh(c * (graph_laplacian(n, bonds, weighted) + lam * np.eye(n)))))
    assert np.linalg.matrix_rank(R, tol=1e-9) == n - 1  # only the centroid is removed, fragments included


def test_single_atom_has_zero_covariance():
    R, d = prior_factor(1, None, 2.0, 0.1)
    assert R.shape == (1, 1) and R[0, 0] == 0 and d[0] == pytest.approx(0.2)


def test_tree_bond_variance_is_3_over_c_at_lambda_zero():
    # effective resistance of a tree edge is 1, so E|x_i - x_j|^2 = 3/c exactly when λ = 0
    R, _ = prior_factor(4, CHAIN4, 2.5, 0.0)
    sigma = R @ R.T
    for i, j, _ in CHAIN4:
        assert 3 * (sigma[i, i] + sigma[j, j] - 2 * sigma[i, j]) == pytest.approx(3 / 2.5, rel=1e-10)
    assert np.linalg.matrix_rank(R, tol=1e-9) == 3


def test_disconnected_needs_positive_lambda():
    assert n_components(4, SALT) == 2
    with pytest.raises(ValueError, match="fragments"):
        prior_factor(4, SALT, 2.0, 0.0)


def test_fragment_separation_follows_lambda():
    # the ion (atom 3) is its own fragment: its distance to the other fragment's centroid has
    # per-axis variance 1/(cλ) · (1/n1 + 1/n2) exactly (the fragment-indicator mode of J).
    c = 2.0
    for lam in (0.05, 0.5):
        R, _ = prior_factor(4, SALT, c, lam)
        v = np.array([-1 / 3, -1 / 3, -1 / 3, 1.0])  # ion minus centroid of the 3-atom fragment
        var = v @ (R @ R.T) @ v
        assert var == pytest.approx((1 / 3 + 1) / (c * lam), rel=1e-10)


@pytest.mark.parametrize("bad, msg", [(np.array([[0, 4]]), "out of range"), (np.array([[1, 1]]), "self-bond"), (np.zeros((2, 4)), "shape")])
def test_bad_bonds_are_clear_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        graph_laplacian(4, bad)


def _batch(dtype=torch.float64):
    names = ["ring", "atom", "salt", "chain", "diatomic"]
    return names, PriorBatch.from_graphs([GRAPHS[k][0] for k in names], [GRAPHS[k][1] for k in names], PriorParams(c=1.5, lam=0.3), dtype=dtype)


def test_prior_batch_layout_and_apply_R_matches_dense():
    names, pb = _batch()
    assert pb.n_atoms.tolist() == [6, 1, 4, 4, 2] and pb.ptr.tolist() == [0, 6, 7, 11, 15, 17]
    assert pb.batch.tolist() == [0] * 6 + [1] + [2] * 4 + [3] * 4 + [4] * 2
    assert pb.R.shape == (5, 6, 6) and pb.mask.sum().item() == 17
    z = torch.randn(17, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = pb.apply_R(z)
    for m, k in enumerate(names):
        n, bonds = GRAPHS[k]
        R, _ = prior_factor(n, bonds, 1.5, 0.3)
        a, b = int(pb.ptr[m]), int(pb.ptr[m + 1])
        assert torch.allclose(out[a:b], torch.from_numpy(R) @ z[a:b], atol=1e-12)
        assert torch.allclose(out[a:b].mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(pb.apply_sigma(z), pb.apply_R(pb.apply_Rt(z)))


def test_prior_batch_sample_covariance_is_sigma():
    # 6000 draws of the ring: sample covariance of atom coordinates vs Σ, entrywise within 6 standard errors
    n, bonds = GRAPHS["ring"]
    pb = PriorBatch.from_graphs([n] * 2000, [bonds] * 2000, PriorParams(c=1.5, lam=0.3), dtype=torch.float64)
    x = pb.sample(torch.Generator().manual_seed(1)).reshape(2000, 6, 3).permute(0, 2, 1).reshape(-1, 6)
    emp = (x.T @ x / x.shape[0]).numpy()
    sigma = _sigma_direct(n, bonds, 1.5, 0.3)
    se = np.sqrt((sigma**2 + np.outer(np.diag(sigma), np.diag(sigma))) / x.shape[0])  # Var of a Wishart entry
    assert np.all(np.abs(emp - sigma) < 6 * se + 1e-12)


def test_generator_makes_draws_reproducible_and_center_works():
    _, pb = _batch()
    a = pb.sample(torch.Generator().manual_seed(3))
    b = pb.sample(torch.Generator().manual_seed(3))
    c = pb.sample(torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    x = torch.randn(17, 3, dtype=torch.float64) + 5.0
    xc = pb.center(x)
    for m in range(5):
        sl = slice(int(pb.ptr[m]), int(pb.ptr[m + 1]))
        assert torch.allclose(xc[sl].mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(xc[sl] - x[sl], (xc[sl] - x[sl])[:1].expand_as(x[sl]))  # a pure translation


def test_float32_and_to():
    _, pb64 = _batch()
    pb32 = pb64.to(dtype=torch.float32)
    assert pb32.R.dtype == torch.float32 and pb32.batch.dtype == torch.long and pb32.mask.dtype == torch.bool
    z = torch.randn(17, 3, dtype=torch.float64)
    assert torch.allclose(pb32.apply_R(z.float()).double(), pb64.apply_R(z), atol=1e-5)
    _, pb_direct = _batch(torch.float32)
    assert torch.equal(pb_direct.R, pb32.R)
    with pytest.raises(ValueError, match="expected"):
        pb32.apply_R(torch.zeros(16, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (same code path as CPU)")
def test_cuda_with_cpu_generator():
    _, pb = _batch(torch.float32)
    pbc = pb.to("cuda")
    x = pbc.sample(torch.Generator().manual_seed(0))
    assert x.is_cuda and torch.allclose(x.cpu(), pb.sample(torch.Generator().manual_seed(0)), atol=1e-5)


def test_copies_of_one_molecule_share_the_factor_and_mixed_bond_layouts_work():
    n, bonds = GRAPHS["chain"]
    pb = PriorBatch.from_graphs([n, n, 6, n], [bonds, bonds.copy(), RING6, bonds[:, :2]], PriorParams(), dtype=torch.float64)
    R, _ = prior_factor(n, bonds, PriorParams().c, PriorParams().lam)
    for m in (0, 1, 3):
        assert torch.allclose(pb.R[m, :n, :n], torch.from_numpy(R), atol=1e-12)
    assert not torch.allclose(pb.R[2, :4, :4], pb.R[0, :4, :4])


def test_sigma_is_permutation_equivariant():
    # relabelling atoms (and the bonds with them) permutes Σ: Σ(π G) = Π Σ(G) Πᵀ
    n, bonds = GRAPHS["salt"][0] + 2, np.array([[0, 1, 1], [1, 2, 2], [2, 4, 1], [3, 5, 1]])
    perm = np.random.default_rng(0).permutation(n)  # new index of old atom a is perm[a]
    pb = np.stack([perm[bonds[:, 0]], perm[bonds[:, 1]], bonds[:, 2]], axis=1)
    R, _ = prior_factor(n, bonds, 1.3, 0.2, weighted=True)
    Rp, _ = prior_factor(n, pb, 1.3, 0.2, weighted=True)
    P = np.eye(n)[perm].T  # P @ e_a = e_perm[a]
    assert np.allclose(Rp @ Rp.T, P @ (R @ R.T) @ P.T, atol=1e-12)

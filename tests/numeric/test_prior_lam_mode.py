"""``lam_mode="fragments"``: λ on the fragment-centroid modes only (J = c (L + κL² + λ(Π₀ − 11ᵀ/N))).

Checked against J built independently from its definition (Π₀ from the fragment indicator vectors, not
from ``fragment_basis``), on connected graphs and on salts with degenerate null spaces.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.model.spec import ModelSpec
from pipeline.prior import PriorBatch, PriorParams, graph_laplacian, load_prior_params, prior_factor
from pipeline.prior.calibrate import calibrate, data_scale, molecule_modes
from pipeline.prior.config import FRAGMENTS_DEFAULT_RMS, PriorConfig
from pipeline.prior.graph import centering_matrix

CHAIN = (8, np.array([[0, 1], [1, 2], [2, 3], [0, 4], [0, 5], [3, 6], [3, 7]]))
RING = (9, np.array([[i, (i + 1) % 6, 12] for i in range(6)] + [[0, 6, 1], [2, 7, 1], [4, 8, 1]]))  # aromatic ring
SALT = (7, np.array([[0, 1], [1, 2], [1, 3], [5, 6]]))  # 3 fragments: 4 atoms, lone ion 4, a 2-atom piece
IONS = (6, np.array([[0, 1], [0, 2]]))  # 4 fragments, three of them lone ions: a 3-fold degenerate centroid space
CONNECTED = [CHAIN, RING]
SALTS = [SALT, IONS]
KAPPA_GRID = np.geomspace(0.01, 1000, 41)


def _indicators(n, bonds):
    """[N, k] 0/1 fragment indicators by flood fill (independent of graph.fragment_labels)."""
    adj = {i: set() for i in range(n)}
    for i, j, *_ in np.asarray(bonds).tolist():
        adj[i].add(j), adj[j].add(i)
    label, k = -np.ones(n, dtype=int), 0
    for s in range(n):
        if label[s] < 0:
            stack = [s]
            while stack:
                a = stack.pop()
                if label[a] < 0:
                    label[a] = k
                    stack.extend(adj[a])
            k += 1
    return (label[:, None] == np.arange(k)[None, :]).astype(float)


def _j(n, bonds, c, lam, kappa, mode, weighted=False):
    lap = graph_laplacian(n, bonds, weighted)
    if mode == "identity":
        m = np.eye(n)
    else:
        e = _indicators(n, bonds)
        m = e @ np.diag(1 / e.sum(0)) @ e.T - np.full((n, n), 1 / n)  # Π₀ − 11ᵀ/N
    return c * (lap + kappa * lap @ lap + lam * m)


@pytest.mark.parametrize("n, bonds", CONNECTED + SALTS)
@pytest.mark.parametrize("mode", ["identity", "fragments"])
@pytest.mark.parametrize("weighted", [False, True])
def test_factor_is_exact_and_inverts_j_on_the_centred_space(n, bonds, mode, weighted):
    c, lam, kappa = 0.3, 0.4, 6.0
    R, d = prior_factor(n, bonds, c, lam, weighted, kappa, mode)
    sigma = R @ R.T
    j, p = _j(n, bonds, c, lam, kappa, mode, weighted), centering_matrix(n)
    np.testing.assert_allclose(j @ sigma, p, atol=1e-9)  # J Σ = P
    np.testing.assert_allclose(sigma @ j, p, atol=1e-9)
    np.testing.assert_allclose(sigma, p @ np.linalg.pinv(j, hermitian=True) @ p, atol=1e-10)
    np.testing.assert_allclose(R.sum(axis=0), 0.0, atol=1e-12)  # every R z is centred
    assert np.linalg.matrix_rank(sigma, tol=1e-9) == n - 1
    np.testing.assert_allclose(np.sort(d), np.sort(np.linalg.eigvalsh(j)), atol=1e-10)  # d: the spectrum of J


@pytest.mark.parametrize("n, bonds", CONNECTED)
@pytest.mark.parametrize("kappa", [0.0, 12.0])
def test_connected_molecule_does_not_feel_lambda(n, bonds, kappa):
    ref, d_ref = prior_factor(n, bonds, 0.2, 0.0, kappa=kappa)  # identity mode, λ = 0
    for lam in (0.0, 0.05, 7.0):
        R, d = prior_factor(n, bonds, 0.2, lam, kappa=kappa, lam_mode="fragments")
        np.testing.assert_allclose(R @ R.T, ref @ ref.T, atol=1e-12)
        np.testing.assert_allclose(np.sort(d), np.sort(d_ref), atol=1e-10)
    # ... while in identity mode λ compacts it
    ident = prior_factor(n, bonds, 0.2, 7.0, kappa=kappa)[0]
    assert np.trace(ident @ ident.T) < 0.9 * np.trace(ref @ ref.T)


@pytest.mark.parametrize("n, bonds", SALTS)
def test_salt_centroids_follow_lambda_and_fragments_do_not(n, bonds):
    e = _indicators(n, bonds)
    c, lam = 0.25, 0.6
    for kappa in (0.0, 9.0):
        sig = {m: (lambda r: r @ r.T)(prior_factor(n, bonds, c, lam, kappa=kappa, lam_mode=m)[0]) for m in ("identity", "fragments")}
        for a in range(e.shape[1]):
            for b in range(a + 1, e.shape[1]):
                v = e[:, a] / e[:, a].sum() - e[:, b] / e[:, b].sum()  # centroid difference of fragments a, b
                exact = (1 / e[:, a].sum() + 1 / e[:, b].sum()) / (c * lam)
                assert v @ sig["fragments"] @ v == pytest.approx(exact, rel=1e-9)
                assert v @ sig["identity"] @ v == pytest.approx(exact, rel=1e-9)  # the same separation in both modes
        # within each fragment (centroid removed) the fragments-mode Σ does not depend on λ ...
        intra = lambda s: s - e @ np.diag(1 / e.sum(0)) @ e.T @ s @ e @ np.diag(1 / e.sum(0)) @ e.T  # noqa: E731
        other = (lambda r: r @ r.T)(prior_factor(n, bonds, c, 50 * lam, kappa=kappa, lam_mode="fragments")[0])
        np.testing.assert_allclose(intra(other), intra(sig["fragments"]), atol=1e-10)
        # ... and equals the pseudo-inverse of the λ-free J on that space
        free = np.linalg.pinv(_j(n, bonds, c, 0.0, kappa, "identity"), hermitian=True)
        np.testing.assert_allclose(intra(sig["fragments"]), intra(free), atol=1e-10)


def test_sampled_centroid_distance_matches_the_closed_form():
    n, bonds = SALT
    params = PriorParams(c=0.3, lam=0.5, kappa=4.0, lam_mode="fragments")
    draws = 30000
    prior = PriorBatch.from_graphs([n] * draws + [CHAIN[0]], [bonds] * draws + [CHAIN[1]], params, dtype=torch.float64)
    x = prior.sample(torch.Generator().manual_seed(3))[: draws * n].reshape(draws, n, 3).numpy()
    for big, other in (([0, 1, 2, 3], [4]), ([0, 1, 2, 3], [5, 6]), ([4], [5, 6])):
        d2 = ((x[:, big].mean(1) - x[:, other].mean(1)) ** 2).sum(-1)
        expect = 3 * (1 / len(big) + 1 / len(other)) / (params.c * params.lam)
        # |x̄₁ − x̄₂|² = expect · χ²₃/3: the sample mean has relative sd sqrt(2/(3 draws)) ≈ 0.0047
        assert d2.mean() / expect == pytest.approx(1.0, abs=4 * np.sqrt(2 / (3 * draws)))


def test_lambda_zero_on_a_salt_and_bad_mode_are_errors():
    with pytest.raises(ValueError, match="fragments"):
        prior_factor(*SALT, c=0.3, lam=0.0, lam_mode="fragments")
    with pytest.raises(ValueError, match="lam_mode"):
        prior_factor(*CHAIN, c=0.3, lam=0.1, lam_mode="ions")
    with pytest.raises(ValueError):
        PriorParams(lam_mode="ions")


# -- calibration ----------------------------------------------------------------------------------


def _data(params: PriorParams, graphs, draws=20000, seed=7):
    """Modes and data statistics of ``draws`` prior samples per graph (c, κ, λ recovered to ~1.5% sd over seeds)."""
    rng = np.random.default_rng(seed)
    x = [params.factor(n, b)[0] @ rng.standard_normal((draws, n, 3)) for n, b in graphs]
    return [molecule_modes(n, b) for n, b in graphs], [data_scale(xi, b) for xi, (_, b) in zip(x, graphs)]


@pytest.fixture(scope="module")
def connected():
    graphs = CONNECTED + [(2, np.array([[0, 1]])), (1, None)]
    return _data(PriorParams(c=0.2, lam=3.0, kappa=5.0, lam_mode="fragments"), graphs)


@pytest.fixture(scope="module")
def mixed():
    truth = PriorParams(c=0.2, lam=0.3, kappa=5.0, lam_mode="fragments")
    return truth, _data(truth, CONNECTED + SALTS)


@pytest.mark.parametrize("target", [2.0, 5.0, 40.0])
def test_calibration_hits_fragment_rms_with_bonds_and_rg_matched(connected, target):
    res = calibrate(*connected, False, None, 0.1, "bonds", KAPPA_GRID, fragment_rms=target, lam_mode="fragments")
    p, st = res.params, res.stats
    assert p.lam_mode == "fragments" and st["lam_mode"] == "fragments" and st["lam_from"] == "fragment_rms"
    assert p.lam == pytest.approx(3 / (p.c * target**2), rel=1e-12) and st["lone_ion_rms"] == pytest.approx(target, rel=1e-12)
    assert st["prior_bond_rms"] == pytest.approx(st["data_bond_rms"], rel=1e-9)
    assert st["prior_rg_rms"] == pytest.approx(st["data_rg_rms"], rel=1e-6)  # connected only: total Rg = intra Rg
    assert st["prior_rg_intra_rms"] == pytest.approx(st["data_rg_intra_rms"], rel=1e-6)
    assert st["fit"] == "kappa" and not st["kappa_at_bound"] and st["sigma_data"] == pytest.approx(1.0, rel=1e-6)
    # the data were drawn with c = 0.2, κ = 5 (λ = 3 irrelevant): recovered to MC accuracy (sd over seeds ≈ 1.5%)
    assert p.c == pytest.approx(0.2, rel=0.06) and p.kappa == pytest.approx(5.0, rel=0.08)
    # λ does not enter the (c, κ) fit: identity mode with λ fixed at 0 gives the same c and κ
    zero = calibrate(*connected, False, None, 0.0, "bonds", KAPPA_GRID)
    assert zero.params.lam == 0.0 and p.c == pytest.approx(zero.params.c, rel=1e-9) and p.kappa == pytest.approx(zero.params.kappa, rel=1e-9)


def test_salts_in_the_calibration_set_leave_c_and_kappa_to_the_intra_fragment_statistics(mixed):
    truth, data = mixed
    modes, scales = data
    runs = [calibrate(modes, scales, False, None, 0.1, "bonds", KAPPA_GRID, fragment_rms=r, lam_mode="fragments") for r in (3.0, 20.0)]
    a, b = (r.params for r in runs)
    assert a.c == b.c and a.kappa == b.kappa and a.lam == pytest.approx(b.lam * (20 / 3) ** 2, rel=1e-12)  # c, κ independent of λ
    for st in (r.stats for r in runs):
        assert st["prior_bond_rms"] == pytest.approx(st["data_bond_rms"], rel=1e-9)
        assert st["prior_rg_intra_rms"] == pytest.approx(st["data_rg_intra_rms"], rel=1e-6)
        assert st["fragment_pairs"] == 2 + 3 and not st["kappa_at_bound"]
    assert a.c == pytest.approx(truth.c, rel=0.06) and a.kappa == pytest.approx(truth.kappa, rel=0.08)
    # the data's fragment separation is the truth's: with the truth's lone-ion distance as target, λ is recovered
    res = calibrate(modes, scales, False, None, 0.1, "bonds", KAPPA_GRID, fragment_rms=float(np.sqrt(3 / (truth.c * truth.lam))), lam_mode="fragments")
    assert res.params.lam == pytest.approx(truth.lam, rel=0.06)
    assert res.stats["prior_fragment_rms"] == pytest.approx(res.stats["data_fragment_rms"], rel=0.03)
    assert res.stats["prior_rg_rms"] == pytest.approx(res.stats["data_rg_rms"], rel=0.03)


def test_without_a_target_lambda_is_the_fixed_one(connected):
    res = calibrate(*connected, False, None, 0.7, "bonds", KAPPA_GRID, lam_mode="fragments")
    assert res.params.lam == 0.7 and res.stats["lam_from"] == "fixed" and "fragment_rms_target" not in res.stats
    with pytest.raises(ValueError, match="fragment_rms"):
        calibrate(*connected, False, None, 0.7, "bonds", KAPPA_GRID, fragment_rms=-1.0, lam_mode="fragments")


# -- params / config ----------------------------------------------------------------------------


def test_old_prior_json_loads_as_identity_and_identity_serialises_as_before(tmp_path):
    old = {"params": {"c": 0.13, "lam": 0.05, "weighted": False, "kappa": 13.0}}
    (tmp_path / "prior.json").write_text(json.dumps(old))
    p = load_prior_params(tmp_path)
    assert p.lam_mode == "identity"
    np.testing.assert_array_equal(p.factor(*SALT)[0], prior_factor(*SALT, 0.13, 0.05, kappa=13.0)[0])
    assert json.loads(p.model_dump_json()) == old["params"]  # no lam_mode key: spec files and cache keys unchanged
    spec = ModelSpec(prior=p)
    assert "lam_mode" not in spec.model_dump(mode="json")["prior"]
    frag = PriorParams(c=0.13, lam=0.05, kappa=13.0, lam_mode="fragments")
    assert json.loads(frag.model_dump_json())["lam_mode"] == "fragments"
    assert ModelSpec.model_validate_json(ModelSpec(prior=frag).model_dump_json()).prior == frag


def test_config_defaults_to_fragments_for_new_calibrations():
    cfg = PriorConfig()
    assert cfg.lam_mode == "fragments" and cfg.fragment_target() == FRAGMENTS_DEFAULT_RMS == 5.0
    assert PriorConfig(calibration={"fragment_rms": 8.0}).fragment_target() == 8.0
    assert PriorConfig(lam_mode="identity").fragment_target() is None
    assert PriorConfig(lam_mode="identity", calibration={"fragment_rms": 8.0, "fit_kappa": False}).fragment_target() is None

"""Calibration: closed-form prior statistics vs sampling, and recovery of known (c, λ)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.prior import PriorParams, prior_factor
from pipeline.prior.calibrate import calibrate, data_scale, molecule_modes, prior_scale, scale_report

# heavy-atom-like graphs with dangling "H" leaves, a ring and a two-fragment salt
GRAPHS = [
    (8, np.array([[0, 1], [1, 2], [2, 3], [0, 4], [0, 5], [3, 6], [3, 7]])),
    (9, np.array([[i, (i + 1) % 6] for i in range(6)] + [[0, 6], [2, 7], [4, 8]])),
    (5, np.array([[0, 1], [1, 2], [1, 3]])),  # atom 4 is a lone ion
    (2, np.array([[0, 1]])),
    (1, None),
]


def _prior_draws(params: PriorParams, k: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for n, b in GRAPHS:
        R, _ = prior_factor(n, b, params.c, params.lam, params.weighted)
        out.append(R @ rng.standard_normal((k, n, 3)))  # [K, N, 3]
    return out


def test_closed_form_statistics_match_sampling():
    params = PriorParams(c=1.7, lam=0.2)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    bond, rg2 = prior_scale(modes, params)
    draws = _prior_draws(params, 20000, 0)
    scales = [data_scale(x, b) for x, (_, b) in zip(draws, GRAPHS)]
    n_bonds = sum(m.n_bonds for m in modes)
    mc_bond = sum(s.bond_d2_sum for s in scales) / n_bonds
    mc_rg2 = np.mean([s.rg2 for s in scales])
    # 20000 draws per molecule: relative MC error of a mean of squared Gaussians ≈ sqrt(2/3/20000) < 1%
    assert mc_bond == pytest.approx(bond, rel=0.02)
    assert mc_rg2 == pytest.approx(rg2, rel=0.02)


@pytest.mark.parametrize("weighted, c_target", [(False, "bonds"), (True, "bonds"), (False, "rg")])
def test_calibration_recovers_the_parameters_that_generated_the_data(weighted, c_target):
    truth = PriorParams(c=1.3, lam=0.4, weighted=weighted)
    draws = _prior_draws(truth, 4000, 1)
    modes = [molecule_modes(n, b, weighted) for n, b in GRAPHS]
    scales = [data_scale(x, b) for x, (_, b) in zip(draws, GRAPHS)]
    res = calibrate(modes, scales, weighted, np.geomspace(0.01, 10, 121), fixed_lam=0.1, c_target=c_target)
    assert res.params.weighted is weighted and res.stats["c_target"] == c_target
    assert res.params.lam == pytest.approx(truth.lam, rel=0.15)  # grid step is 6%, MC noise the rest
    assert res.params.c == pytest.approx(truth.c, rel=0.05)
    exact = "bond" if c_target == "bonds" else "rg"  # the statistic c matches exactly
    assert res.stats[f"prior_{exact}_rms"] == pytest.approx(res.stats[f"data_{exact}_rms"], rel=1e-9)
    assert res.stats["sigma_data"] == pytest.approx(1.0, abs=0.05 if c_target == "bonds" else 1e-9)
    assert not res.stats["lam_at_bound"]


def test_fixed_lambda_fits_c_only_and_scale_report():
    truth = PriorParams(c=2.2, lam=0.3)
    draws = _prior_draws(truth, 4000, 2)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    scales = [data_scale(x, b) for x, (_, b) in zip(draws, GRAPHS)]
    res = calibrate(modes, scales, False, None, fixed_lam=0.3)
    assert res.params.lam == 0.3 and res.params.c == pytest.approx(2.2, rel=0.03)
    rep = scale_report(modes, scales, truth)
    assert rep["prior_rg_rms"] == pytest.approx(rep["data_rg_rms"], rel=0.03)


def test_more_extended_data_pushes_lambda_to_the_lower_bound():
    # data stretched 2x beyond bonds: no λ can match, the lower end of the grid is flagged
    draws = _prior_draws(PriorParams(c=1.3, lam=0.4), 2000, 3)
    modes = [molecule_modes(n, b) for n, b in GRAPHS]
    scales = []
    for x, (_, b) in zip(draws, GRAPHS):
        s = data_scale(x, b)
        scales.append(type(s)(s.bond_d2_sum, 4 * s.rg2))
    res = calibrate(modes, scales, False, np.geomspace(0.05, 10, 31), fixed_lam=0.1)
    assert res.params.lam == pytest.approx(0.05) and res.stats["lam_at_bound"]
    st = res.stats
    assert st["prior_rg_rms"] < st["data_rg_rms"]
    assert st["sigma_data"] == pytest.approx(st["data_rg_rms"] / st["prior_rg_rms"]) and st["sigma_data"] > 1.1


def test_calibration_without_bonds_is_an_error():
    with pytest.raises(ValueError, match="bonds"):
        calibrate([molecule_modes(1, None)], [data_scale(np.zeros((1, 1, 3)), None)], False, None, 0.1)
    with pytest.raises(ValueError, match="c_target"):
        calibrate([molecule_modes(2, np.array([[0, 1]]))], [data_scale(np.ones((1, 2, 3)), None)], False, None, 0.1, "angles")

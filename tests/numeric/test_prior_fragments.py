"""``calibration.fragment_rms``: λ = 3/(c r²) as a fixed point of the κ fit (bonds and Rg stay matched)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.prior import PriorParams
from pipeline.prior.calibrate import calibrate, data_scale, fragment_summary, molecule_modes

CHAIN = (8, np.array([[0, 1], [1, 2], [2, 3], [0, 4], [0, 5], [3, 6], [3, 7]]))
RING = (9, np.array([[i, (i + 1) % 6] for i in range(6)] + [[0, 6], [2, 7], [4, 8]]))
SALT = (7, np.array([[0, 1], [1, 2], [1, 3], [5, 6]]))  # 3 fragments: 4 atoms, lone ion 4, a 2-atom piece
GRAPHS = [CHAIN, RING, SALT, (2, np.array([[0, 1]])), (1, None)]
LAM_GRID = np.geomspace(0.05, 10, 61)
KAPPA_GRID = np.geomspace(0.01, 1000, 41)


@pytest.fixture(scope="module")
def data():
    """Modes and data statistics of draws from a bending prior (the SALT's fragments enter Rg)."""
    truth = PriorParams(c=0.2, lam=0.05, kappa=5.0)
    rng = np.random.default_rng(7)
    draws = [truth.factor(n, b)[0] @ rng.standard_normal((4000, n, 3)) for n, b in GRAPHS]
    return [molecule_modes(n, b) for n, b in GRAPHS], [data_scale(x, b) for x, (_, b) in zip(draws, GRAPHS)]


def _fit(data, fragment_rms, kappa_grid=KAPPA_GRID, **kw):
    modes, scales = data
    return calibrate(modes, scales, False, LAM_GRID, 0.1, "bonds", kappa_grid, fragment_rms=fragment_rms, **kw)


def _ion(params: PriorParams) -> float:
    return float(np.sqrt(3 / (params.c * params.lam)))


def test_floor_is_below_the_lam_floor_separation(data):
    plain = _fit(data, None)
    assert plain.params.lam == pytest.approx(0.05) and "fragment_rms_target" not in plain.stats
    low = _fit(data, 1e-3)  # far below anything reachable
    f_min = low.stats["fragment_rms_min"]
    assert 0 < f_min < plain.stats["lone_ion_rms"]


@pytest.mark.parametrize("where", [0.5, 3.0])  # between F∞ and the floor's separation (λ > floor) / beyond it (λ < floor)
def test_target_is_reached_at_a_fixed_point_with_bonds_and_rg_matched(data, where):
    f_min = _fit(data, 1e-3).stats["fragment_rms_min"]
    f_floor = _fit(data, None).stats["lone_ion_rms"]
    target = f_min + where * (f_floor - f_min)
    res = _fit(data, target)
    p, st = res.params, res.stats
    assert st["lam_from"] == "fragment_rms" and st["fragment_converged"] and st["fragment_reachable"]
    assert 1 <= st["fragment_iterations"] <= 50 and not st["fragment_kappa_limited"]
    assert (p.lam > 0.05) == (where < 1)  # the floor is no longer a floor
    # closed form: sqrt(3/(cλ)) is the target, and λ = 3/(c r²) with the c of the final κ fit
    assert _ion(p) == pytest.approx(target, rel=1e-6)
    assert st["lone_ion_rms"] == pytest.approx(target, rel=1e-6)
    assert p.lam == pytest.approx(3 / (p.c * target**2), rel=1e-6)
    # bonds and Rg still matched exactly; κ fitted, not at a bound
    assert st["prior_bond_rms"] == pytest.approx(st["data_bond_rms"], rel=1e-9)
    assert st["prior_rg_rms"] == pytest.approx(st["data_rg_rms"], rel=1e-6)
    assert st["fit"] == "kappa" and not st["kappa_at_bound"]
    # fixed point: a plain κ fit at that λ returns the same (c, κ)
    again = calibrate(*data, False, None, p.lam, "bonds", KAPPA_GRID)
    assert again.params.c == pytest.approx(p.c, rel=1e-9) and again.params.kappa == pytest.approx(p.kappa, rel=1e-9)
    # the SALT's data vs prior centroid distances are still reported
    assert st["fragment_pairs"] == 2 and st["prior_fragment_rms"] > 0 and st["data_fragment_rms"] > 0
    assert "reached" in fragment_summary(st, p.lam) and "not reached" not in fragment_summary(st, p.lam)


def test_target_at_the_floor_separation_gives_the_floor(data):
    plain = _fit(data, None)
    res = _fit(data, plain.stats["lone_ion_rms"])
    assert res.stats["lam_from"] == "fragment_rms"
    assert res.params.lam == pytest.approx(0.05, rel=1e-8) and res.params.kappa == pytest.approx(plain.params.kappa, rel=1e-8)


def test_unreachable_target_keeps_the_floor_and_the_floor_is_a_lower_bound(data):
    f_min = _fit(data, 1e-3).stats["fragment_rms_min"]
    res = _fit(data, 0.9 * f_min)
    st = res.stats
    assert not st["fragment_reachable"] and st["lam_from"] == "floor" and st["fragment_iterations"] == 0
    assert res.params.lam == pytest.approx(0.05) and st["prior_rg_rms"] == pytest.approx(st["data_rg_rms"], rel=1e-6)
    assert "not reached" in fragment_summary(st, res.params.lam)
    # F(λ) = sqrt(3/(cλ)) of plain κ fits at growing λ: decreasing, above F∞, and close to it for large λ
    seps = [_ion(calibrate(*data, False, None, lam, "bonds", np.geomspace(0.01, 1e9, 101)).params) for lam in (0.05, 1.0, 100.0, 1e4)]
    assert all(a > b for a, b in zip(seps, seps[1:]))
    assert min(seps) >= f_min * (1 - 1e-9) and seps[-1] == pytest.approx(f_min, rel=1e-2)


def test_target_needing_kappa_beyond_the_grid_is_flagged_and_bounded(data):
    f_min = _fit(data, 1e-3).stats["fragment_rms_min"]
    res = _fit(data, 1.001 * f_min, kappa_grid=np.geomspace(0.01, 30, 21), max_iter=40)
    st = res.stats
    assert st["fragment_reachable"] and not st["fragment_converged"] and st["fragment_kappa_limited"]
    assert st["lam_from"] == "floor" and res.params.lam == pytest.approx(0.05) and st["fragment_iterations"] <= 40
    assert "kappa_max" in fragment_summary(st, res.params.lam)


def test_lambda_fit_path_ignores_the_target(data):
    modes, scales = data
    a = calibrate(modes, scales, False, LAM_GRID, 0.1, "bonds", None, fragment_rms=5.0)
    b = calibrate(modes, scales, False, LAM_GRID, 0.1, "bonds", None)
    assert a.params == b.params and a.stats["fit"] == "lam" and "fragment_rms_target" not in a.stats
    with pytest.raises(ValueError, match="fragment_rms"):
        _fit(data, -1.0)


def test_sampled_lone_ion_distance_matches_the_target(data):
    target = 0.5 * (_fit(data, 1e-3).stats["fragment_rms_min"] + _fit(data, None).stats["lone_ion_rms"])
    res = _fit(data, target)
    assert res.stats["lam_from"] == "fragment_rms"
    params = res.params
    n, bonds = SALT
    x = params.factor(n, bonds)[0] @ np.random.default_rng(0).standard_normal((20000, n, 3))
    d2 = ((x[:, 4] - x[:, :4].mean(axis=1)) ** 2).sum(-1).mean()  # the lone ion vs the 4-atom fragment
    assert np.sqrt(d2) == pytest.approx(target * np.sqrt(1 + 1 / 4), rel=0.02)

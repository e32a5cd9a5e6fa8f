"""Discrete DDPM quantities vs the continuous schedule (float64; docs/diffusion.md)."""

from __future__ import annotations

import pytest
import torch

from pipeline.diffusion import get_schedule
from pipeline.diffusion.ddpm import posterior
from tests.helpers.ddpm import discretize, eps_from_x0, euler_betas, x0_from_eps

NAMES = ["cosine", "linear", "quadratic"]


@pytest.mark.parametrize("name", NAMES)
def test_alpha_bar_products_equal_continuous_alpha_squared(name):
    sch = get_schedule(name)
    d = discretize(sch, 1000)
    assert torch.allclose(torch.cumprod(d.alphas, 0), d.alphas_cumprod, rtol=1e-12)
    t = d.t[1:]
    assert torch.allclose(d.alphas_cumprod[1:], sch.alpha(t) ** 2, rtol=1e-12)
    assert torch.all((d.betas[1:] > 0) & (d.betas[1:] < 1))


@pytest.mark.parametrize("name", NAMES)
def test_euler_betas_converge_to_continuous_schedule_first_order(name):
    # ∏(1 − β(t_i)/T) → α(t)² as T grows; the error is O(1/T)
    sch = get_schedule(name)
    errs = []
    for T in (250, 500, 1000, 2000):
        prod = torch.cumprod(1 - euler_betas(sch, T), 0)
        i = T // 2  # t = t_max / 2
        errs.append(abs(float(prod[i]) - float(sch.alpha(sch.t_max / 2)) ** 2))
    ratios = [errs[k] / errs[k + 1] for k in range(3)]
    assert all(1.6 < r < 2.4 for r in ratios), (errs, ratios)


@pytest.mark.parametrize("name", NAMES)
def test_discrete_posterior_matches_continuous_posterior_on_consecutive_steps(name):
    sch = get_schedule(name)
    d = discretize(sch, 200)
    for i in (2, 50, 120, 199):
        a, b, v = posterior(sch, d.t[i], d.t[i - 1])
        assert float(a) == pytest.approx(float(d.posterior_mean_coef_xt[i]), rel=1e-9)
        assert float(b) == pytest.approx(float(d.posterior_mean_coef_x0[i]), rel=1e-9)
        assert float(v) == pytest.approx(float(d.posterior_variance[i]), rel=1e-9)


def test_posterior_equals_gaussian_conditioning():
    # brute force: (x_s, x_t) | x_0 jointly Gaussian (scalar per mode; Σ factors out), condition on x_t
    sch = get_schedule("cosine")
    t, s = 0.7, 0.4
    a_t, a_s = float(sch.alpha(t)), float(sch.alpha(s))
    v_t, v_s = float(sch.sigma2(t)), float(sch.sigma2(s))
    # x_s = a_s x0 + √v_s e1 ; x_t = (a_t/a_s) x_s + √(v_t − (a_t/a_s)² v_s) e2
    cov_st = (a_t / a_s) * v_s
    gain = cov_st / v_t
    a, b, v = posterior(sch, t, s)
    assert float(a) == pytest.approx(gain, rel=1e-12)
    assert float(b) == pytest.approx(a_s - gain * a_t, rel=1e-12)
    assert float(v) == pytest.approx(v_s - cov_st**2 / v_t, rel=1e-12)


def test_eps_and_x0_parameterisations_round_trip():
    g = torch.Generator().manual_seed(0)
    x0, r_eps = torch.randn(5, 3, dtype=torch.float64, generator=g), torch.randn(5, 3, dtype=torch.float64, generator=g)
    a, s = torch.tensor(0.6, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    xt = a * x0 + s * r_eps
    assert torch.allclose(x0_from_eps(xt, r_eps, a, s), x0)
    assert torch.allclose(eps_from_x0(xt, x0, a, s), r_eps)

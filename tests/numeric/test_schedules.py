"""VP schedules (float64): identities, derivatives vs finite differences, g² = β, clipping, time grids, configs."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.diffusion import get_schedule
from pipeline.diffusion.config import SamplerConfig, ScheduleConfig

NAMES = ["cosine", "linear", "quadratic"]
T = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)


def _fd(f, t, eps=1e-6):
    return (f(t + eps) - f(t - eps)) / (2 * eps)


@pytest.mark.parametrize("name", NAMES)
def test_variance_preserving_and_monotone(name):
    s = get_schedule(name)
    a, sig = s.alpha(T), s.sigma(T)
    assert torch.allclose(a**2 + sig**2, torch.ones_like(T), atol=1e-14)
    assert torch.all(a[1:] < a[:-1]) and torch.all(s.log_snr(T)[1:] < s.log_snr(T)[:-1])
    assert torch.allclose(s.log_snr(T), torch.log(a**2 / sig**2), rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_finite_differences(name):
    s = get_schedule(name)
    assert torch.allclose(s.h(T), _fd(lambda t: torch.log(s.alpha(t)), T), rtol=1e-6, atol=1e-8)
    assert torch.allclose(s.dlog_snr(T), _fd(s.log_snr, T), rtol=1e-6, atol=1e-6)
    g2_fd = -s.sigma2(T) * _fd(s.log_snr, T)
    assert torch.allclose(s.g2(T), g2_fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_vp_identity_g2_equals_beta(name):
    s = get_schedule(name)
    assert torch.allclose(s.g2(T), s.beta(T), rtol=1e-10)
    # and β = −d log ᾱ / dt from the schedule's own α
    assert torch.allclose(s.beta(T), _fd(lambda t: -2 * torch.log(s.alpha(t)), T), rtol=1e-6)


def test_known_values():
    lin = get_schedule("linear")
    # log α(t) = −½(β_min t + ½(β_max − β_min) t²)
    assert float(lin.alpha(0.5)) == pytest.approx(math.exp(-0.5 * (0.1 * 0.5 + 0.5 * 19.9 * 0.25)))
    cos = get_schedule("cosine")
    th = lambda t: 0.5 * math.pi * (t + 0.008) / 1.008  # noqa: E731
    assert float(cos.alpha(0.3)) == pytest.approx(math.cos(th(0.3)) / math.cos(th(0.0)))
    quad = get_schedule("quadratic")
    assert float(quad.beta(0.5)) == pytest.approx(0.1 + 39.9 * 0.25)


@pytest.mark.parametrize("name", NAMES)
def test_clipping_keeps_everything_finite(name):
    s = get_schedule(name)
    t = torch.tensor([0.0, 1.0, -3.0, 5.0], dtype=torch.float64)
    for f in (s.alpha, s.sigma, s.log_snr, s.h, s.g2, s.dlog_snr):
        assert torch.isfinite(f(t)).all()
    assert float(s.sigma(0.0)) == pytest.approx(float(s.sigma(s.t_min)))
    assert float(s.alpha(1.0)) == pytest.approx(float(s.alpha(s.t_max)))
    assert float(s.alpha(s.t_max)) < 0.01  # the prior end is (almost) pure noise


def test_float32_inputs_stay_float32():
    s = get_schedule()
    t = torch.rand(5, dtype=torch.float32)
    assert s.alpha(t).dtype == torch.float32 and s.g2(t).dtype == torch.float32
    assert s.alpha(0.5).dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["logsnr", "uniform", "edm"])
def test_time_grid(name, kind):
    s = get_schedule(name)
    g = s.time_grid(20, kind)
    assert g.shape == (21,) and g[0] == s.t_max and g[-1] == s.t_min and torch.all(g[1:] < g[:-1])
    if kind == "logsnr":
        d = torch.diff(s.log_snr(g))
        assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-8)
    if kind == "edm":  # uniform in σ̃^{1/ρ}, σ̃ = SNR^{-1/2}, ρ = 7
        u = torch.exp(-s.log_snr(g) / 14)
        d = torch.diff(u)
        assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-6)


def test_t_from_log_snr_inverts():
    s = get_schedule("quadratic")
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    assert torch.allclose(s.t_from_log_snr(s.log_snr(t)), t, atol=1e-12)


def test_bad_names_and_ranges():
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("sigmoid")
    with pytest.raises(ValueError, match="t_min"):
        get_schedule("cosine", t_min=0.5, t_max=0.4)
    with pytest.raises(ValueError, match="unknown time grid"):
        get_schedule().time_grid(5, "karras")


def test_schedule_config_builds_and_rejects_mismatched_keys():
    s = ScheduleConfig(name="linear", beta_max=10.0).build()
    assert s.name == "linear" and s.beta_max == 10.0 and s.t_min == 1e-3
    assert get_schedule(**s.config()).config() == s.config()
    assert ScheduleConfig().build().name == "cosine"
    with pytest.raises(ValueError, match="cosine"):
        ScheduleConfig(name="cosine", beta_max=3.0).build()
    from pipeline.diffusion.samplers import DEFAULT_SAMPLER, SAMPLERS
    from pipeline.diffusion.config import SolverName

    assert SamplerConfig().method == DEFAULT_SAMPLER
    assert set(SolverName.__args__) == set(SAMPLERS)  # the config offers exactly the solvers there are

"""Gaussian exactness of the forward kernel and every sampler (float64).

Data: per molecule ``x₀ ~ N(μ, V diag(ν s) Vᵀ)`` on the modes of the prior ``Σ = V diag(ν) Vᵀ``
(:class:`pipeline.diffusion.analytic.GaussianData`), whose ``E[x₀|x_t]`` and PF-ODE flow are
closed-form. Molecules: a 6-ring, a 4-chain and a 2+1 salt (fragments), replicated.

Monte-Carlo bound used below: with n i.i.d. draws of a mode of variance s (copies × 3 axes), the
sample mean has standard error √(s/n) and the sample variance relative standard error √(2/(n−1));
we require |z| < 5 for every mode (10 modes; seeds are fixed, so the test is deterministic and a
5σ bound leaves room for the discretisation bias that vanishes as steps grow).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.diffusion import correct, get_schedule, integrate, q_sample, sample
from pipeline.diffusion.analytic import GaussianData
from pipeline.prior import PriorBatch, PriorParams

RING6 = np.array([[i, (i + 1) % 6] for i in range(6)])
GRAPHS = [(6, RING6), (4, np.array([[0, 1], [1, 2], [2, 3]])), (3, np.array([[0, 1]]))]
Z_BOUND = 5.0


def _data(rep: int) -> GaussianData:
    pb = PriorBatch.from_graphs([n for n, _ in GRAPHS] * rep, [b for _, b in GRAPHS] * rep, PriorParams(c=2.0, lam=0.3), dtype=torch.float64)
    g = torch.Generator().manual_seed(11)
    mu = torch.cat([torch.randn(n, 3, dtype=torch.float64, generator=g) for n, _ in GRAPHS] * rep)
    # data wider than the prior on stiff modes, narrower on soft ones: s in [0.3, 2.3]
    return GaussianData.build(pb, mu, lambda nu: 0.3 + 2.0 * nu / nu.amax(dim=1, keepdim=True))


@pytest.fixture(scope="module")
def big() -> GaussianData:
    return _data(1000)


@pytest.fixture(scope="module")
def small() -> GaussianData:
    return _data(50)


def _moment_errors(gd: GaussianData, x: torch.Tensor) -> tuple[float, float]:
    """Largest |z| of the per-mode sample mean and sample variance (pooled over copies and axes)."""
    w = gd.whiten(x)
    zs_mean, zs_var = [], []
    for k in range(len(GRAPHS)):
        idx = torch.arange(k, w.shape[0], len(GRAPHS))
        for j in torch.nonzero(gd.nu[k] > 0).flatten().tolist():
            v = w[idx, j, :].reshape(-1)
            s, n = float(gd.s[k, j]), v.numel()
            zs_mean.append(abs(float(v.mean())) / np.sqrt(s / n))
            zs_var.append(abs(float(v.var()) / s - 1) / np.sqrt(2 / (n - 1)))
    return max(zs_mean), max(zs_var)


def test_exact_data_passes_the_moment_check(big):
    # sanity of the yardstick itself: exact draws are within the bound
    zm, zv = _moment_errors(big, big.sample(torch.Generator().manual_seed(0)))
    assert zm < Z_BOUND and zv < Z_BOUND


def test_q_sample_moments_and_noise(big):
    sch = get_schedule()
    x0 = big.sample(torch.Generator().manual_seed(1))
    t = torch.full((big.prior.num_molecules,), 0.4, dtype=torch.float64)
    xt, noise = q_sample(x0, t, big.prior, sch, torch.Generator().manual_seed(2))
    a, s = float(sch.alpha(0.4)), float(sch.sigma(0.4))
    assert torch.allclose(xt, a * x0 + s * noise, atol=1e-12)
    assert torch.allclose(big.prior.center(noise), noise, atol=1e-12)
    # x_t is Gaussian with mean αμ and, per mode, variance ν(α² s + σ²): whiten with those
    shifted = GaussianData(big.prior, a * big.mu, big.V, big.nu, torch.where(big.nu > 0, a * a * big.s + s * s, big.s))
    zm, zv = _moment_errors(shifted, xt)
    assert zm < Z_BOUND and zv < Z_BOUND


def _relvar_error(gd: GaussianData, x: torch.Tensor) -> float:
    """Largest |sample variance / s − 1| over modes."""
    w = gd.whiten(x)
    errs = []
    for k in range(len(GRAPHS)):
        v = w[k :: len(GRAPHS)]
        for j in torch.nonzero(gd.nu[k] > 0).flatten().tolist():
            errs.append(abs(float(v[:, j, :].var()) / float(gd.s[k, j]) - 1))
    return max(errs)


@pytest.mark.parametrize("method, steps, coarse_steps", [("sde", 300, 20), ("ddpm", 300, 20), ("dpmpp_2m_sde", 100, 5)])
def test_stochastic_samplers_reproduce_gaussian_and_error_falls_with_steps(big, method, steps, coarse_steps):
    sch = get_schedule()
    den = big.denoiser(sch)
    x = sample(den, big.prior, sch, method=method, steps=steps, generator=torch.Generator().manual_seed(3))
    zm, zv = _moment_errors(big, x)
    assert zm < Z_BOUND and zv < Z_BOUND, (method, zm, zv)
    coarse = sample(den, big.prior, sch, method=method, steps=coarse_steps, generator=torch.Generator().manual_seed(4))
    assert _relvar_error(big, x) < 0.5 * _relvar_error(big, coarse)


def test_dpmpp_2m_sde_needs_fewer_steps_than_ddpm(big):
    # second order: at 10 steps its worst per-mode variance error is well below the first-order DDPM's
    sch = get_schedule()
    den = big.denoiser(sch)
    err = {m: _relvar_error(big, sample(den, big.prior, sch, method=m, steps=10, generator=torch.Generator().manual_seed(4))) for m in ("ddpm", "dpmpp_2m_sde")}
    assert err["dpmpp_2m_sde"] < 0.5 * err["ddpm"], err


def test_pf_ode_heun_reproduces_gaussian(big):
    # the deterministic solvers are also checked against the exact flow map below (no MC noise)
    sch = get_schedule()
    x = sample(big.denoiser(sch), big.prior, sch, method="ode_heun", steps=40, generator=torch.Generator().manual_seed(3))
    zm, zv = _moment_errors(big, x)
    assert zm < Z_BOUND and zv < Z_BOUND, (zm, zv)


@pytest.mark.parametrize("name", ["cosine", "linear", "quadratic"])
@pytest.mark.parametrize("method, order", [("ode_euler", 1), ("ddim", 1), ("ode_heun", 2), ("dpmpp_2m", 2)])
def test_ode_solvers_converge_to_exact_flow_with_their_order(small, name, method, order):
    # the same network evaluations for every solver: 20, 40, 80 (Heun: 2 per step)
    sch = get_schedule(name)
    x_init = sch.sigma(sch.t_max) * small.prior.sample(torch.Generator().manual_seed(5))
    exact = small.ode_flow(x_init, sch, sch.t_max, sch.t_min)
    errs = []
    for steps in (10, 20, 40) if method == "ode_heun" else (20, 40, 80):
        x = sample(small.denoiser(sch), small.prior, sch, method=method, steps=steps, x_init=x_init, final_denoise=False)
        errs.append(float((x - exact).norm() / exact.norm()))
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert min(ratios) > 0.8 * 2**order, (errs, ratios)
    assert errs[-1] < (0.05 if order == 1 else 3e-3)


def test_pf_ode_round_trip_data_prior_data(small):
    sch = get_schedule()
    x0 = small.sample(torch.Generator().manual_seed(6))
    grid = sch.time_grid(100)
    den = small.denoiser(sch)
    z = integrate(den, small.prior, sch, x0, grid.flip(0), "ode_heun")  # data → prior (encode)
    assert float((z - small.ode_flow(x0, sch, sch.t_min, sch.t_max)).norm() / z.norm()) < 1e-3
    back = integrate(den, small.prior, sch, z, grid, "ode_heun")  # prior → data (decode)
    assert float((back - x0).norm() / x0.norm()) < 1e-4


def _flow_error(gd: GaussianData, sch, method: str, steps: int, grid: str) -> float:
    x_init = sch.sigma(sch.t_max) * gd.prior.sample(torch.Generator().manual_seed(5))
    exact = gd.ode_flow(x_init, sch, sch.t_max, sch.t_min)
    x = sample(gd.denoiser(sch), gd.prior, sch, method=method, steps=steps, x_init=x_init, final_denoise=False, grid=grid)
    return float((x - exact).norm() / exact.norm())


def test_dpmpp_2m_beats_heun_at_equal_evaluations_and_converges_on_the_edm_grid(small):
    sch = get_schedule()
    for evals in (20, 40):  # Heun: 2 evaluations per step
        assert _flow_error(small, sch, "dpmpp_2m", evals, "logsnr") < _flow_error(small, sch, "ode_heun", evals // 2, "logsnr")
    errs = [_flow_error(small, sch, "dpmpp_2m", n, "edm") for n in (20, 40, 80)]
    assert errs[0] / errs[1] > 3.2 and errs[1] / errs[2] > 3.2, errs


def _frozen(small):
    """A constant x̂ (the PF-ODE is then linear) and a prior draw to start from."""
    x_hat = small.sample(torch.Generator().manual_seed(7))
    return (lambda x, t, b: x_hat), small.prior.sample(torch.Generator().manual_seed(8))


@pytest.mark.parametrize(
    "method, grid",
    [
        ("ddim", [0.8, 0.3]),  # one DDIM step is the exact step
        # the multistep correction vanishes: every dpmpp_2m step is the exact (DDIM) step
        ("dpmpp_2m", [0.8, 0.6, 0.45, 0.3]),
    ],
)
def test_step_is_exact_for_frozen_denoiser(small, method, grid):
    # a coarse grid lands where a fine Heun integration does (Heun error at h = 5e-4 is ~1e-7)
    sch = get_schedule()
    const, x = _frozen(small)
    coarse = integrate(const, small.prior, sch, x, torch.tensor(grid, dtype=torch.float64), method)
    fine = integrate(const, small.prior, sch, x, torch.linspace(grid[0], grid[-1], 1001, dtype=torch.float64), "ode_heun")
    assert float((coarse - fine).norm() / fine.norm()) < 1e-6


def test_dpmpp_2m_sde_is_the_exact_posterior_draw_for_frozen_denoiser(small):
    # first order (and every step with a constant x̂) = the DDPM step q(x_s | x_t, x₀ = x̂) with the same R z
    sch = get_schedule()
    const, x = _frozen(small)
    grid = torch.tensor([0.8, 0.6, 0.45, 0.3], dtype=torch.float64)
    a = integrate(const, small.prior, sch, x, grid, "dpmpp_2m_sde", torch.Generator().manual_seed(9))
    b = integrate(const, small.prior, sch, x, grid, "ddpm", torch.Generator().manual_seed(9))
    assert float((a - b).norm() / b.norm()) < 1e-10


def test_samplers_keep_centring_and_generator_reproducibility(small):
    sch = get_schedule()
    for method in ("sde", "ddpm", "ode_euler", "ode_heun", "ddim", "dpmpp_2m", "dpmpp_2m_sde"):
        a = sample(small.denoiser(sch), small.prior, sch, method=method, steps=8, generator=torch.Generator().manual_seed(9))
        b = sample(small.denoiser(sch), small.prior, sch, method=method, steps=8, generator=torch.Generator().manual_seed(9))
        assert torch.equal(a, b)
        assert torch.allclose(small.prior.center(a), a, atol=1e-10)


def test_sampler_argument_errors(small):
    sch = get_schedule()
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(small.denoiser(sch), small.prior, sch, method="euler")
    with pytest.raises(ValueError, match="only runs towards"):
        integrate(small.denoiser(sch), small.prior, sch, small.mu, torch.tensor([0.1, 0.5]), "sde")


def test_float32_sampling_is_close_to_float64(small):
    sch = get_schedule()
    x_init = sch.sigma(sch.t_max) * small.prior.sample(torch.Generator().manual_seed(10))
    x64 = sample(small.denoiser(sch), small.prior, sch, method="ode_heun", steps=30, x_init=x_init)
    p32 = small.prior.to(dtype=torch.float32)
    d32 = GaussianData(p32, small.mu.float(), small.V.float(), small.nu.float(), small.s.float())
    x32 = sample(d32.denoiser(sch), p32, sch, method="ode_heun", steps=30, x_init=x_init.float())
    assert x32.dtype == torch.float32
    assert float((x32.double() - x64).norm() / x64.norm()) < 1e-4


@pytest.mark.parametrize("passes", [1, 2])
def test_corrector_moments(big, passes):
    # one pass from exact data: x̂ = E[x₀|x_t] with x_t = αx + σRz is Gaussian with mean μ and, per mode
    # (whitened), variance k²(α² v + σ²), k = αs/(α²s + σ²), v the input's variance (s for exact data)
    sch = get_schedule()
    noise = 0.3
    x_in = big.sample(torch.Generator().manual_seed(3))
    x = correct(big.denoiser(sch), big.prior, sch, x_in, noise, passes, torch.Generator().manual_seed(4))
    t = float(sch.t_from_log_snr(torch.tensor(-2.0 * np.log(noise), dtype=torch.float64)))
    a, s = float(sch.alpha(t)), float(sch.sigma(t))
    assert s / a == pytest.approx(noise, rel=1e-6)
    k = a * big.s / (a * a * big.s + s * s)
    v = big.s
    for _ in range(passes):
        v = k * k * (a * a * v + s * s)
    expected = GaussianData(big.prior, big.mu, big.V, big.nu, torch.where(big.nu > 0, v, big.s))
    zm, zv = _moment_errors(expected, x)
    assert zm < Z_BOUND and zv < Z_BOUND
    assert _moment_errors(expected, x_in)[1] > Z_BOUND  # the check tells the corrector from the identity

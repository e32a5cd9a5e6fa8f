"""The low-noise corrector of pipeline.diffusion.samplers: what it computes, exactly."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.diffusion import correct, get_schedule, sample
from pipeline.diffusion.samplers import corrector_levels, network_evaluations
from pipeline.prior import PriorBatch, PriorParams


@pytest.fixture()
def prior() -> PriorBatch:
    return PriorBatch.from_graphs([3, 2], [[[0, 1], [1, 2]], [[0, 1]]], PriorParams(c=1.0), dtype=torch.float64)


def test_zero_passes_is_the_identity_and_calls_nothing(prior):
    x = torch.randn(5, 3, dtype=torch.float64)
    den = lambda *a: pytest.fail("the denoiser must not be called")  # noqa: E731
    assert correct(den, prior, get_schedule(), x, 0.09, passes=0) is x


def test_one_pass_renoises_at_the_named_level_and_denoises(prior):
    sch = get_schedule()
    x = prior.center(torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    seen = {}

    def den(xt, t, batch):
        seen["xt"], seen["t"], seen["batch"] = xt, t, batch
        return 2.0 * xt + 1.0  # not centred: correct() centres the result

    out = correct(den, prior, sch, x, 0.09, 1, torch.Generator().manual_seed(7), batch="b")
    t = seen["t"]
    assert t.shape == (prior.num_molecules,) and bool((t == t[0]).all())
    a, s = sch.alpha(t[0]), sch.sigma(t[0])
    assert float(s / a) == pytest.approx(0.09, rel=1e-6)
    z = prior.sample(torch.Generator().manual_seed(7))  # the same draw
    assert torch.allclose(seen["xt"], a * x + s * z, atol=1e-12)
    assert seen["batch"] == "b"
    assert torch.allclose(out, prior.center(2.0 * (a * x + s * z) + 1.0), atol=1e-12)


def test_a_point_mass_denoiser_returns_its_point(prior):
    target = prior.center(torch.randn(5, 3, dtype=torch.float64))
    x = torch.randn(5, 3, dtype=torch.float64)
    out = correct(lambda xt, t, b: target + 5.0, prior, get_schedule(), x, 0.2, 3, torch.Generator().manual_seed(0))
    assert torch.allclose(out, target, atol=1e-12)


def test_sample_runs_the_corrector_after_the_final_denoise(prior):
    sch, calls = get_schedule(), []

    def den(xt, t, b):
        calls.append(float(t[0]))
        return torch.zeros_like(xt)

    gen = torch.Generator().manual_seed(0)
    sample(den, prior, sch, method="ddim", steps=3, generator=gen, corrector_passes=3, corrector_noise=0.08, corrector_noise_min=0.02)
    t_corr = [float(sch.t_from_log_snr(torch.tensor(-2.0 * math.log(v), dtype=torch.float64))) for v in (0.08, 0.04, 0.02)]
    assert len(calls) == 3 + 1 + 3
    assert calls[-3:] == pytest.approx(t_corr)
    assert calls[3] == pytest.approx(sch.t_min)


def test_corrector_levels_are_geometric_from_noise_to_noise_min():
    assert corrector_levels(0.12, 0) == []
    assert corrector_levels(0.12, 1, 0.02) == [0.12]
    assert corrector_levels(0.1, 3) == pytest.approx([0.1, 0.1, 0.1])
    lv = corrector_levels(0.12, 6, 0.02)
    assert lv[0] == pytest.approx(0.12) and lv[-1] == pytest.approx(0.02)
    ratios = [b / a for a, b in zip(lv, lv[1:])]
    assert ratios == pytest.approx([ratios[0]] * 5) and ratios[0] < 1


@pytest.mark.parametrize("passes, noise, noise_min", [(-1, 0.1, None), (1, 0.0, None), (1, -0.5, None), (2, 0.1, 0.0), (2, 0.05, 0.1)])
def test_bad_corrector_settings_are_errors(prior, passes, noise, noise_min):
    with pytest.raises(ValueError, match="corrector"):
        correct(lambda xt, t, b: xt, prior, get_schedule(), torch.zeros(5, 3, dtype=torch.float64), noise, passes, noise_min=noise_min)


def test_sample_config_rejects_a_corrector_that_climbs():
    from pydantic import ValidationError

    from pipeline.sample.config import SampleConfig

    with pytest.raises(ValidationError, match="corrector_noise_min"):
        SampleConfig(corrector_noise=0.05, corrector_noise_min=0.1)


@pytest.mark.parametrize("refine,evaluations", [("none", 24), ("mmff", 16)])
def test_the_default_sampling_settings_spend_24_network_evaluations_raw_and_16_relaxed(prior, refine, evaluations):
    # the product's budget (docs/sample.md): 9 solver steps + the final denoise + 14 corrector passes for a raw
    # sample, 6 before the MMFF relaxation; an explicit corrector_passes is kept either way
    from pipeline.sample.config import SAMPLER_METHODS, SampleConfig

    cfg, calls = SampleConfig(refine=refine), []

    def den(xt, t, b):
        calls.append(1)
        return torch.zeros_like(xt)

    sample(den, prior, get_schedule(), method=SAMPLER_METHODS[cfg.sampler], steps=cfg.steps, generator=torch.Generator().manual_seed(0),
           corrector_passes=cfg.passes, corrector_noise=cfg.corrector_noise, corrector_noise_min=cfg.corrector_noise_min)
    assert len(calls) == evaluations == network_evaluations(SAMPLER_METHODS[cfg.sampler], cfg.steps, corrector_passes=cfg.passes)
    assert SampleConfig(refine=refine, corrector_passes=3).passes == 3

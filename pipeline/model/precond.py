r"""EDM-style preconditioning for Σ-shaped noise: ``Denoiser(x_t, t, graph) -> x̂₀`` (centred).

Derivation. The forward kernel is ``x_t = α x₀ + σ R z`` with ``RRᵀ = Σ`` (docs/design.md §2). Model the
data at the scale of the calibrated prior, ``x₀ ~ N(0, s² Σ)`` (``s = spec.sigma_data``; the prior
stage calibrates Σ to the data, so ``s ≈ 1``). Then ``x_t ~ N(0, (α² s² + σ²) Σ)`` and, because
every covariance is a multiple of the *same* Σ, the Gaussian posterior mean is a scalar multiple
of ``x_t`` — Σ cancels:

    E[x₀ | x_t] = c_skip x_t,     c_skip = α s² / (α² s² + σ²).

EDM writes ``x̂₀ = c_skip x_t + c_out F(c_in x_t, c_noise)`` and asks that the network input and
its training target have unit scale *in Σ units*:

    c_in    = 1 / sqrt(α² s² + σ²)           (Cov(c_in x_t) = Σ)
    c_out   = s σ / sqrt(α² s² + σ²)          (Cov((x₀ − c_skip x_t)/c_out) = Σ)
    c_noise = log SNR = log(α²/σ²)            (the network's time input)

For the VP schedules (α² + σ² = 1) and s = 1 this is ``c_skip = α``, ``c_in = 1``, ``c_out = σ``:
at high noise the output is the network's own guess, at low noise it is ``x_t`` plus a small
correction. The training loss weight that makes the target unit-scale is ``1/c_out²`` (see
``pipeline.train.loss``). The result is projected onto centred configurations per molecule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from pipeline.model.blocks import scatter_mean
from pipeline.model.registry import build_net

if TYPE_CHECKING:  # pydantic: a plain view of a spec works too (pipeline.plain.spec_view)
    from pipeline.model.spec import ModelSpec

__all__ = ["Denoiser", "build_denoiser", "precond_coefficients", "center_per_molecule"]


def precond_coefficients(alpha: torch.Tensor, sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_skip, c_out, c_in)`` for Σ-shaped noise (module docstring)."""
    s2 = sigma_data**2
    var = alpha**2 * s2 + sigma**2
    return alpha * s2 / var, sigma_data * sigma / var.sqrt(), 1.0 / var.sqrt()


def center_per_molecule(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Subtract each molecule's centroid (``P x`` per molecule)."""
    return x - scatter_mean(x, batch, num_graphs)[batch]


class Denoiser(nn.Module):
    """Preconditioned x̂₀-denoiser: ``forward(x_t [A,3], t [M], graph) -> x̂₀ [A,3]``, centred.

    ``graph`` is a torch-geometric ``Batch`` of :func:`pipeline.model.features.featurize` outputs
    (atom order = the order of ``x_t``). Works in float32 and float64 (``.double()``).
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.schedule = spec.build_schedule()
        self.net = build_net(spec)  # any registered kind (pipeline.model.registry)

    def coefficients(self, t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-molecule ``(c_skip, c_out, c_in, log_snr)`` at times ``t`` [M]."""
        t64 = t.detach().to(torch.float64)
        alpha, sigma = self.schedule.alpha(t64), self.schedule.sigma(t64)
        c_skip, c_out, c_in = precond_coefficients(alpha, sigma, self.spec.sigma_data)
        log_snr = self.schedule.log_snr(t64)
        return tuple(v.to(device=t.device, dtype=dtype) for v in (c_skip, c_out, c_in, log_snr))  # type: ignore[return-value]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, graph) -> torch.Tensor:
        batch = graph.batch
        m = int(graph.num_graphs)
        t = torch.as_tensor(t, device=x_t.device)
        if t.dim() == 0:
            t = t.expand(m)
        c_skip, c_out, c_in, log_snr = self.coefficients(t, x_t.dtype)
        f = self.net(c_in[batch, None] * x_t, log_snr, graph)
        out = c_skip[batch, None] * x_t + c_out[batch, None] * f
        return center_per_molecule(out, batch, m)


def build_denoiser(spec: ModelSpec) -> Denoiser:
    """A freshly initialised denoiser for ``spec``."""
    return Denoiser(spec)

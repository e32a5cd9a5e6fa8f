"""Gaussian data with a closed-form posterior mean: the yardstick for every sampler.

Let ``Σ = V diag(ν) Vᵀ`` (eigen-decomposition of a molecule's prior covariance; the centring
direction has ``ν = 0``). Take data ``x₀ = μ + V diag(√(ν s)) z₀`` (``μ`` centred, ``s_k > 0`` per
mode), i.e. ``Σ₀ = V diag(ν s) Vᵀ`` — built on the prior's own modes, so ``Σ₀`` commutes with Σ.
Then ``x_t = α x₀ + σ R z`` is Gaussian with, mode by mode (``c = Vᵀ(x − α μ)``),
``Var c_k = ν_k (α² s_k + σ²)`` and ``Cov(Vᵀ(x₀ − μ), c)_k = α ν_k s_k``, hence

    E[x₀ | x_t] = μ + V diag(α s / (α² s + σ²)) Vᵀ (x_t − α μ).

The PF-ODE flow between times ``t → t'`` is linear too:
``c_k(t') = √((α'² s_k + σ'²)/(α² s_k + σ²)) · c_k(t)`` (with ``c`` centred at ``α μ``).
Neither formula ever inverts Σ. All tensors use the :class:`PriorBatch` flat/padded layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipeline.diffusion.schedules import Schedule
from pipeline.prior.batch import PriorBatch, randn_like_atoms

__all__ = ["GaussianData"]


@dataclass(eq=False)
class GaussianData:
    """Per-molecule Gaussian data ``N(μ, V diag(ν s) Vᵀ)`` on the modes of the prior ``Σ = R Rᵀ``."""

    prior: PriorBatch
    mu: torch.Tensor  # [A, 3], centred
    V: torch.Tensor  # [M, Nmax, Nmax] eigenvectors of Σ (columns), padded
    nu: torch.Tensor  # [M, Nmax] eigenvalues of Σ (0 for the centring mode and padding)
    s: torch.Tensor  # [M, Nmax] data/prior variance ratio per mode (0 where nu == 0)

    @classmethod
    def build(cls, prior: PriorBatch, mu: torch.Tensor, s_fn: Any = None, rel_tol: float = 1e-9) -> "GaussianData":
        """``s_fn(nu [M, Nmax]) -> s`` picks the per-mode ratio (default: ``s = 1``, data = prior)."""
        sigma = torch.bmm(prior.R, prior.R.transpose(1, 2))
        nu, V = torch.linalg.eigh(sigma)
        keep = nu > rel_tol * nu.amax(dim=1, keepdim=True).clamp_min(1e-300)
        nu = torch.where(keep, nu, torch.zeros_like(nu))
        s = torch.ones_like(nu) if s_fn is None else s_fn(nu)
        s = torch.where(keep, s, torch.zeros_like(s))
        return cls(prior, prior.center(mu), V, nu, s)

    def _modes(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.V.transpose(1, 2), self.prior.pad(x))

    def _from_modes(self, c: torch.Tensor) -> torch.Tensor:
        return self.prior.unpad(torch.bmm(self.V, c))

    def whiten(self, x0: torch.Tensor) -> torch.Tensor:
        """Mode coordinates of ``x₀ − μ`` scaled by ``1/√ν``: [M, Nmax, 3]; each mode has variance ``s_k``."""
        c = self._modes(x0 - self.mu)
        inv = torch.where(self.nu > 0, self.nu.clamp_min(1e-300).rsqrt(), torch.zeros_like(self.nu))
        return c * inv.unsqueeze(-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact data draws x₀ [A, 3]."""
        m, nmax = self.nu.shape
        z = randn_like_atoms(m * nmax, self.prior.dtype, self.prior.device, generator).reshape(m, nmax, 3)
        c = z * (self.nu * self.s).sqrt().unsqueeze(-1)  # one N(0, ν s) per mode (padding modes get 0)
        return self.mu + self._from_modes(c)

    def denoiser(self, schedule: Schedule):
        """The exact ``x̂₀(x_t, t, batch) = E[x₀ | x_t]`` as a sampler-compatible callable (t per molecule)."""

        def x0_hat(x: torch.Tensor, t: torch.Tensor, batch: Any = None) -> torch.Tensor:
            a = schedule.alpha(t).to(x).reshape(-1, 1)
            s2 = schedule.sigma2(t).to(x).reshape(-1, 1)
            gain = a * self.s / (a * a * self.s + s2)  # [M, Nmax]
            c = self._modes(x - self.prior.per_atom(a.squeeze(-1)) * self.mu)
            return self.mu + self._from_modes(gain.unsqueeze(-1) * c)

        return x0_hat

    def ode_flow(self, x: torch.Tensor, schedule: Schedule, t_from: float, t_to: float) -> torch.Tensor:
        """The exact PF-ODE map ``x_{t_from} → x_{t_to}``."""
        a0, s0 = schedule.alpha(t_from).to(x), schedule.sigma2(t_from).to(x)
        a1, s1 = schedule.alpha(t_to).to(x), schedule.sigma2(t_to).to(x)
        ratio = torch.sqrt((a1 * a1 * self.s + s1) / (a0 * a0 * self.s + s0))
        c = self._modes(x - a0 * self.mu)
        return a1 * self.mu + self._from_modes(ratio.unsqueeze(-1) * c)

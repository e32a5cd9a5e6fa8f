"""Variance-preserving noise schedules (docs/design.md §2, docs/diffusion.md).

A schedule is ``α_t`` with ``σ_t² = 1 − α_t²`` on ``t ∈ [0, 1]`` (0 = data, 1 = prior). From
``log α_t`` and its derivative every schedule derives

* ``alpha(t)``, ``sigma(t)``, ``log_snr(t) = log(α²/σ²)``,
* ``h(t) = d log α/dt`` (drift coefficient),
* ``dlog_snr(t) = 2 h / σ²`` and ``g2(t) = −σ² d log SNR/dt`` (diffusion coefficient; = β_t for VP),
* ``beta(t)``, the schedule's own β formula (used to check the VP identity ``g² = β``).

Every method clamps ``t`` to ``[t_min, t_max]``: at ``t = 0`` the SNR is infinite and for the
cosine schedule ``α_1 = 0`` (``h`` blows up), so ``t_max < 1`` there. Inputs may be Python floats
or tensors of any shape; results are tensors of the same shape (float64 for Python floats).

Schedules: ``cosine`` (default, Nichol & Dhariwal, ``s = 0.008``), ``linear`` (β linear in t,
Song et al. ``β_min = 0.1, β_max = 20``) and ``quadratic`` (β quadratic in t,
``β(t) = β_min + (β_max − β_min) t²``, default ``β_max = 40`` so that ``α_1² ≈ 1.5e-6``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import torch

__all__ = ["Schedule", "CosineSchedule", "LinearBetaSchedule", "QuadraticBetaSchedule", "get_schedule", "schedule_from_config", "SCHEDULES"]

Time = float | torch.Tensor


def _as_tensor(t: Time) -> torch.Tensor:
    return t if isinstance(t, torch.Tensor) else torch.tensor(float(t), dtype=torch.float64)


class Schedule(ABC):
    """Base VP schedule: subclasses give ``_log_alpha``, ``_dlog_alpha`` and ``_beta`` (unclamped)."""

    name: str = "base"

    def __init__(self, t_min: float, t_max: float):
        if not 0.0 <= t_min < t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
        self.t_min = float(t_min)
        self.t_max = float(t_max)

    # -- subclass formulas (t already clamped) ----------------------------------------------------
    @abstractmethod
    def _log_alpha(self, t: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _dlog_alpha(self, t: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _beta(self, t: torch.Tensor) -> torch.Tensor: ...

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this schedule with :func:`get_schedule`."""
        return {"name": self.name, "t_min": self.t_min, "t_max": self.t_max}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.config().items() if k != 'name')})"

    # -- public functions of t -------------------------------------------------------------------
    def clip(self, t: Time) -> torch.Tensor:
        return _as_tensor(t).clamp(self.t_min, self.t_max)

    def log_alpha(self, t: Time) -> torch.Tensor:
        return self._log_alpha(self.clip(t))

    def alpha(self, t: Time) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma2(self, t: Time) -> torch.Tensor:
        return -torch.expm1(2.0 * self.log_alpha(t))

    def sigma(self, t: Time) -> torch.Tensor:
        return torch.sqrt(self.sigma2(t))

    def log_snr(self, t: Time) -> torch.Tensor:
        la = self.log_alpha(t)
        return 2.0 * la - torch.log(-torch.expm1(2.0 * la))

    def h(self, t: Time) -> torch.Tensor:
        """``d log α_t / dt``."""
        return self._dlog_alpha(self.clip(t))

    def dlog_snr(self, t: Time) -> torch.Tensor:
        """``d log SNR_t / dt = 2 h_t / σ_t²`` (VP)."""
        return 2.0 * self.h(t) / self.sigma2(t)

    def g2(self, t: Time) -> torch.Tensor:
        """``g_t² = −σ_t² d log SNR_t / dt``."""
        return -self.sigma2(t) * self.dlog_snr(t)

    def beta(self, t: Time) -> torch.Tensor:
        """β_t from the schedule's own definition (equals ``g2`` for VP schedules)."""
        return self._beta(self.clip(t))

    # -- time grids -------------------------------------------------------------------------------
    def t_from_log_snr(self, log_snr: torch.Tensor, iters: int = 80) -> torch.Tensor:
        """Inverse of ``log_snr`` on ``[t_min, t_max]`` (bisection in float64; log SNR is decreasing)."""
        target = _as_tensor(log_snr).to(torch.float64)
        lo = torch.full_like(target, self.t_min)
        hi = torch.full_like(target, self.t_max)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > target  # still too clean: move right
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def time_grid(self, steps: int, kind: str = "logsnr", rho: float = 7.0) -> torch.Tensor:
        """Decreasing float64 grid ``t_max = t_0 > … > t_steps = t_min`` for a sampler.

        ``kind="logsnr"`` (default): uniform in log SNR (keeps every step's ``g² dt`` ≈ constant, so
        Euler–Maruyama stays stable where the cosine β explodes); ``"uniform"``: uniform in t;
        ``"edm"``: Karras et al.'s ρ-grid, uniform in ``σ̃^{1/ρ}`` with ``σ̃ = σ/α = SNR^{−1/2}``
        (``rho`` = 7, their choice: small steps in σ̃ near the data, larger ones in log SNR there).
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if kind == "uniform":
            return torch.linspace(self.t_max, self.t_min, steps + 1, dtype=torch.float64)
        lam_max, lam_min = float(self.log_snr(self.t_min)), float(self.log_snr(self.t_max))
        if kind == "logsnr":
            lam = torch.linspace(lam_min, lam_max, steps + 1, dtype=torch.float64)
        elif kind == "edm":
            if rho <= 0:
                raise ValueError(f"rho must be > 0, got {rho}")
            # σ̃^{1/ρ} = exp(−λ/(2ρ)), linear from t_max (largest σ̃) to t_min
            u = torch.linspace(math.exp(-lam_min / (2 * rho)), math.exp(-lam_max / (2 * rho)), steps + 1, dtype=torch.float64)
            lam = -2.0 * rho * torch.log(u)
        else:
            raise ValueError(f"unknown time grid {kind!r} (use 'logsnr', 'edm' or 'uniform')")
        grid = self.t_from_log_snr(lam)
        grid[0], grid[-1] = self.t_max, self.t_min
        return grid


class CosineSchedule(Schedule):
    """``ᾱ_t = α_t² = cos²(θ_t)/cos²(θ_0)``, ``θ_t = (π/2)(t + s)/(1 + s)``."""

    name = "cosine"

    def __init__(self, s: float = 0.008, t_min: float = 1e-3, t_max: float = 0.999):
        super().__init__(t_min, t_max)
        if s <= 0:
            raise ValueError(f"cosine offset s must be > 0, got {s}")
        self.s = float(s)
        self._log_cos0 = math.log(math.cos(0.5 * math.pi * self.s / (1.0 + self.s)))

    def _theta(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * math.pi * (t + self.s) / (1.0 + self.s)

    def _log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.cos(self._theta(t))) - self._log_cos0

    def _dlog_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * math.pi / (1.0 + self.s) * torch.tan(self._theta(t))

    def _beta(self, t: torch.Tensor) -> torch.Tensor:
        # β = −d log ᾱ/dt = π/(1+s) · tan θ
        return math.pi / (1.0 + self.s) * torch.tan(self._theta(t))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "s": self.s}


class _PolyBetaSchedule(Schedule):
    """β(t) = β_min + (β_max − β_min) tᵖ; ``log α_t = −½ ∫₀ᵗ β``."""

    power: int = 1

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3, t_max: float = 1.0):
        super().__init__(t_min, t_max)
        if not 0 <= beta_min < beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def _beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * t**self.power

    def _log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        p = self.power
        return -0.5 * (self.beta_min * t + (self.beta_max - self.beta_min) * t ** (p + 1) / (p + 1))

    def _dlog_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self._beta(t)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "beta_min": self.beta_min, "beta_max": self.beta_max}


class LinearBetaSchedule(_PolyBetaSchedule):
    name = "linear"
    power = 1


class QuadraticBetaSchedule(_PolyBetaSchedule):
    name = "quadratic"
    power = 2

    def __init__(self, beta_min: float = 0.1, beta_max: float = 40.0, t_min: float = 1e-3, t_max: float = 1.0):
        super().__init__(beta_min, beta_max, t_min, t_max)


SCHEDULES: dict[str, type[Schedule]] = {
    "cosine": CosineSchedule,
    "linear": LinearBetaSchedule,
    "linear-beta": LinearBetaSchedule,
    "linear_beta": LinearBetaSchedule,
    "quadratic": QuadraticBetaSchedule,
    "quadratic-beta": QuadraticBetaSchedule,
    "quadratic_beta": QuadraticBetaSchedule,
}


def get_schedule(name: str = "cosine", **kw: Any) -> Schedule:
    """Build a schedule by name (``cosine`` | ``linear`` | ``quadratic``); ``kw`` are its parameters
    (``t_min``, ``t_max``, ``s`` for cosine, ``beta_min``/``beta_max`` for the β schedules).
    ``None`` values mean "default"."""
    try:
        cls = SCHEDULES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; choose one of cosine, linear, quadratic") from None
    return cls(**{k: v for k, v in kw.items() if v is not None})


def schedule_from_config(cfg: dict[str, Any]) -> Schedule:
    """The schedule of a schedule section as a dict (``ScheduleConfig.model_dump()``, or the ``schedule`` of a spec's
    JSON): ``name`` plus its parameters; ``None`` means default, and a parameter of the other family is an error."""
    kw = dict(cfg)
    name = kw.pop("name", "cosine")
    if name == "cosine":
        if kw.pop("beta_min", None) is not None or kw.pop("beta_max", None) is not None:
            raise ValueError("beta_min/beta_max do not apply to the cosine schedule")
    elif kw.pop("s", None) is not None:
        raise ValueError("s applies to the cosine schedule only")
    return get_schedule(name, **kw)

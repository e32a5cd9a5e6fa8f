"""Calibrate ``c``, ``κ`` and ``λ`` of ``J = c (L + κL² + λI)`` so that prior samples match a dataset's scale.

Everything is closed-form, no sampling. With ``L = U diag(μ) Uᵀ`` (the eigenvectors of ``J`` do not
depend on ``c``, ``κ``, ``λ``), ``Σ = P U diag(1/(c(μ+κμ²+λ))) Uᵀ P`` and for prior draws ``x = R z``
(3 axes), writing ``s_k = μ_k + κμ_k² + λ``:

* bonded distance:   ``E|x_i − x_j|² = (3/c) Σ_k (U_ik − U_jk)² / s_k``
* radius of gyration: ``E Rg² = (1/N) E Σ_i |x_i|² = (3/(cN)) Σ_k |P u_k|² / s_k``
* fragment centroids (the null space of ``L`` and ``L²``): two fragments of ``n₁``, ``n₂`` atoms have
  ``E|x̄₁ − x̄₂|² = 3 (1/n₁ + 1/n₂) / (cλ)`` — a lone ion sits ``sqrt(3/(cλ))`` Å (rms) from a large rest.

(modes with zero weight — the centroid — are skipped, so ``λ = 0`` needs no special case for
connected graphs). ``c`` always makes one statistic exact: the mean squared bonded distance over all
bonds (``c_target="bonds"``, default) or the mean ``Rg²`` (``"rg"``). The other one is matched by

* **κ** (``kappa_grid`` given, the default of ``bondiff prior``): λ stays at its floor (the first point
  of ``lam_grid``, or ``fixed_lam``) and κ is found on ``[0] + kappa_grid`` and refined by bisection of
  the log mismatch between the two grid points that bracket it, so the match is exact whenever the
  data lies inside the grid's range (``kappa_at_bound`` otherwise). Real molecules are more extended
  than a chain of zero-rest-length springs, so κ > 0; if even κ = 0 gives a prior that is too
  extended, κ = 0 and λ is fitted instead (when a λ grid is given);
* **λ** (``kappa_grid`` None): κ is fixed and λ is chosen on ``lam_grid`` (the pre-κ calibration). With
  κ = 0 this ends at the lower end of the grid on every real dataset we tried (``lam_at_bound``).

``sigma_data = Rg_data / Rg_prior`` is reported for the model's preconditioning (≈ 1 after a κ fit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from pipeline.prior.graph import _as_bonds, fragment_labels, graph_laplacian
from pipeline.prior.params import PriorParams

__all__ = ["MoleculeModes", "molecule_modes", "DataScale", "data_scale", "CalibrationResult", "calibrate", "prior_scale", "scale_report"]

_EPS = 1e-12  # mode weights below this are the (projected-out) centroid


@dataclass(frozen=True)
class MoleculeModes:
    """Per-molecule mode weights for the closed-form prior statistics."""

    n_atoms: int
    n_bonds: int
    mu: np.ndarray  # [N] Laplacian eigenvalues
    bond_w: np.ndarray  # [N] Σ_bonds (U_ik − U_jk)²
    trace_w: np.ndarray  # [N] |P u_k|²
    frag_pairs: tuple[tuple[int, int], ...] = ()  # (n_largest, n_other) per extra fragment


def _fragments(n_atoms: int, bonds: np.ndarray) -> tuple[np.ndarray, int]:
    """(fragment label per atom, label of the largest fragment)."""
    labels = fragment_labels(n_atoms, bonds)
    return labels, int(np.argmax(np.bincount(labels)))


def molecule_modes(n_atoms: int, bonds: np.ndarray | None, weighted: bool = False) -> MoleculeModes:
    """Eigen-decompose ``L`` once; the prior statistics for any (c, κ, λ) follow from the mode weights."""
    b = _as_bonds(n_atoms, bonds)
    mu, u = np.linalg.eigh(graph_laplacian(n_atoms, b, weighted))
    diff = u[b[:, 0]] - u[b[:, 1]]  # [B, N]
    pu = u - u.mean(axis=0, keepdims=True)
    labels, big = _fragments(n_atoms, b)
    sizes = np.bincount(labels)
    pairs = tuple((int(sizes[big]), int(sizes[k])) for k in range(len(sizes)) if k != big)
    return MoleculeModes(n_atoms, int(b.shape[0]), np.clip(mu, 0.0, None), (diff**2).sum(axis=0), (pu**2).sum(axis=0), pairs)


@dataclass(frozen=True)
class DataScale:
    """Per-molecule data statistics: sum over bonds of the mean squared length, mean ``Rg²``, and the
    mean squared distance of each extra fragment's centroid from the largest fragment's (same order as
    ``MoleculeModes.frag_pairs``)."""

    bond_d2_sum: float
    rg2: float
    frag_d2: tuple[float, ...] = ()


def data_scale(coords: np.ndarray, bonds: np.ndarray | None) -> DataScale:
    """``coords`` [K, N, 3] (all conformers of one molecule)."""
    x = np.asarray(coords, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    b = _as_bonds(x.shape[1], bonds)
    d2 = ((x[:, b[:, 0]] - x[:, b[:, 1]]) ** 2).sum(axis=-1)  # [K, B]
    labels, big = _fragments(x.shape[1], b)
    cent = lambda k: x[:, labels == k].mean(axis=1)  # noqa: E731  [K, 3]
    frag = tuple(float(((cent(k) - cent(big)) ** 2).sum(-1).mean()) for k in range(int(labels.max()) + 1) if k != big)
    return DataScale(float(d2.mean(axis=0).sum()) if b.shape[0] else 0.0, float((x**2).sum(axis=-1).mean()), frag)


@dataclass(frozen=True)
class _Stacked:
    """All molecules' modes concatenated, for vectorised statistics at c = 1."""

    mu: np.ndarray
    bond_w: np.ndarray
    trace_w: np.ndarray
    mol: np.ndarray
    n_atoms: np.ndarray
    n_bonds: int

    @classmethod
    def of(cls, modes: list[MoleculeModes]) -> "_Stacked":
        return cls(
            np.concatenate([m.mu for m in modes]),
            np.concatenate([m.bond_w for m in modes]),
            np.concatenate([m.trace_w for m in modes]),
            np.repeat(np.arange(len(modes)), [m.mu.shape[0] for m in modes]),
            np.array([m.n_atoms for m in modes], dtype=np.float64),
            sum(m.n_bonds for m in modes),
        )

    def unit_stats(self, kappa: float, lam: float) -> tuple[float, float]:
        """(mean squared bonded distance, mean Rg²) of the prior at c = 1 (both scale as 1/c)."""
        s = self.mu + kappa * self.mu**2 + lam
        bk, tk = self.bond_w > _EPS, self.trace_w > _EPS
        bond = 3 * float((self.bond_w[bk] / s[bk]).sum()) / self.n_bonds if self.n_bonds else float("nan")
        per_mol = np.bincount(self.mol[tk], weights=self.trace_w[tk] / s[tk], minlength=len(self.n_atoms))
        return bond, float(np.mean(3 * per_mol / self.n_atoms))


def prior_scale(modes: Iterable[MoleculeModes], params: PriorParams) -> tuple[float, float]:
    """(mean squared bonded distance over all bonds, mean ``Rg²`` over molecules) of the prior."""
    bond1, rg1 = _Stacked.of(list(modes)).unit_stats(params.kappa, params.lam)
    return bond1 / params.c, rg1 / params.c


def _fragment_report(modes: list[MoleculeModes], scales: list[DataScale], params: PriorParams) -> dict[str, Any]:
    """Fragment separation: closed form ``3 (1/n₁ + 1/n₂)/(cλ)`` vs the data (multi-fragment molecules only)."""
    cl = params.c * params.lam
    out: dict[str, Any] = {"lone_ion_rms": float(np.sqrt(3 / cl)) if cl > 0 else float("inf")}
    prior = [3 * (1 / a + 1 / b) / cl if cl > 0 else float("inf") for m in modes for a, b in m.frag_pairs]
    data = [d for s in scales for d in s.frag_d2]
    out["fragment_pairs"] = len(prior)
    if prior and len(prior) == len(data):
        out["data_fragment_rms"] = float(np.sqrt(np.mean(data)))
        out["prior_fragment_rms"] = float(np.sqrt(np.mean(prior)))
    return out


def scale_report(modes: list[MoleculeModes], scales: list[DataScale], params: PriorParams) -> dict[str, Any]:
    """Data vs prior scale (root mean squares, Å) for ``params`` on these molecules."""
    n_bonds = sum(m.n_bonds for m in modes)
    prior_bond, prior_rg2 = prior_scale(modes, params)
    data_bond = sum(s.bond_d2_sum for s in scales) / n_bonds if n_bonds else float("nan")
    data_rg2 = float(np.mean([s.rg2 for s in scales]))
    ok = prior_rg2 > 0 and data_rg2 > 0
    return {
        "n_molecules": len(modes),
        "n_bonds": n_bonds,
        "data_bond_rms": float(np.sqrt(data_bond)),
        "prior_bond_rms": float(np.sqrt(prior_bond)),
        "data_rg_rms": float(np.sqrt(data_rg2)),
        "prior_rg_rms": float(np.sqrt(prior_rg2)),
        "rg_log_mismatch": float(abs(np.log(prior_rg2 / data_rg2))) if ok else float("nan"),
        "bond_log_mismatch": float(abs(np.log(prior_bond / data_bond))) if n_bonds and prior_bond > 0 else float("nan"),
        # s with E|x0|² = s² E|Rz|² (per atom): the data's global scale in units of the prior
        # (what an EDM-style preconditioner calls sigma_data)
        "sigma_data": float(np.sqrt(data_rg2 / prior_rg2)) if ok else float("nan"),
        **_fragment_report(modes, scales, params),
    }


@dataclass
class CalibrationResult:
    params: PriorParams
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Point:
    """One (κ, λ) candidate: fitted c, prior statistics at that c, signed log mismatch of the free statistic."""

    kappa: float
    lam: float
    c: float
    rg2: float
    bond: float
    mismatch: float

    def as_dict(self) -> dict[str, float]:
        return {"kappa": self.kappa, "lam": self.lam, "c": self.c, "prior_rg_rms": float(np.sqrt(self.rg2)), "prior_bond_rms": float(np.sqrt(self.bond))}


class _Fitter:
    """Evaluates candidates: c makes the ``c_target`` statistic exact, the other one's log ratio is the mismatch."""

    def __init__(self, st: _Stacked, data_bond: float, data_rg2: float, c_target: str):
        self.st, self.data_bond, self.data_rg2, self.c_target = st, data_bond, data_rg2, c_target

    def point(self, kappa: float, lam: float) -> _Point:
        bond1, rg1 = self.st.unit_stats(kappa, lam)
        c = bond1 / self.data_bond if self.c_target == "bonds" else rg1 / self.data_rg2
        free, target = (rg1 / c, self.data_rg2) if self.c_target == "bonds" else (bond1 / c, self.data_bond)
        return _Point(float(kappa), float(lam), float(c), rg1 / c, bond1 / c, float(np.log(free / target)) if free > 0 else -np.inf)

    def best_on(self, points: list[_Point]) -> int:
        return int(np.argmin([abs(p.mismatch) for p in points]))

    def refine_kappa(self, lo: _Point, hi: _Point, lam: float, iters: int = 60) -> _Point:
        """Bisection between two κ whose mismatches have opposite signs (geometric unless lo.kappa = 0)."""
        for _ in range(iters):
            k = np.sqrt(lo.kappa * hi.kappa) if lo.kappa > 0 else 0.5 * (lo.kappa + hi.kappa)
            mid = self.point(k, lam)
            if mid.mismatch == 0:
                return mid
            lo, hi = (mid, hi) if np.sign(mid.mismatch) == np.sign(lo.mismatch) else (lo, mid)
        return lo if abs(lo.mismatch) <= abs(hi.mismatch) else hi


def calibrate(
    modes: list[MoleculeModes],
    scales: list[DataScale],
    weighted: bool,
    lam_grid: np.ndarray | None,
    fixed_lam: float,
    c_target: str = "bonds",
    kappa_grid: np.ndarray | None = None,
    fixed_kappa: float = 0.0,
) -> CalibrationResult:
    """Fit ``c`` and κ (``kappa_grid`` given) or λ (``lam_grid`` given, κ = ``fixed_kappa``); see module doc.

    ``c_target="bonds"`` (default) makes the mean squared bonded distance exact and fits κ (or λ) for
    Rg; ``"rg"`` makes the mean Rg² exact (so ``sigma_data = 1``) and fits for the bonded distances.
    With a κ fit, λ is the floor ``lam_grid[0]`` (or ``fixed_lam`` when ``lam_grid`` is None).
    """
    if c_target not in ("bonds", "rg"):
        raise ValueError(f"c_target must be 'bonds' or 'rg', got {c_target!r}")
    if len(modes) != len(scales) or not modes:
        raise ValueError("calibration needs the same non-zero number of molecules and data statistics")
    st = _Stacked.of(modes)
    if st.n_bonds == 0:
        raise ValueError("calibration needs bonds: no molecule of the calibration set has any")
    data_bond = sum(s.bond_d2_sum for s in scales) / st.n_bonds
    data_rg2 = float(np.mean([s.rg2 for s in scales]))
    if data_bond <= 0 or data_rg2 <= 0:
        raise ValueError("calibration needs non-degenerate coordinates (zero bonded distances or Rg in the data)")
    fitter = _Fitter(st, data_bond, data_rg2, c_target)
    lams = None if lam_grid is None else np.asarray(lam_grid, dtype=np.float64)

    fit, kappa_curve, lam_curve = "none", [], []
    kappa_at_bound = lam_at_bound = False
    if kappa_grid is not None:
        fit = "kappa"
        lam_floor = float(fixed_lam if lams is None else lams[0])
        kappas = np.concatenate([[0.0], np.asarray(kappa_grid, dtype=np.float64)])
        kappa_curve = [fitter.point(k, lam_floor) for k in kappas]
        best = kappa_curve[fitter.best_on(kappa_curve)]
        flips = [i for i in range(len(kappas) - 1) if np.sign(kappa_curve[i].mismatch) != np.sign(kappa_curve[i + 1].mismatch)]
        if flips:
            best = fitter.refine_kappa(kappa_curve[flips[0]], kappa_curve[flips[0] + 1], lam_floor)
        elif best.kappa == 0.0 and best.mismatch > 0 and lams is not None:
            fit = "lam"  # too extended even without bending: compact it with λ instead (κ = 0)
        else:
            kappa_at_bound = True
    if kappa_grid is None or fit == "lam":
        kappa = 0.0 if fit == "lam" else float(fixed_kappa)
        fit = "lam" if lams is not None else "none"
        lam_curve = [fitter.point(kappa, lam) for lam in (lams if lams is not None else [fixed_lam])]
        i = fitter.best_on(lam_curve)
        best = lam_curve[i]
        lam_at_bound = bool(lams is not None and i in (0, len(lam_curve) - 1))
    params = PriorParams(c=best.c, lam=best.lam, weighted=weighted, kappa=best.kappa)
    stats = {
        **scale_report(modes, scales, params),
        "fit": fit,
        "lam_fitted": fit == "lam",
        "lam_at_bound": lam_at_bound,
        "kappa_fitted": fit == "kappa",
        "kappa_at_bound": kappa_at_bound,
        "c_target": c_target,
        "curve": [p.as_dict() for p in (kappa_curve if fit == "kappa" else lam_curve)],
    }
    return CalibrationResult(params, stats)

"""Calibrate ``c``, ``κ`` and ``λ`` of ``J = c (L + κL² + λM)`` so that prior samples match a dataset's scale.

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

* **κ** (``kappa_grid`` given, the default of ``bondiff prior``): for a given λ, κ is found on
  ``[0] + kappa_grid`` and refined by bisection of the log mismatch between the two grid points that
  bracket it, so the match is exact whenever the data lies inside the grid's range (``kappa_at_bound``
  otherwise). Real molecules are more extended than a chain of zero-rest-length springs, so κ > 0; if
  even κ = 0 gives a prior that is too extended, κ = 0 and λ is fitted instead (when a λ grid is
  given). λ is either its floor (the first point of ``lam_grid``, or ``fixed_lam``) or, with
  ``fragment_rms`` (Å), set so that a lone ion sits ``fragment_rms`` from a large rest:
  ``λ = 3/(c fragment_rms²)``. c depends on (κ, λ), so this is a fixed point, solved in ``log λ`` by
  the update ``λ ← 3/(c(κ(λ), λ) fragment_rms²)`` with secant acceleration (``_FragmentSolver``).
  The lone-ion distance ``F(λ) = sqrt(3/(c λ))`` at the (bond, Rg)-matched c decreases with λ towards
  a floor ``F∞`` (the limit ``λ → ∞`` with ``κ/λ`` fixed: ``J ∝ I + a L²``): a target below ``F∞``
  has no fixed point (``fragment_reachable: false``) and λ then stays at its floor. Measured:
  ``F∞`` ≈ 12.5 Å on QM9, ≈ 23 Å on the Hutchison drug-like set (docs/prior.md, "Fragments");
* **λ** (``kappa_grid`` None): κ is fixed and λ is chosen on ``lam_grid`` (the pre-κ calibration). With
  κ = 0 this ends at the lower end of the grid on every real dataset we tried (``lam_at_bound``).

``lam_mode="fragments"`` (λ on the fragment-centroid modes only, ``graph.mode_stiffness``): λ does not
touch any mode of a connected molecule, so c and κ are fitted without it on the *intra-fragment*
statistics (bonded distances; Rg² minus its inter-fragment part ``(1/N) Σ_f n_f |x̄_f|²``, in the data
and in the prior, where that part is exactly the null-mode contribution; for connected molecules this
is the plain Rg², and the null modes, being the centroid only, are skipped). Then λ is closed form:
``λ = 3/(c fragment_rms²)`` (no fixed point: c does not depend on λ), or ``fixed_lam`` without a target.

``sigma_data = Rg_data / Rg_prior`` is reported for the model's preconditioning (≈ 1 after a κ fit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from pipeline.prior.graph import LAM_MODES, _as_bonds, fragment_labels, graph_laplacian, mode_stiffness
from pipeline.prior.params import PriorParams

__all__ = ["MoleculeModes", "molecule_modes", "DataScale", "data_scale", "CalibrationResult", "calibrate", "fragment_summary", "prior_scale", "scale_report"]

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
    n_fragments: int = 1  # the first n_fragments modes (eigh order) span the null space of L


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
    return MoleculeModes(n_atoms, int(b.shape[0]), np.clip(mu, 0.0, None), (diff**2).sum(axis=0), (pu**2).sum(axis=0), pairs, len(sizes))


@dataclass(frozen=True)
class DataScale:
    """Per-molecule data statistics: sum over bonds of the mean squared length, mean ``Rg²``, the
    mean squared distance of each extra fragment's centroid from the largest fragment's (same order as
    ``MoleculeModes.frag_pairs``) and the inter-fragment part of ``Rg²``, ``(1/N) Σ_f n_f |x̄_f|²``
    (0 for a connected molecule; ``rg2 − rg2_inter`` is the intra-fragment part)."""

    bond_d2_sum: float
    rg2: float
    frag_d2: tuple[float, ...] = ()
    rg2_inter: float = 0.0


def data_scale(coords: np.ndarray, bonds: np.ndarray | None) -> DataScale:
    """``coords`` [K, N, 3] (all conformers of one molecule)."""
    x = np.asarray(coords, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    b = _as_bonds(x.shape[1], bonds)
    d2 = ((x[:, b[:, 0]] - x[:, b[:, 1]]) ** 2).sum(axis=-1)  # [K, B]
    labels, big = _fragments(x.shape[1], b)
    cent = lambda k: x[:, labels == k].mean(axis=1)  # noqa: E731  [K, 3]
    frags = range(int(labels.max()) + 1)
    frag = tuple(float(((cent(k) - cent(big)) ** 2).sum(-1).mean()) for k in frags if k != big)
    inter = sum(float((labels == k).sum()) * (cent(k) ** 2).sum(-1) for k in frags) / x.shape[1] if len(frags) > 1 else np.zeros(1)
    return DataScale(float(d2.mean(axis=0).sum()) if b.shape[0] else 0.0, float((x**2).sum(axis=-1).mean()), frag, float(np.mean(inter)))


@dataclass(frozen=True)
class _Stacked:
    """All molecules' modes concatenated, for vectorised statistics at c = 1."""

    mu: np.ndarray
    bond_w: np.ndarray
    trace_w: np.ndarray
    mol: np.ndarray
    n_atoms: np.ndarray
    n_bonds: int
    null: np.ndarray  # [Σ N] bool: the mode lies in the null space of its molecule's L

    @classmethod
    def of(cls, modes: list[MoleculeModes]) -> "_Stacked":
        return cls(
            np.concatenate([m.mu for m in modes]),
            np.concatenate([m.bond_w for m in modes]),
            np.concatenate([m.trace_w for m in modes]),
            np.repeat(np.arange(len(modes)), [m.mu.shape[0] for m in modes]),
            np.array([m.n_atoms for m in modes], dtype=np.float64),
            sum(m.n_bonds for m in modes),
            np.concatenate([np.arange(m.mu.shape[0]) < m.n_fragments for m in modes]),
        )

    def unit_stats(self, kappa: float, lam: float, lam_mode: str = "identity", intra: bool = False) -> tuple[float, float]:
        """(mean squared bonded distance, mean Rg²) of the prior at c = 1 (both scale as 1/c); ``intra``:
        without the null modes of L (the fragment centroids), i.e. the intra-fragment part of Rg²."""
        s = mode_stiffness(self.mu, self.null, kappa, lam, lam_mode)
        bk, tk = self.bond_w > _EPS, self.trace_w > _EPS
        if intra:
            bk, tk = bk & ~self.null, tk & ~self.null
        bond = 3 * float((self.bond_w[bk] / s[bk]).sum()) / self.n_bonds if self.n_bonds else float("nan")
        per_mol = np.bincount(self.mol[tk], weights=self.trace_w[tk] / s[tk], minlength=len(self.n_atoms))
        return bond, float(np.mean(3 * per_mol / self.n_atoms))


def prior_scale(modes: Iterable[MoleculeModes], params: PriorParams, intra: bool = False) -> tuple[float, float]:
    """(mean squared bonded distance over all bonds, mean ``Rg²`` over molecules) of the prior
    (``intra``: the intra-fragment part of Rg², independent of λ)."""
    bond1, rg1 = _Stacked.of(list(modes)).unit_stats(params.kappa, params.lam, params.lam_mode, intra)
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
        **(_intra_report(modes, scales, params) if params.lam_mode == "fragments" else {}),
    }


def _intra_report(modes: list[MoleculeModes], scales: list[DataScale], params: PriorParams) -> dict[str, Any]:
    """Fragments mode: the intra-fragment Rg (what c and κ are fitted on; equals Rg for connected molecules)."""
    _, prior_intra = prior_scale(modes, params, intra=True)
    return {
        "lam_mode": params.lam_mode,
        "data_rg_intra_rms": float(np.sqrt(np.mean([s.rg2 - s.rg2_inter for s in scales]))),
        "prior_rg_intra_rms": float(np.sqrt(prior_intra)),
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

    def __init__(self, st: _Stacked, data_bond: float, data_rg2: float, c_target: str, lam_mode: str = "identity"):
        """``lam_mode="fragments"``: ``data_rg2`` is the intra-fragment part and the prior's is taken without the
        null modes, so λ drops out (pass any λ)."""
        self.st, self.data_bond, self.data_rg2, self.c_target, self.lam_mode = st, data_bond, data_rg2, c_target, lam_mode

    def point(self, kappa: float, lam: float) -> _Point:
        bond1, rg1 = self.st.unit_stats(kappa, lam, self.lam_mode, intra=self.lam_mode == "fragments")
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

    def fit_kappa(self, kappas: np.ndarray, lam: float) -> tuple[_Point, list[_Point], str]:
        """(best point, grid curve, status) of the κ fit at this λ; status ``"ok"`` (bracketed and
        bisected: exact), ``"compact"`` (even κ = 0 is too extended) or ``"bound"`` (κ at the grid's end)."""
        curve = [self.point(k, lam) for k in kappas]
        flips = [i for i in range(len(kappas) - 1) if np.sign(curve[i].mismatch) != np.sign(curve[i + 1].mismatch)]
        if flips:
            return self.refine_kappa(curve[flips[0]], curve[flips[0] + 1], lam), curve, "ok"
        best = curve[self.best_on(curve)]
        return best, curve, "compact" if best.kappa == 0.0 and best.mismatch > 0 else "bound"


def _lone_ion_rms(p: _Point) -> float:
    return float(np.sqrt(3 / (p.c * p.lam)))


#: λ at which the fragment floor F∞ is evaluated (the μ term of s = μ + κμ² + λ is then < 1e-7 relative)
_LAM_INF = 1e8
#: κ/λ range searched for that limit (QM9 ≈ 104, Hutchison ≈ 441)
_KAPPA_PER_LAM = np.geomspace(1e-3, 1e6, 46)


@dataclass
class _FragmentSolver:
    """Fixed point ``λ = 3/(c(κ(λ), λ) r²)`` with κ(λ) from the κ fit: the lone ion sits ``r`` Å (rms) from a
    large rest while bonds and Rg stay matched. Works in ``x = log λ`` on ``h(x) = log(F(λ)/r)``,
    ``F = sqrt(3/(cλ))``, which decreases with x: the plain update is ``x ← x + 2h`` (λ ← 3/(c r²)); after
    the first step a secant step through the last two iterates is taken instead, kept inside the bracket
    the iterates so far establish (bisection when it would leave it; a λ where κ leaves its grid bounds
    the bracket too). Stops when ``|h| ≤ tol``, after ``max_iter`` κ fits (``iterations``), or when the
    bracket is narrower than 1e-9 without a root in it (the root needs κ beyond the grid: ``kappa_limited``)."""

    fitter: _Fitter
    kappas: np.ndarray
    target: float
    tol: float = 1e-10
    max_iter: int = 50
    iterations: int = 0
    kappa_limited: bool = False  # some λ tried needed a κ beyond the grid

    def floor(self) -> float:
        """``F∞``: the smallest lone-ion rms reachable with bonds and Rg matched (``inf`` if κ cannot match Rg)."""
        p, _, status = self.fitter.fit_kappa(np.concatenate([[0.0], _LAM_INF * _KAPPA_PER_LAM]), _LAM_INF)
        return _lone_ion_rms(p) if status == "ok" else float("inf")

    def _eval(self, x: float) -> tuple[_Point, float] | None:
        self.iterations += 1
        p, _, status = self.fitter.fit_kappa(self.kappas, float(np.exp(x)))
        return (p, float(np.log(_lone_ion_rms(p) / self.target))) if status == "ok" else None

    def solve(self, lam0: float) -> tuple[_Point | None, bool]:
        """(point at the fixed point or the last good iterate, converged); ``None`` if κ fails at ``lam0``."""
        x = float(np.log(lam0))
        first = self._eval(x)
        if first is None:
            return None, False
        point, h = first
        lo, hi = -np.inf, np.inf  # the root lies in (lo, hi)
        prev: tuple[float, float] | None = None
        while abs(h) > self.tol and self.iterations < self.max_iter and hi - lo > 1e-9:
            lo, hi = (x, hi) if h > 0 else (lo, x)
            step = 2 * h  # λ ← 3/(c r²)
            if prev is not None and prev[1] != h:
                step = -h * (x - prev[0]) / (h - prev[1])
            xn = x + step
            if not lo < xn < hi:
                bound = hi if h > 0 else lo
                xn = 0.5 * (x + bound) if np.isfinite(bound) else x + 2 * h
            nxt = self._eval(xn)
            if nxt is None:  # κ out of its grid there: no root beyond xn
                lo, hi = (lo, xn) if xn > x else (xn, hi)
                self.kappa_limited = True
                continue
            prev, x, (point, h) = (x, h), xn, nxt
        return point, abs(h) <= self.tol


def _fragment_lam(fitter: _Fitter, kappas: np.ndarray, target: float, lam_floor: float, max_iter: int) -> tuple[float, dict[str, Any]]:
    """(λ, report): the fixed point for a lone-ion rms of ``target`` Å, or ``lam_floor`` when there is none."""
    if not target > 0:
        raise ValueError(f"fragment_rms must be > 0 Å, got {target}")
    solver = _FragmentSolver(fitter, kappas, target, max_iter=max_iter)
    f_min = solver.floor()
    report: dict[str, Any] = {"fragment_rms_target": target, "fragment_rms_min": f_min, "fragment_reachable": bool(target > f_min)}
    point, converged = solver.solve(lam_floor) if report["fragment_reachable"] else (None, False)
    lam = point.lam if converged and point is not None else lam_floor
    report.update(
        lam_from="fragment_rms" if converged else "floor",
        fragment_converged=converged,
        fragment_iterations=solver.iterations,
        fragment_kappa_limited=solver.kappa_limited and not converged,
    )
    return lam, report


def fragment_summary(stats: dict[str, Any], lam: float) -> str:
    """One line on the ``fragment_rms`` target from a calibration report (``calibrate(...).stats``) and the λ used."""
    head = f"fragment_rms target {stats['fragment_rms_target']:g} Å"
    if stats.get("lam_mode") == "fragments":
        return f"{head}: λ = 3/(c r²) = {lam:.4g} (λ on the fragment modes only: closed form, c and κ fitted without it)"
    if stats["lam_from"] == "fragment_rms":
        return f"{head}: reached, λ = 3/(c r²) = {lam:.4g} after {stats['fragment_iterations']} κ fits"
    if not stats["fragment_reachable"]:
        why = f"below the smallest separation reachable with bonds and Rg matched, {stats['fragment_rms_min']:.2f} Å"
    elif stats["lam_from"] == "rg_fit":
        why = "even κ = 0 is too extended, λ fitted to Rg instead"
    elif stats["fragment_kappa_limited"]:
        why = "it needs κ beyond the grid (calibration.kappa_max)"
    else:
        why = f"no convergence in {stats['fragment_iterations']} κ fits"
    return f"{head} not reached ({why}): λ = {lam:.4g}"


def calibrate(
    modes: list[MoleculeModes],
    scales: list[DataScale],
    weighted: bool,
    lam_grid: np.ndarray | None,
    fixed_lam: float,
    c_target: str = "bonds",
    kappa_grid: np.ndarray | None = None,
    fixed_kappa: float = 0.0,
    fragment_rms: float | None = None,
    max_iter: int = 50,
    lam_mode: str = "identity",
) -> CalibrationResult:
    """Fit ``c`` and κ (``kappa_grid`` given) or λ (``lam_grid`` given, κ = ``fixed_kappa``); see module doc.

    ``c_target="bonds"`` (default) makes the mean squared bonded distance exact and fits κ (or λ) for
    Rg; ``"rg"`` makes the mean Rg² exact (so ``sigma_data = 1``) and fits for the bonded distances.
    With a κ fit, λ is the floor ``lam_grid[0]`` (or ``fixed_lam`` when ``lam_grid`` is None), or, with
    ``fragment_rms`` (Å), the fixed point ``λ = 3/(c fragment_rms²)`` (at most ``max_iter`` κ fits; the
    floor when the target is unreachable or the iteration does not converge). ``fragment_rms`` is
    ignored without a κ fit (there λ is fitted to Rg, or fixed).

    ``lam_mode="fragments"``: c and κ (``kappa_grid``, else κ = ``fixed_kappa``) are fitted on the
    intra-fragment statistics, where λ does not enter; ``lam_grid`` and ``max_iter`` are unused; λ is
    ``3/(c fragment_rms²)`` exactly, or ``fixed_lam`` when ``fragment_rms`` is None.
    """
    if c_target not in ("bonds", "rg"):
        raise ValueError(f"c_target must be 'bonds' or 'rg', got {c_target!r}")
    if lam_mode not in LAM_MODES:
        raise ValueError(f"lam_mode must be one of {LAM_MODES}, got {lam_mode!r}")
    if len(modes) != len(scales) or not modes:
        raise ValueError("calibration needs the same non-zero number of molecules and data statistics")
    st = _Stacked.of(modes)
    if st.n_bonds == 0:
        raise ValueError("calibration needs bonds: no molecule of the calibration set has any")
    data_bond = sum(s.bond_d2_sum for s in scales) / st.n_bonds
    data_rg2 = float(np.mean([s.rg2 for s in scales]))
    if data_bond <= 0 or data_rg2 <= 0:
        raise ValueError("calibration needs non-degenerate coordinates (zero bonded distances or Rg in the data)")
    if lam_mode == "fragments":
        data_intra = float(np.mean([s.rg2 - s.rg2_inter for s in scales]))
        fitter = _Fitter(st, data_bond, data_intra, c_target, "fragments")
        return _calibrate_fragments(modes, scales, fitter, weighted, kappa_grid, fixed_kappa, fixed_lam, fragment_rms)
    fitter = _Fitter(st, data_bond, data_rg2, c_target)
    lams = None if lam_grid is None else np.asarray(lam_grid, dtype=np.float64)

    fit, kappa_curve, lam_curve = "none", [], []
    kappa_at_bound = lam_at_bound = False
    frag: dict[str, Any] = {}
    if kappa_grid is not None:
        fit = "kappa"
        lam = lam_floor = float(fixed_lam if lams is None else lams[0])
        kappas = np.concatenate([[0.0], np.asarray(kappa_grid, dtype=np.float64)])
        if fragment_rms is not None:
            lam, frag = _fragment_lam(fitter, kappas, float(fragment_rms), lam_floor, max_iter)
        best, kappa_curve, status = fitter.fit_kappa(kappas, lam)
        if status == "compact" and lams is not None:
            fit = "lam"  # too extended even without bending: compact it with λ instead (κ = 0)
            if frag:
                frag["lam_from"] = "rg_fit"
        elif status != "ok":
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
        **frag,
        "curve": [p.as_dict() for p in (kappa_curve if fit == "kappa" else lam_curve)],
    }
    return CalibrationResult(params, stats)


def _calibrate_fragments(
    modes: list[MoleculeModes],
    scales: list[DataScale],
    fitter: _Fitter,
    weighted: bool,
    kappa_grid: np.ndarray | None,
    fixed_kappa: float,
    fixed_lam: float,
    fragment_rms: float | None,
) -> CalibrationResult:
    """``calibrate`` with λ on the fragment modes only: (c, κ) without λ, then λ in closed form."""
    if fragment_rms is not None and not fragment_rms > 0:
        raise ValueError(f"fragment_rms must be > 0 Å, got {fragment_rms}")
    curve: list[_Point] = []
    kappa_at_bound = False
    if kappa_grid is not None:
        kappas = np.concatenate([[0.0], np.asarray(kappa_grid, dtype=np.float64)])
        best, curve, status = fitter.fit_kappa(kappas, 0.0)
        kappa_at_bound = status != "ok"  # "compact" (κ = 0 already too extended) or beyond the grid's end
    else:
        best = fitter.point(float(fixed_kappa), 0.0)
    if fragment_rms is not None:
        lam, frag = 3.0 / (best.c * float(fragment_rms) ** 2), {"fragment_rms_target": float(fragment_rms), "lam_from": "fragment_rms"}
    else:
        lam, frag = float(fixed_lam), {"lam_from": "fixed"}
    params = PriorParams(c=best.c, lam=lam, weighted=weighted, kappa=best.kappa, lam_mode="fragments")
    stats = {
        **scale_report(modes, scales, params),
        "fit": "kappa" if kappa_grid is not None else "none",
        "lam_fitted": False,
        "lam_at_bound": False,
        "kappa_fitted": kappa_grid is not None,
        "kappa_at_bound": kappa_at_bound,
        "c_target": fitter.c_target,
        **frag,
        "curve": [p.as_dict() for p in curve],
    }
    return CalibrationResult(params, stats)

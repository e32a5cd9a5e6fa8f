"""Optional GFN2-xTB refinement with ``tblite`` (``pip install -c constraints.txt tblite``, extra ``xtb``).

Each conformer is relaxed by L-BFGS (scipy) on the tblite energy/gradient, in Bohr internally,
capped at ``max_steps``; ``max_steps=0`` only re-scores the MMFF geometry. Energies are Hartree.
"""

from __future__ import annotations

import numpy as np

from pipeline.builder.config import XtbConfig

__all__ = ["BOHR_PER_ANGSTROM", "XtbError", "xtb_available", "refine_conformer"]

BOHR_PER_ANGSTROM = 1.0 / 0.52917721067


class XtbError(RuntimeError):
    """tblite missing, or the SCF / optimisation failed for a conformer."""


def xtb_available() -> bool:
    try:
        import tblite.interface  # noqa: F401
    except ImportError:
        return False
    return True


def _thread_limit(n: int):
    """Cap OpenMP/BLAS threads (tblite's OpenMP threads spin when the cores are shared)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (an mlflow dependency)
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=n)


def refine_conformer(numbers: np.ndarray, coords: np.ndarray, charge: int, cfg: XtbConfig) -> tuple[np.ndarray, float, dict]:
    """Relax one conformer (coords [N,3] Å) -> (coords Å, energy Hartree, info), on ``cfg.threads`` threads."""
    with _thread_limit(cfg.threads):
        return _refine(numbers, coords, charge, cfg)


def _refine(numbers: np.ndarray, coords: np.ndarray, charge: int, cfg: XtbConfig) -> tuple[np.ndarray, float, dict]:
    try:
        from tblite.interface import Calculator
    except ImportError:
        raise XtbError("xtb.enabled needs the tblite package: pip install -c constraints.txt tblite") from None
    from scipy.optimize import minimize

    x0 = np.asarray(coords, dtype=np.float64) * BOHR_PER_ANGSTROM
    calc = Calculator(cfg.method, np.asarray(numbers, dtype=np.int32), x0, charge=float(charge), uhf=0)
    calc.set("verbosity", 0)
    calc.set("accuracy", cfg.accuracy)
    state: dict = {"res": None, "evals": 0}

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        calc.update(positions=flat.reshape(-1, 3))
        try:
            res = calc.singlepoint(state["res"])
        except Exception as exc:  # tblite raises a bare RuntimeError/TBLiteRuntimeError on SCF failure
            raise XtbError(f"tblite SCF failed: {exc}") from None
        state["res"], state["evals"] = res, state["evals"] + 1
        return float(res.get("energy")), np.asarray(res.get("gradient"), dtype=np.float64).reshape(-1)

    if cfg.max_steps == 0:
        e, g = fun(x0.reshape(-1))
        return np.asarray(coords, dtype=np.float64), e, {"evals": 1, "max_grad": float(np.abs(g).max())}
    opt = minimize(fun, x0.reshape(-1), jac=True, method="L-BFGS-B", options={"maxiter": cfg.max_steps, "gtol": cfg.gtol})
    info = {"evals": state["evals"], "converged": bool(opt.success), "max_grad": float(np.abs(opt.jac).max())}
    return opt.x.reshape(-1, 3) / BOHR_PER_ANGSTROM, float(opt.fun), info

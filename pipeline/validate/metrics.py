"""Ensemble metrics against reference conformers (docs/design.md §5).

For a molecule with K references and L generated conformers, ``D[k, l]`` is the heavy-atom RMSD
(``RemoveHs``) after optimal superposition over all symmetry-equivalent atom maps, without
reflection (``rdMolAlign.GetBestRMS``). With threshold δ:

* COV-R (recall)    = fraction of references with ``min_l D[k, l] < δ``;  AMR-R = mean_k min_l D[k, l]
* COV-P (precision) = fraction of generated conformers with ``min_k D[k, l] < δ``; AMR-P = mean_l min_k D[k, l]

Only *valid* generated conformers may cover (``only_valid``): invalid ones are left out of recall,
count as misses in COV-P and are left out of AMR-P. A molecule without a valid sample has
COV-R = COV-P = 0 and AMR-R/AMR-P undefined (NaN; summaries count such molecules).

RMSD matrices of many molecules are computed in parallel over processes (:func:`rmsd_matrices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from pipeline.validate.matching import heavy_atom_maps
from pipeline.validate.parallel import pmap, resolve_workers

__all__ = ["RmsdTask", "rmsd_matrix", "rmsd_matrices", "coverage_metrics", "ensemble_metrics", "cov_curve", "resolve_workers"]


@dataclass
class RmsdTask:
    """One molecule's RMSD matrix job: generated and reference molecules with their conformers (H allowed)."""

    gen: Any
    ref: Any
    max_matches: int = 10000


def rmsd_matrix(gen: Any, ref: Any, max_matches: int = 10000) -> np.ndarray:
    """``D[k, l]``: heavy-atom best RMSD between reference conformer k and generated conformer l (Å)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    g = Chem.RemoveHs(gen, sanitize=False)
    r = Chem.RemoveHs(ref, sanitize=False)
    maps = heavy_atom_maps(g, r, max_matches)
    g_ids = [c.GetId() for c in g.GetConformers()]
    r_ids = [c.GetId() for c in r.GetConformers()]
    out = np.full((len(r_ids), len(g_ids)), np.nan)
    for j, gid in enumerate(g_ids):
        pos = np.asarray(g.GetConformer(gid).GetPositions())
        if not np.isfinite(pos).all():
            continue
        for i, rid in enumerate(r_ids):
            # GetBestRMS moves the probe; RMSD after optimal superposition does not depend on where it starts
            out[i, j] = rdMolAlign.GetBestRMS(g, r, prbId=gid, refId=rid, map=maps)
    return out


def _run_task(task: RmsdTask) -> np.ndarray:
    return rmsd_matrix(task.gen, task.ref, task.max_matches)


def rmsd_matrices(tasks: Sequence[RmsdTask], workers: int = 0, min_parallel_pairs: int = 2000) -> list[np.ndarray | Exception]:
    """RMSD matrices of many molecules, in parallel over ``workers`` processes (0 = all cores).

    Small jobs (fewer than ``min_parallel_pairs`` conformer pairs in all) run in this process.
    A molecule whose graphs cannot be matched gives its exception in place of a matrix.
    """
    pairs = sum(t.gen.GetNumConformers() * t.ref.GetNumConformers() for t in tasks)
    return pmap(_run_task, tasks, workers, serial=pairs < min_parallel_pairs)


def coverage_metrics(D: np.ndarray, deltas: Sequence[float], valid: np.ndarray | None = None, only_valid: bool = True) -> dict[str, float]:
    """COV-R/AMR-R/COV-P/AMR-P from ``D[K_ref, L_gen]`` at each δ (keys like ``COV-R_0.75``)."""
    D = np.asarray(D, dtype=np.float64)
    K, L = D.shape
    ok = np.ones(L, dtype=bool) if valid is None or not only_valid else np.asarray(valid, dtype=bool).copy()
    ok &= np.isfinite(D).all(axis=0) if K else ok
    out: dict[str, float] = {"n_ref": float(K), "n_gen": float(L), "n_gen_used": float(ok.sum())}
    if K == 0:
        raise ValueError("no reference conformers")
    if not ok.any():
        for d in deltas:
            out[f"COV-R_{d:g}"] = 0.0
            out[f"COV-P_{d:g}"] = 0.0
        out["AMR-R"] = float("nan")
        out["AMR-P"] = float("nan")
        return out
    Dv = D[:, ok]
    min_r = Dv.min(axis=1)  # best generated match of each reference
    min_p = Dv.min(axis=0)  # best reference match of each used generated conformer
    for d in deltas:
        out[f"COV-R_{d:g}"] = float((min_r < d).mean())
        out[f"COV-P_{d:g}"] = float((min_p < d).sum() / L) if L else 0.0
    out["AMR-R"] = float(min_r.mean())
    out["AMR-P"] = float(min_p.mean())
    return out


def cov_curve(D: np.ndarray, grid: np.ndarray, valid: np.ndarray | None = None, only_valid: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(COV-R(δ), COV-P(δ)) on ``grid`` for one molecule (zeros without a usable sample)."""
    D = np.asarray(D, dtype=np.float64)
    K, L = D.shape
    ok = np.ones(L, dtype=bool) if valid is None or not only_valid else np.asarray(valid, dtype=bool).copy()
    ok &= np.isfinite(D).all(axis=0)
    if not ok.any():
        return np.zeros_like(grid, dtype=float), np.zeros_like(grid, dtype=float)
    Dv = D[:, ok]
    min_r, min_p = Dv.min(axis=1), Dv.min(axis=0)
    rec = (min_r[None, :] < grid[:, None]).mean(axis=1)
    prec = (min_p[None, :] < grid[:, None]).sum(axis=1) / L
    return rec, prec


def ensemble_metrics(gen: Any, ref: Any, deltas: Sequence[float] = (0.75, 0.5, 0.1), valid: Sequence[bool] | None = None, only_valid: bool = True, max_matches: int = 10000) -> dict:
    """Contract function: coverage metrics of ``gen``'s conformers against ``ref``'s (+ the matrix under ``"rmsd"``)."""
    D = rmsd_matrix(gen, ref, max_matches)
    out: dict[str, Any] = dict(coverage_metrics(D, deltas, None if valid is None else np.asarray(valid), only_valid))
    out["rmsd"] = D
    return out

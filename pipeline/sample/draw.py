"""Batches and retries: run the sampler over conformer jobs in atom-budget batches, finish every
sample (:mod:`pipeline.sample.finish`) and redraw the unusable ones.

* A diverged sample (non-finite, absurd bond, far-flung atom: :func:`divergence_reason`) is redrawn
  with a fresh seed, up to ``max_retries`` times, and reported if it still fails — coordinates handed
  back are always finite.
* With ``retry_wrong_stereo`` a sample whose stereo is wrong *as it would be written* (after the mirror
  guard and the relaxation) is redrawn too; if every attempt is wrong the last one is kept (flagged
  ``stereo_ok = false``), so stereo never costs a conformer.

Randomness: one ``torch.Generator`` per (seed, attempt, batch), so a run is reproducible for a given
``seed`` and ``atom_budget``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.sample.batching import Job, plan_batches
from pipeline.sample.config import DivergenceConfig
from pipeline.sample.diatomic import place_diatomic
from pipeline.sample.finish import Conformer
from pipeline.sample.modelspec import spec_prior_params, spec_schedule
from pipeline.sample.prepared import PreparedMolecule
from pipeline.sample.stereo import StereoTally

__all__ = ["draw", "divergence_reason", "DrawCounts"]


class DrawCounts:
    """What the draw loop counts (copied into :class:`~pipeline.sample.generate.GenerationStats`)."""

    def __init__(self) -> None:
        self.attempts = 0  # sampler calls (batches), retries included
        self.retried = 0  # jobs that needed at least one retry
        self.stereo_retried = 0  # samples redrawn because their stereo was wrong
        self.seconds = 0.0  # the whole loop (sampler, checks, finishing)
        self.first_draw = StereoTally()  # raw stereo of every non-diverged first-attempt sample (before any redraw)


def divergence_reason(x: np.ndarray, bonds: np.ndarray, cfg: DivergenceConfig) -> str | None:
    """Why conformer ``x`` [N, 3] is unusable (non-finite, absurd bond, far-flung atom), or None."""
    if not np.isfinite(x).all():
        return "non-finite coordinates"
    r = np.linalg.norm(x - x.mean(axis=0), axis=1)
    if r.size and r.max() > cfg.max_radius:
        return f"atom {int(r.argmax())} is {r.max():.1f} Å from the centroid"
    if bonds.size:
        d = np.linalg.norm(x[bonds[:, 0]] - x[bonds[:, 1]], axis=1)
        k = int(np.argmax(np.maximum(cfg.min_bond_length - d, d - cfg.max_bond_length)))
        if d[k] < cfg.min_bond_length or d[k] > cfg.max_bond_length:
            i, j = int(bonds[k, 0]), int(bonds[k, 1])
            return f"bond {i}-{j} is {d[k]:.2f} Å (allowed {cfg.min_bond_length}-{cfg.max_bond_length} Å)"
    return None


def _batch_seed(seed: int, attempt: int, batch_index: int) -> int:
    h = hashlib.sha256(f"{seed}:{attempt}:{batch_index}".encode()).hexdigest()
    return int(h[:15], 16)


def draw(
    jobs: Sequence[Job],
    prepared: Sequence[PreparedMolecule | None],
    finishers: Sequence[Callable[[np.ndarray, int], Conformer] | None],
    model: Callable[..., Any],
    spec: Any,
    run_sampler: Callable[..., Any],
    seed: int,
    device: str,
    atom_budget: int,
    div: DivergenceConfig,
    counts: DrawCounts,
    progress: bool = False,
) -> tuple[dict[Job, Conformer], dict[Job, str]]:
    """Sample ``jobs``; returns ``({job: finished conformer}, {lost job: last reason})``.

    ``run_sampler(model, prior, schedule, generator, batch, molecules) -> x [A, 3]`` draws one batch
    (the solver, its steps and the guidance are bound in it).
    """
    import torch
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    from pipeline.prior import PriorBatch

    results: dict[Job, Conformer] = {}
    last_reason: dict[Job, str] = {}
    if not jobs:
        return results, last_reason
    prior_params = spec_prior_params(spec)
    schedule = spec_schedule(spec)
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    dtype = params[0].dtype if params else torch.float32
    if params and params[0].device != torch.device(device):
        model.to(device)  # a model handed over on another device (e.g. loaded on CPU, sampling on CUDA)
    if hasattr(model, "eval"):
        model.eval()
    n_atoms = [p.n_atoms if p is not None else 0 for p in prepared]
    pending = list(jobs)
    fallback: dict[Job, Conformer] = {}  # wrong-stereo samples kept in case no retry does better
    bar = tqdm(total=len(pending), desc="sampling", unit="conf", disable=not progress)
    t0 = time.perf_counter()
    for attempt in range(div.max_retries + 1):
        if not pending:
            break
        if attempt == 1:
            counts.retried = len(pending)
        last = attempt == div.max_retries
        failed: list[Job] = []
        for b, batch in enumerate(plan_batches(n_atoms, pending, atom_budget)):
            mols = [prepared[m] for m, _ in batch]
            graph = Batch.from_data_list([p.graph for p in mols]).to(device)
            factors = [p.factor(prior_params) for p in mols]
            prior = PriorBatch.from_factors([f[0] for f in factors], [f[1] for f in factors], dtype=dtype, device=device)
            # a CPU generator: the same draws on CPU and GPU (PriorBatch moves them to the device)
            gen = torch.Generator().manual_seed(_batch_seed(seed, attempt, b))
            with torch.no_grad():
                x = run_sampler(model, prior, schedule, gen, graph, mols)
            counts.attempts += 1
            xs = x.detach().to("cpu", torch.float64).numpy()
            offsets = np.concatenate([[0], np.cumsum([p.n_atoms for p in mols])])
            for j, job in enumerate(batch):
                xj = xs[offsets[j] : offsets[j + 1]]
                if prepared[job[0]].diatomic is not None:
                    xj = place_diatomic(xj, prepared[job[0]].diatomic)
                reason = divergence_reason(xj, prepared[job[0]].bonds, div)
                if reason is not None:
                    if last and job in fallback:  # diverged last: keep the earlier wrong-stereo sample
                        results[job] = fallback[job]
                        bar.update(1)
                    else:
                        last_reason[job] = reason
                        failed.append(job)
                    continue
                conf = finishers[job[0]](xj, attempt)
                if attempt == 0:
                    counts.first_draw.add(conf.raw)
                if div.retry_wrong_stereo and not conf.stereo_ok:
                    counts.stereo_retried += 1
                    fallback[job] = conf
                    if not last:
                        failed.append(job)
                        continue
                results[job] = conf
                last_reason.pop(job, None)
                bar.update(1)
        pending = failed
    counts.seconds = time.perf_counter() - t0
    bar.close()
    return results, {j: r for j, r in last_reason.items() if j not in results}

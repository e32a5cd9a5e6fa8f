"""Generate conformers for RDKit molecules with a trained denoiser (the heart of ``bondiff sample``).

For each batch of conformer jobs (molecules of different sizes packed by an atom budget) the prior
``PriorBatch`` gives R-shaped noise, ``pipeline.diffusion.sample`` integrates the reverse SDE or the
PF-ODE with the denoiser, and every sample is checked:

* non-finite or diverged (bond lengths / radius outside ``DivergenceConfig``) samples are retried
  with a fresh seed up to ``max_retries`` times and reported if they still fail — coordinates
  handed back are always finite;
* the stereo guard mirrors a sample whose specified tetrahedral centres are *all* inverted
  (``x -> -x`` keeps every distance); stereo correctness is counted before and after.

Randomness: one ``torch.Generator`` per (seed, attempt, batch), so a run is reproducible for a
given ``seed`` and ``atom_budget``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.sample.batching import Job, plan_batches
from pipeline.sample.config import SAMPLER_METHODS, DivergenceConfig
from pipeline.sample.stereo import StereoTarget, check_stereo, mirror_guard, stereo_target
from pipeline.threads import torch_threads
from pipeline.types import RecordError

__all__ = ["GenerationStats", "GenerationOutput", "generate", "generate_detailed", "divergence_reason", "resolve_device"]


@dataclass
class GenerationStats:
    """Counts and timings of one ``generate`` call (logged as metrics by the sample stage)."""

    molecules: int = 0
    requested: int = 0
    generated: int = 0
    failed: int = 0
    retried: int = 0  # jobs that needed at least one retry
    attempts: int = 0  # sampler calls (batches), retries included
    mirror_fixed: int = 0
    stereo_retried: int = 0  # samples redrawn because their stereo was wrong (retry_wrong_stereo)
    centres: int = 0  # specified tetrahedral centres over all generated conformers
    centres_ok_before: int = 0  # ... right before the mirror guard
    centres_ok_after: int = 0  # ... right after it
    double_bonds: int = 0
    double_bonds_ok: int = 0
    sampling_seconds: float = 0.0
    refined: int = 0  # conformers relaxed by the force field (refine != none)
    refine_not_converged: int = 0
    refine_seconds: float = 0.0

    def metrics(self) -> dict[str, float]:
        def frac(a: int, b: int) -> float:
            return a / b if b else float("nan")

        return {
            "molecules": self.molecules,
            "conformers_requested": self.requested,
            "conformers_generated": self.generated,
            "conformers_failed": self.failed,
            "conformers_retried": self.retried,
            "sampler_batches": self.attempts,
            "mirror_fixed": self.mirror_fixed,
            "stereo_retried": self.stereo_retried,
            "stereo_centres_correct_before_guard": frac(self.centres_ok_before, self.centres),
            "stereo_centres_correct": frac(self.centres_ok_after, self.centres),
            "double_bonds_correct": frac(self.double_bonds_ok, self.double_bonds),
            "sampling_seconds": self.sampling_seconds,
            "conformers_per_s": frac(self.generated, self.sampling_seconds) if self.sampling_seconds > 0 else float("nan"),
            "refined": self.refined,
            "refine_not_converged": self.refine_not_converged,
            "refine_seconds": self.refine_seconds,
        }


@dataclass
class GenerationOutput:
    mols: list[Any]  # one RDKit Mol per input (copy with the generated conformers; maybe none)
    errors: list[RecordError]
    stats: GenerationStats = field(default_factory=GenerationStats)


# -- ModelSpec access (one place that knows its field names) -------------------------------------
def _spec_get(spec: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = getattr(spec, n, None)
        if v is not None:
            return v
    return default


def spec_max_atoms(spec: Any) -> int | None:
    """The model's size limit (``ModelSpec.max_atoms``; 0 or missing = no limit known)."""
    v = _spec_get(spec, "max_atoms")
    return int(v) if v else None


def spec_prior_params(spec: Any) -> Any:
    """``pipeline.prior.PriorParams`` from ``ModelSpec.prior`` (a ``PriorSettings``)."""
    p = _spec_get(spec, "prior", "prior_params")
    if p is None:
        raise ValueError("model spec has no prior parameters (ModelSpec.prior)")
    return p.to_params() if hasattr(p, "to_params") else p


def spec_schedule(spec: Any):
    """The noise schedule the model was trained with (``ModelSpec.build_schedule()`` when present)."""
    if hasattr(spec, "build_schedule"):
        return spec.build_schedule()
    from pipeline.diffusion import get_schedule

    name = _spec_get(spec, "schedule", "schedule_name", default="cosine")
    if not isinstance(name, str):  # a schedule config object
        kw = name.model_dump() if hasattr(name, "model_dump") else dict(name)
        return get_schedule(**kw)
    return get_schedule(name, **(_spec_get(spec, "schedule_kwargs", default={}) or {}))


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


# -- checks -------------------------------------------------------------------------------------
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


def _implicit_h(mol) -> bool:
    return any(a.GetNumImplicitHs() > 0 for a in mol.GetAtoms())


# -- main ---------------------------------------------------------------------------------------
@dataclass
class _Prepared:
    """Per-molecule inputs of the sampler (``graph`` None = molecule rejected)."""

    n_atoms: list[int]
    graphs: list[Any]
    bonds: list[np.ndarray]
    targets: list[StereoTarget | None]
    mols: list[Any] = field(default_factory=list)


def _default_featurizer(spec: Any) -> Callable[[Any], Any]:
    from pipeline.model.features import featurize

    feature_cfg = getattr(spec, "features", None)
    return lambda m: featurize(m, feature_cfg)


def _rejection(mol, max_atoms: int | None) -> str | None:
    if mol is None or mol.GetNumAtoms() == 0:
        return "empty molecule"
    if _implicit_h(mol):
        return "molecule has implicit hydrogens; add them first (Chem.AddHs)"
    if max_atoms is not None and mol.GetNumAtoms() > max_atoms:
        return f"{mol.GetNumAtoms()} atoms (with hydrogens) exceeds the model's limit of {max_atoms}"
    return None


def _prepare(mols: Sequence[Any], spec: Any, featurizer: Callable[[Any], Any]) -> tuple[_Prepared, dict[int, str]]:
    """Featurise every usable molecule; returns the prepared inputs and {index: rejection reason}."""
    from pipeline.chem import bonds_array

    n = len(mols)
    prep = _Prepared([m.GetNumAtoms() if m is not None else 0 for m in mols], [None] * n, [np.zeros((0, 3), np.int32)] * n, [None] * n)
    rejected: dict[int, str] = {}
    max_atoms = spec_max_atoms(spec)
    for i, mol in enumerate(mols):
        reason = _rejection(mol, max_atoms)
        if reason is None:
            try:
                prep.graphs[i] = featurizer(mol)
            except (ValueError, KeyError) as exc:
                reason = f"cannot featurize: {exc}"
        if reason is not None:
            rejected[i] = reason
            continue
        prep.bonds[i] = bonds_array(mol)
        prep.targets[i] = stereo_target(mol)
    prep.mols = list(mols)
    return prep, rejected


def _stereo_ok(prep: _Prepared, m: int, x: np.ndarray, mirror_fix: bool) -> bool:
    """Every specified centre and double bond right, counting a sample the mirror guard will flip."""
    target = prep.targets[m]
    if target is None or target.empty:
        return True
    chk = check_stereo(prep.mols[m], x, target)
    centres = chk.centres_ok == chk.n_centres or (mirror_fix and chk.all_centres_inverted)
    return centres and chk.double_bonds_ok == chk.n_double_bonds


def _sample_jobs(
    jobs: list[Job],
    prep: _Prepared,
    model: Callable[..., Any],
    spec: Any,
    method: str,
    steps: int,
    seed: int,
    device: str,
    atom_budget: int,
    div: DivergenceConfig,
    stats: GenerationStats,
    progress: bool,
    mirror_fix: bool = True,
) -> tuple[dict[Job, tuple[np.ndarray, int]], dict[Job, str]]:
    """Run the sampler over ``jobs`` in atom-budget batches, retrying diverged ones.

    With ``div.retry_wrong_stereo`` a sample whose stereo is wrong (after what the mirror guard can fix)
    is retried like a diverged one; if every attempt is wrong the last such sample is kept (the
    validate stage reports it), so stereo never costs a conformer.

    Returns ``({job: (coords [N,3], attempt)}, {failed job: last reason})``.
    """
    import torch
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    from pipeline.diffusion import sample as diffusion_sample
    from pipeline.prior import PriorBatch

    results: dict[Job, tuple[np.ndarray, int]] = {}
    last_reason: dict[Job, str] = {}
    if not jobs:
        return results, last_reason
    prior_params = spec_prior_params(spec)
    schedule = spec_schedule(spec)
    factors: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # molecule -> (R, eigenvalues of J)
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    dtype = params[0].dtype if params else torch.float32
    if params and params[0].device != torch.device(device):
        model.to(device)  # a model handed over on another device (e.g. loaded on CPU, sampling on CUDA)
    if hasattr(model, "eval"):
        model.eval()
    n_atoms = prep.n_atoms
    pending = list(jobs)
    fallback: dict[Job, tuple[np.ndarray, int]] = {}  # wrong-stereo samples kept in case no retry does better
    bar = tqdm(total=len(pending), desc="sampling", unit="conf", disable=not progress)
    t0 = time.perf_counter()
    for attempt in range(div.max_retries + 1):
        if not pending:
            break
        if attempt == 1:
            stats.retried = len(pending)
        failed: list[Job] = []
        for b, batch in enumerate(plan_batches(n_atoms, pending, atom_budget)):
            mol_ids = [m for m, _ in batch]
            graph = Batch.from_data_list([prep.graphs[m] for m in mol_ids]).to(device)
            for m in set(mol_ids) - factors.keys():  # one eigendecomposition per molecule, not per sample
                factors[m] = prior_params.factor(n_atoms[m], prep.bonds[m])
            prior = PriorBatch.from_factors(
                [factors[m][0] for m in mol_ids], [factors[m][1] for m in mol_ids], dtype=dtype, device=device
            )
            # a CPU generator: the same draws on CPU and GPU (PriorBatch moves them to the device)
            gen = torch.Generator().manual_seed(_batch_seed(seed, attempt, b))
            with torch.no_grad():
                x = diffusion_sample(model, prior, schedule, method=method, steps=steps, generator=gen, batch=graph)
            stats.attempts += 1
            xs = x.detach().to("cpu", torch.float64).numpy()
            offsets = np.concatenate([[0], np.cumsum([n_atoms[m] for m in mol_ids])])
            for j, job in enumerate(batch):
                xj = xs[offsets[j] : offsets[j + 1]]
                reason = divergence_reason(xj, prep.bonds[job[0]], div)
                if reason is None and div.retry_wrong_stereo and not _stereo_ok(prep, job[0], xj, mirror_fix):
                    fallback[job] = (xj, attempt)
                    stats.stereo_retried += 1
                    if attempt < div.max_retries:
                        failed.append(job)
                        continue
                if reason is None:
                    results[job] = (xj, attempt)
                    bar.update(1)
                elif job in fallback and attempt == div.max_retries:  # diverged last: keep the earlier sample
                    results[job] = fallback[job]
                    bar.update(1)
                else:
                    last_reason[job] = reason
                    failed.append(job)
        pending = failed
    stats.sampling_seconds = time.perf_counter() - t0
    bar.close()
    return results, last_reason


def generate_detailed(
    mols: Sequence[Any],
    model: Callable[..., Any],
    spec: Any,
    num_confs: int | Sequence[int] = 10,
    sampler: str = "ode",
    steps: int = 50,
    seed: int = 0,
    device: str | None = "cpu",
    atom_budget: int = 4096,
    *,
    divergence: DivergenceConfig | None = None,
    mirror_fix: bool = True,
    progress: bool = True,
    records: Sequence[tuple[str, str]] | None = None,
    featurizer: Callable[[Any], Any] | None = None,
    refine: str = "none",
    refine_max_iters: int = 200,
    threads: int | None = 1,
) -> GenerationOutput:
    """Like :func:`generate` and also returns counts/timings (:class:`GenerationStats`).

    ``records[i] = (source, record label)`` names molecule ``i`` in errors (default ``("<mols>", "i+1 (name)")``).
    ``featurizer`` defaults to ``pipeline.model.features.featurize`` with the spec's feature config.
    ``refine="mmff"`` relaxes every kept sample with a force field (:mod:`pipeline.sample.refine`),
    after the stereo guard; conformers get the ``refined`` prop (force field name).
    ``threads``: torch intra-op threads while sampling on a CPU (default 1, see :mod:`pipeline.threads`;
    None/0 = torch's default); the caller's setting is restored afterwards.
    """
    from rdkit import Chem

    if sampler not in SAMPLER_METHODS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLER_METHODS)}")
    div = divergence or DivergenceConfig()
    counts = [int(num_confs)] * len(mols) if isinstance(num_confs, (int, np.integer)) else [int(c) for c in num_confs]
    if len(counts) != len(mols):
        raise ValueError(f"num_confs has {len(counts)} entries for {len(mols)} molecules")

    def label(i: int) -> tuple[str, str]:
        if records is not None:
            return records[i]
        m = mols[i]
        name = m.GetProp("_Name") if m is not None and m.HasProp("_Name") and m.GetProp("_Name") else f"mol{i + 1}"
        return "<mols>", f"{i + 1} ({name})"

    stats = GenerationStats(molecules=len(mols), requested=sum(counts))
    prep, rejected = _prepare(mols, spec, featurizer or _default_featurizer(spec))
    errors = [RecordError(*label(i), reason) for i, reason in rejected.items()]
    stats.failed += sum(counts[i] for i in rejected)
    jobs = [(i, k) for i in range(len(mols)) if i not in rejected for k in range(counts[i])]
    dev = resolve_device(device)
    with torch_threads(threads if str(dev).startswith("cpu") else None):
        results, last_reason = _sample_jobs(
            jobs, prep, model, spec, SAMPLER_METHODS[sampler], steps, seed, dev, atom_budget, div, stats, progress, mirror_fix
        )

    # stereo guard + assembly
    out_mols: list[Any] = []
    for i, mol in enumerate(mols):
        if mol is None:
            out_mols.append(None)
            continue
        out = Chem.Mol(mol)
        out.RemoveAllConformers()
        if i not in rejected:
            _attach(out, i, counts[i], results, prep.targets[i], mirror_fix, stats)
            lost = [k for k in range(counts[i]) if (i, k) not in results]
            if lost:
                errors.append(
                    RecordError(
                        *label(i),
                        f"{len(lost)} of {counts[i]} conformers diverged after {div.max_retries} retries "
                        f"(conformer {lost[0]}: {last_reason[(i, lost[0])]}); {counts[i] - len(lost)} written",
                    )
                )
                stats.failed += len(lost)
            if refine != "none":
                _refine(out, refine_max_iters, stats)
        out_mols.append(out)
    return GenerationOutput(out_mols, errors, stats)


def _refine(out: Any, max_iters: int, stats: "GenerationStats") -> None:
    from pipeline.sample.refine import force_field_optimize

    t0 = time.perf_counter()
    res = force_field_optimize(out, max_iters)
    stats.refine_seconds += time.perf_counter() - t0
    for conf in out.GetConformers():
        conf.SetProp("refined", res.force_field)
    stats.refined += res.conformers if res.force_field != "none" else 0
    stats.refine_not_converged += res.not_converged


def _attach(out, i: int, n: int, results, target, mirror_fix: bool, stats: GenerationStats) -> None:
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    for k in range(n):
        if (i, k) not in results:
            continue
        x, attempt = results[(i, k)]
        x, mirrored, before, after = mirror_guard(out, x, target, enabled=mirror_fix)
        conf = Chem.Conformer(out.GetNumAtoms())
        for a, (px, py, pz) in enumerate(x):
            conf.SetAtomPosition(a, Point3D(float(px), float(py), float(pz)))
        conf.Set3D(True)
        conf.SetIntProp("conformer_index", k)
        conf.SetIntProp("attempt", attempt)
        conf.SetBoolProp("mirror_fixed", mirrored)
        out.AddConformer(conf, assignId=True)
        stats.generated += 1
        stats.mirror_fixed += int(mirrored)
        stats.centres += before.n_centres
        stats.centres_ok_before += before.centres_ok
        stats.centres_ok_after += after.centres_ok
        stats.double_bonds += after.n_double_bonds
        stats.double_bonds_ok += after.double_bonds_ok


def generate(
    mols: Sequence[Any],
    model: Callable[..., Any],
    spec: Any,
    num_confs: int | Sequence[int] = 10,
    sampler: str = "ode",
    steps: int = 50,
    seed: int = 0,
    device: str | None = "cpu",
    atom_budget: int = 4096,
    **kwargs: Any,
) -> tuple[list[Any], list[RecordError]]:
    """Conformers for ``mols`` (RDKit, hydrogens explicit, stereo specified).

    Returns ``(mols_with_confs, errors)``: one copy of each input with its generated conformers
    (conformer props ``conformer_index``, ``attempt``, ``mirror_fixed``), and a per-record error for
    every molecule that could not be sampled or lost conformers to divergence. ``sampler``: ``sde``,
    ``ode`` (PF-ODE, Heun), ``ode_euler``, ``ode_heun`` or ``ddim``. Keyword options as in
    :func:`generate_detailed`.
    """
    out = generate_detailed(mols, model, spec, num_confs, sampler, steps, seed, device, atom_budget, **kwargs)
    return out.mols, out.errors

"""Generate conformers for RDKit molecules with a trained denoiser: the one generation path behind
``bondiff sample`` (:mod:`pipeline.sample.stage`), :mod:`pipeline.api` and the benchmarks.

1. every molecule is prepared once (:mod:`pipeline.sample.prepared`: graph, bonds, prior factor,
   stereo target);
2. conformer jobs run in atom-budget batches with retries (:mod:`pipeline.sample.draw`); each sample
   is finished (:mod:`pipeline.sample.finish`: mirror guard, force-field relaxation, stereo checked on
   the coordinates that will be written);
3. the conformers are attached to a copy of each molecule with their per-conformer properties.

Settings are those of :class:`~pipeline.sample.config.SampleConfig` (a config object and/or keyword
overrides), so every caller passes the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pipeline.sample.config import SAMPLER_METHODS, SampleConfig
from pipeline.sample.draw import DrawCounts, draw
from pipeline.sample.finish import Conformer, Finisher
from pipeline.sample.modelspec import resolve_device
from pipeline.sample.prepared import prepare_molecules
from pipeline.sample.select import select_conformers
from pipeline.sample.stereo import StereoTally
from pipeline.threads import torch_threads
from pipeline.types import RecordError

__all__ = ["GenerationStats", "GenerationOutput", "generate", "generate_detailed", "sample_config"]


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
    stereo_wrong: int = 0  # written conformers with stereo_ok = false
    deselected: int = 0  # drawn but not written: outside energy_window or within prune_rms of a kept one
    first_draw: StereoTally = field(default_factory=StereoTally)  # every first-attempt sample, raw
    raw: StereoTally = field(default_factory=StereoTally)  # the written conformers' raw samples (before the guard)
    written: StereoTally = field(default_factory=StereoTally)  # the written coordinates
    sampling_seconds: float = 0.0  # sampler + checks, without the relaxation
    refined: int = 0  # conformers relaxed by a force field
    refine_not_converged: int = 0
    refine_seconds: float = 0.0

    def add(self, conf: Conformer) -> None:
        self.generated += 1
        self.mirror_fixed += int(conf.mirrored)
        self.stereo_wrong += int(not conf.stereo_ok)
        self.raw.add(conf.raw)
        self.written.add(conf.final)
        if conf.refined != "none":
            self.refined += 1
            self.refine_not_converged += int(not conf.converged)

    def metrics(self) -> dict[str, float]:
        first_c, first_d = self.first_draw.fractions()
        raw_c, _ = self.raw.fractions()
        written_c, written_d = self.written.fractions()
        return {
            "molecules": self.molecules,
            "conformers_requested": self.requested,
            "conformers_generated": self.generated,
            "conformers_failed": self.failed,
            "conformers_retried": self.retried,
            "sampler_batches": self.attempts,
            "mirror_fixed": self.mirror_fixed,
            "stereo_retried": self.stereo_retried,
            "conformers_stereo_wrong": self.stereo_wrong,
            "conformers_deselected": self.deselected,
            "stereo_centres_correct_first_draw": first_c,
            "double_bonds_correct_first_draw": first_d,
            "stereo_centres_correct_before_guard": raw_c,
            "stereo_centres_correct": written_c,
            "double_bonds_correct": written_d,
            "sampling_seconds": self.sampling_seconds,
            "conformers_per_s": self.generated / self.sampling_seconds if self.sampling_seconds > 0 else float("nan"),
            "refined": self.refined,
            "refine_not_converged": self.refine_not_converged,
            "refine_seconds": self.refine_seconds,
        }


@dataclass
class GenerationOutput:
    mols: list[Any]  # one RDKit Mol per input (copy with the generated conformers; maybe none)
    errors: list[RecordError]
    stats: GenerationStats = field(default_factory=GenerationStats)


def sample_config(config: SampleConfig | None = None, **settings: Any) -> SampleConfig:
    """``config`` (default: ``SampleConfig()``) with ``settings`` (SampleConfig fields; None = keep) applied, validated."""
    base = (config or SampleConfig()).model_dump()
    base.update({k: v for k, v in settings.items() if v is not None})
    return SampleConfig.model_validate(base)


def _sampler_runner(cfg: SampleConfig) -> Callable[..., Any]:
    """``run(model, prior, schedule, generator, batch, molecules) -> x`` with the solver and the guidance
    bound: torsions (:mod:`pipeline.sample.torsion`) on the network's x̂₀, steric (:mod:`pipeline.sample.steric`) on
    that (it sees the contacts a turned bond makes), then stereo (:mod:`pipeline.sample.guidance`), so the stereo
    signs have the last word."""
    from pipeline.diffusion import sample as diffusion_sample
    from pipeline.sample.guidance import GuidedDenoiser
    from pipeline.sample.steric import StericDenoiser, stop_time
    from pipeline.sample.torsion import TorsionDenoiser

    method, guide, steric, torsion = SAMPLER_METHODS[cfg.sampler], cfg.stereo.guidance, cfg.steric, cfg.torsion

    def run(model: Any, prior: Any, schedule: Any, generator: Any, batch: Any, molecules: Sequence[Any]) -> Any:
        offsets = np.concatenate([[0], np.cumsum([p.n_atoms for p in molecules])])[:-1]
        if torsion.enabled and torsion.strength > 0 and (cfg.refine == "none" or not torsion.raw_only):
            sets = [p.torsions(torsion.min_barrier) for p in molecules]
            if not all(s.empty for s in sets):
                model = TorsionDenoiser(model, sets, offsets, torsion, stop_time(schedule, torsion.onset_noise), stop_time(schedule, torsion.stop_noise))
        if steric.enabled and steric.strength > 0:
            pairs = [p.steric(steric.min_bonds_apart) for p in molecules]
            flat_stop = None if steric.flat_stop_noise is None else stop_time(schedule, steric.flat_stop_noise)
            local_onset = 1.0 if steric.local_onset_noise is None else stop_time(schedule, steric.local_onset_noise)
            model = StericDenoiser(model, pairs, offsets, steric, stop_time(schedule, steric.stop_noise), flat_stop, local_onset)
        if guide.enabled and guide.strength > 0 and not all(p.constraints.empty for p in molecules):
            model = GuidedDenoiser(model, [p.constraints for p in molecules], offsets, guide, cfg.stereo.mirror_fix)
        return diffusion_sample(
            model,
            prior,
            schedule,
            method=method,
            steps=cfg.steps,
            generator=generator,
            batch=batch,
            grid=cfg.grid,
            corrector_passes=cfg.passes,
            corrector_noise=cfg.corrector_noise,
            corrector_noise_min=cfg.corrector_noise_min,
        )

    return run


class _TimedFinisher(Finisher):
    """A :class:`Finisher` that adds its relaxation time to the stats."""

    def __init__(self, stats: GenerationStats, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.stats = stats

    def __call__(self, x: np.ndarray, attempt: int) -> Conformer:
        import time

        t0 = time.perf_counter()
        conf = super().__call__(x, attempt)
        if self.refine != "none":
            self.stats.refine_seconds += time.perf_counter() - t0
        return conf


def _attach(out: Any, confs: Sequence[tuple[int, Conformer]]) -> None:
    """Add ``(conformer index, conformer)`` to ``out`` with their properties (typed conformer props)."""
    from pipeline.chem import set_conformers

    if not confs:
        return
    ids = set_conformers(out, np.stack([c.coords for _, c in confs]), clear=False)
    for cid, (k, c) in zip(ids, confs):
        conf = out.GetConformer(cid)
        conf.SetIntProp("conformer_index", k)
        for key, value in c.props().items():
            if value is None:
                continue
            if isinstance(value, bool):
                conf.SetBoolProp(key, value)
            elif isinstance(value, int):
                conf.SetIntProp(key, value)
            elif isinstance(value, float):
                conf.SetDoubleProp(key, value)
            else:
                conf.SetProp(key, str(value))


def generate_detailed(
    mols: Sequence[Any],
    model: Callable[..., Any],
    spec: Any,
    num_confs: int | Sequence[int] | None = None,
    config: SampleConfig | None = None,
    *,
    records: Sequence[tuple[str, str]] | None = None,
    featurizer: Callable[[Any], Any] | None = None,
    **settings: Any,
) -> GenerationOutput:
    """Conformers for ``mols`` (RDKit, hydrogens explicit, stereo specified) with counts and timings.

    ``num_confs``: one count for all or one per molecule (default ``config.num_confs``). ``config`` /
    ``settings``: a :class:`SampleConfig` and keyword overrides of its fields (``sampler``, ``steps``,
    ``seed``, ``device``, ``atom_budget``, ``refine``, ``divergence``, ``stereo``, ``threads``, ...).
    ``records[i] = (source, record label)`` names molecule ``i`` in errors (default ``("<mols>", "i+1 (name)")``).
    ``featurizer`` defaults to ``pipeline.model.features.featurize`` with the spec's feature config.
    """
    from rdkit import Chem

    cfg = sample_config(config, **settings)
    n = cfg.num_confs if num_confs is None else num_confs
    counts = [int(n)] * len(mols) if isinstance(n, (int, np.integer)) else [int(c) for c in n]
    if len(counts) != len(mols):
        raise ValueError(f"num_confs has {len(counts)} entries for {len(mols)} molecules")

    def label(i: int) -> tuple[str, str]:
        if records is not None:
            return records[i]
        m = mols[i]
        name = m.GetProp("_Name") if m is not None and m.HasProp("_Name") and m.GetProp("_Name") else f"mol{i + 1}"
        return "<mols>", f"{i + 1} ({name})"

    stats = GenerationStats(molecules=len(mols), requested=sum(counts))
    prepared, rejected = prepare_molecules(mols, spec, featurizer)
    errors = [RecordError(*label(i), reason) for i, reason in rejected.items()]
    stats.failed += sum(counts[i] for i in rejected)
    finishers = [
        None if p is None else _TimedFinisher(stats, p.mol, p.target, cfg.stereo.mirror_fix, cfg.refine, cfg.refine_max_iters)
        for p in prepared
    ]
    drawn = [int(np.ceil(c * cfg.oversample)) if cfg.selects else c for c in counts]
    jobs = [(i, k) for i, p in enumerate(prepared) if p is not None for k in range(drawn[i])]
    dev = resolve_device(cfg.device)
    dc = DrawCounts()
    with torch_threads(cfg.threads if str(dev).startswith("cpu") else None):
        results, last_reason = draw(
            jobs, prepared, finishers, model, spec, _sampler_runner(cfg), cfg.seed, dev, cfg.atom_budget, cfg.divergence, dc, cfg.progress
        )
    stats.attempts, stats.retried, stats.stereo_retried, stats.first_draw = dc.attempts, dc.retried, dc.stereo_retried, dc.first_draw
    stats.sampling_seconds = dc.seconds - stats.refine_seconds

    out_mols: list[Any] = []
    for i, mol in enumerate(mols):
        if mol is None:
            out_mols.append(None)
            continue
        out = Chem.Mol(mol)
        out.RemoveAllConformers()
        if prepared[i] is not None:
            confs = [(k, results[(i, k)]) for k in range(drawn[i]) if (i, k) in results]
            if cfg.selects:
                chosen = select_conformers(mol, [c for _, c in confs], counts[i], cfg.prune_rms, cfg.energy_window)
                stats.deselected += len(confs) - len(chosen)
                confs = list(enumerate(chosen))
            _attach(out, confs)
            for _, c in confs:
                stats.add(c)
            lost = [k for k in range(drawn[i]) if (i, k) not in results]
            short = min(len(lost), counts[i] - len(confs))
            if short > 0:
                errors.append(
                    RecordError(
                        *label(i),
                        f"{len(lost)} of {drawn[i]} conformers diverged after {cfg.divergence.max_retries} retries "
                        f"(conformer {lost[0]}: {last_reason[(i, lost[0])]}); {len(confs)} written",
                    )
                )
                stats.failed += short
        out_mols.append(out)
    return GenerationOutput(out_mols, errors, stats)


def generate(mols: Sequence[Any], model: Callable[..., Any], spec: Any, num_confs: int | Sequence[int] | None = None,
             config: SampleConfig | None = None, **settings: Any) -> tuple[list[Any], list[RecordError]]:
    """``(mols_with_confs, errors)`` of :func:`generate_detailed`: one copy of each input with its
    generated conformers (conformer props ``conformer_index``, ``attempt``, ``mirror_fixed``,
    ``refined``, ``energy_kcal_mol``, ``refine_converged``, ``stereo_ok``), and a per-record error for
    every molecule that could not be sampled or lost conformers to divergence."""
    out = generate_detailed(mols, model, spec, num_confs, config, **settings)
    return out.mols, out.errors

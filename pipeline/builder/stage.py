"""``run_build``: the drug-like training-data builder stage (docs/training-data.md).

source SMILES (PyPI package file) -> seeded selection + filters + benchmark exclusion + stereo
assignment -> ETKDGv3 + MMFF (+ optional GFN2-xTB) ensembles in worker processes -> a conformer
dataset (``pipeline.data.DatasetWriter``) whose manifest carries the full recipe.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from pipeline.builder.config import BuildConfig
from pipeline.builder.exclusion import load_exclusion
from pipeline.builder.molecule import BuiltMolecule, build_chunk
from pipeline.builder.exclusion import ExclusionSet
from pipeline.builder.selection import Candidate, Selection, select_candidates
from pipeline.builder.smiles_source import SourceInfo, read_source
from pipeline.config import config_hash
from pipeline.types import InputDataset, RecordError, StageError, StageResult

__all__ = ["run_build", "assign_split", "BUILDER_VERSION"]

log = logging.getLogger(__name__)

# The builder code's version, recorded in every manifest (recipe.builder_version). 1: fixed
# num_embed per molecule; 2: + embed_per_rotor/min_embed (embeddings scaled by rotatable bonds),
# RDKit threads, selection ranges (--skip). configs/build_drugs_v1.yaml rebuilds version-1 data
# exactly with version-2 code (same dataset_hash).
BUILDER_VERSION = 2


def assign_split(smiles: str, val_fraction: float, test_fraction: float, salt: str) -> str:
    """Deterministic split from a hash of the canonical SMILES (same molecule -> same split)."""
    h = hashlib.sha256(f"{salt}\0{smiles}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _chunks(items: list[Candidate], size: int) -> Iterator[list[Candidate]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _run_workers(cfg: BuildConfig, candidates: list[Candidate], progress: bool) -> Iterable[BuiltMolecule]:
    """Results in candidate order, whatever the number of workers (so the output is deterministic)."""
    from tqdm import tqdm

    conf, xtb = cfg.conformers.model_dump(), cfg.xtb.model_dump()
    tasks = [(chunk, conf, xtb) for chunk in _chunks(candidates, cfg.chunk_size)]
    bar = tqdm(total=len(candidates), desc="build-data", unit="mol", disable=not progress, smoothing=0.05)
    try:
        if cfg.workers == 1 or len(tasks) <= 1:
            for t in tasks:
                for r in build_chunk(t):
                    bar.update(1)
                    yield r
            return
        import multiprocessing as mp

        # spawn: the parent may hold MLflow/SQLite threads, which fork does not copy safely.
        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for results in pool.imap(build_chunk, tasks):
                for r in results:
                    bar.update(1)
                    yield r
    finally:
        bar.close()


@dataclass
class _Tally:
    """What the collection loop counted (goes into the manifest and the metrics)."""

    errors: list[RecordError] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)  # summed per-molecule conformer stats
    seconds: list[float] = field(default_factory=list)  # wall time per molecule
    cpu_seconds: float = 0.0  # CPU time spent on molecules in the workers (the fair cost on a shared box)
    processed: int = 0
    stopped_early: bool = False


def _entry(cfg: BuildConfig, built: BuiltMolecule, source_name: str, source_smiles: str):
    from pipeline.data import MoleculeEntry

    return MoleculeEntry(
        name=f"{cfg.name}_{built.record}",
        smiles=built.smiles,
        mapped_smiles=built.mapped_smiles,
        charge=int(built.formal_charges.sum()),
        source=source_name,
        split=assign_split(built.smiles, cfg.split.val_fraction, cfg.split.test_fraction, cfg.split.salt),
        extra={
            "record": built.record,
            "source_smiles": source_smiles,
            "energy_method": built.stats.get("energy_method"),
            "isomer_rank": built.stats.get("isomer_rank", 0),
        },
    )


def _collect(cfg, sel: Selection, smiles, source_name, writer, t0, time_budget_s, progress) -> _Tally:
    """Run the workers and add every good molecule to ``writer`` (in selection order)."""
    tally = _Tally(errors=list(sel.errors))
    for built in _run_workers(cfg, sel.candidates, progress):
        if time_budget_s is not None and time.perf_counter() - t0 > time_budget_s:
            tally.stopped_early = True
            break
        tally.processed += 1
        tally.seconds.append(float(built.stats.get("seconds", 0.0)))
        tally.cpu_seconds += float(built.stats.get("cpu_seconds", 0.0))
        if built.error is not None:
            tally.errors.append(RecordError(source_name, str(built.record), built.error))
            continue
        for k, v in built.stats.items():
            if isinstance(v, (int, float)) and k not in ("seconds", "cpu_seconds", "isomer_rank"):
                tally.stats[k] += v
        entry = _entry(cfg, built, source_name, smiles[built.record - 1])
        writer.add(entry, built.atomic_numbers, built.formal_charges, built.bonds, built.coords, built.energies)
    return tally


def _manifest(cfg, source: SourceInfo, sel: Selection, exclusion: ExclusionSet, tally: _Tally, limit, skip, t_select, t_build) -> dict:
    """The manifest extras: the recipe (everything needed to rebuild), exclusions, errors, timing."""
    recipe = {
        "builder": "pipeline.builder",
        "builder_version": BUILDER_VERSION,
        "source": source.as_dict(),
        "config": cfg.model_dump(mode="json"),
        "limit": limit,
        "skip": skip,
        "effective_limit": tally.processed,  # `--skip skip --limit effective_limit` rebuilds exactly this dataset
        # positions [start, stop) in the seeded selection order: shards with the same config and
        # seed tile it without overlap; the next shard starts at stop (`--skip stop`)
        "selection_range": [skip, skip + tally.processed],
        "stopped_by_time_budget": tally.stopped_early,
        "energy_units": "Hartree",
        "energy_method": _energy_method(cfg),
        "software": _software(cfg),  # ETKDG/MMFF results depend on the RDKit version
        "stereo": "unassigned stereo elements fixed by a seeded choice per molecule (extra.isomer_rank)",
        "exclusion": exclusion.summary(),
        "selection": {
            "examined": sel.examined,
            "candidates": len(sel.candidates),
            "excluded": len(sel.excluded),
            "filtered": dict(sel.filtered),
            **({"analogue_rules": dict(sorted(sel.analogue_rules.items()))} if sel.analogue_rules else {}),
        },
    }
    return {
        "name": cfg.name,
        "source": "build-data",
        "config_hash": config_hash(cfg),
        "inputs": [{"path": source.location, "hash": source.sha256}],
        "recipe": recipe,
        "excluded": sel.excluded,
        "conformer_stats": dict(tally.stats),
        "errors": [e.as_dict() for e in tally.errors],
        "timing": {
            "select_seconds": round(t_select, 2),
            "build_seconds": round(t_build, 2),
            "molecule_seconds_mean": round(float(np.mean(tally.seconds)), 3) if tally.seconds else None,
            "molecule_cpu_seconds_total": round(tally.cpu_seconds, 1),
            "workers": cfg.workers,
        },
    }


def _software(cfg: BuildConfig) -> dict[str, str]:
    import platform
    from importlib import metadata

    import rdkit

    out = {"python": platform.python_version(), "rdkit": rdkit.__version__, "numpy": np.__version__}
    if cfg.xtb.enabled:
        out["tblite"] = metadata.version("tblite")
    return out


def _energy_method(cfg: BuildConfig) -> str:
    return cfg.xtb.method if cfg.xtb.enabled else cfg.conformers.mmff_variant


def run_build(
    cfg: BuildConfig,
    out_dir: str | Path,
    limit: int | None = None,
    progress: bool = True,
    time_budget_s: float | None = None,
    skip: int = 0,
) -> StageResult:
    """Build the dataset into ``out_dir`` (atomically). ``limit`` caps the number of molecules tried.

    ``skip`` starts at that position of the seeded selection order, so a large set is built in
    shards: ``skip=0, limit=4000`` then ``skip=4000, ...`` give exactly the molecules (and
    ensembles: seeds are per molecule) of one build with ``limit=8000``. The selection is walked
    from the start every time (duplicates and filters decide positions), which costs seconds.

    ``time_budget_s`` stops taking new molecules after that many seconds and commits what is done:
    results come in selection order, so the dataset is then exactly what ``limit=<processed>``
    gives (recorded as ``recipe.effective_limit``), i.e. still reproducible.
    """
    from pipeline.data import ConformerDataset, DatasetWriter

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    smiles, source = read_source(cfg.source)
    source_name = f"{source.package}-{source.version}:{source.member}"
    exclusion = load_exclusion(cfg.exclusion.reference_dirs, cfg.exclusion.require_one)
    if exclusion.errors:
        raise StageError(f"cannot exclude unreadable reference molecules: {exclusion.errors[0]} (+{len(exclusion.errors) - 1} more)")
    if skip < 0:
        raise StageError(f"build-data: skip must be >= 0, got {skip}")
    want = None if limit is None else skip + limit
    if skip >= (cfg.selection.n_molecules if want is None else min(want, cfg.selection.n_molecules)):
        raise StageError(f"build-data: skip {skip} leaves nothing of selection.n_molecules={cfg.selection.n_molecules}")
    sel = select_candidates(smiles, cfg.selection, exclusion, source_name, n=want, global_seed=cfg.seed)
    log.info(
        "selected %d candidates from %d examined records (%d excluded as benchmark molecules, filtered: %s); building positions [%d, %d)",
        len(sel.candidates), sel.examined, len(sel.excluded), dict(sel.filtered), skip, len(sel.candidates),
    )
    sel.candidates = sel.candidates[skip:]
    t_select = time.perf_counter() - t0

    writer = DatasetWriter(out_dir)
    tally = _collect(cfg, sel, smiles, source_name, writer, t0, time_budget_s, progress)
    if len(writer) == 0:
        first = tally.errors[0] if tally.errors else "none"
        raise StageError(f"build-data: no molecule built ({len(tally.errors)} errors; first: {first})")
    t_build = time.perf_counter() - t0 - t_select
    writer.commit(_manifest(cfg, source, sel, exclusion, tally, limit, skip, t_select, t_build))

    ds = ConformerDataset(out_dir)
    n = tally.processed
    metrics = {
        "molecules": float(len(ds)),
        "conformers": float(ds.n_conformers),
        "conformers_per_molecule": ds.n_conformers / len(ds),
        "errors": float(len(tally.errors)),
        "excluded": float(len(sel.excluded)),
        "build_seconds": t_build,
        "molecules_per_minute": 60.0 * n / t_build if t_build > 0 else 0.0,
        "molecules_per_core_minute": 60.0 * n / (t_build * cfg.workers) if t_build > 0 else 0.0,
        "molecules_per_cpu_minute": 60.0 * n / tally.cpu_seconds if tally.cpu_seconds > 0 else 0.0,
    }
    return StageResult(
        stage="build-data",
        outputs={"dataset": out_dir},
        metrics=metrics,
        artifacts=[out_dir / "manifest.json"],
        inputs=[InputDataset(f"{source.package}-{source.version}", source.location, source.sha256[:16], "source")],
        tags={"dataset_hash": ds.digest, "energy_method": _energy_method(cfg), "source_package": f"{source.package}=={source.version}"},
        errors=tally.errors,
        extra={"manifest": ds.manifest},
    )

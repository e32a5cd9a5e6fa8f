"""``run_benchmark``: every sampler on the same reference molecules, validated, one side-by-side table.

For each reference molecule with K conformers each sampler generates ``samples_per_reference × K``
conformers (timed: wall clock and process CPU time), writes them as SDF in the sampling stage's
format, and the validate stage scores them against the references. Per-molecule numbers are taken
over *all* benchmark molecules: a molecule a sampler produced nothing for counts as coverage 0.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.benchmark.config import BenchmarkConfig
from pipeline.atomic import write_file_atomic
from pipeline.benchmark.geometry import local_geometry_errors
from pipeline.benchmark.html import benchmark_html
from pipeline.benchmark.samplers import SamplerUnavailable, get_sampler
from pipeline.benchmark.table import format_table, markdown_table
from pipeline.missing import finite_mean_median, finite_metrics, json_safe
from pipeline.types import InputDataset, RecordError, StageError, StageResult

__all__ = ["run_benchmark", "BenchMolecule"]


@dataclass
class BenchMolecule:
    name: str
    smiles: str  # canonical isomeric SMILES (the reference's identity)
    mol: Any  # intended molecule, hydrogens explicit, stereo set
    n_ref: int
    ref_xyz: Any = None  # [K, N, 3] reference conformers in the atom order of ``mol`` (local geometry errors)
    bonds: Any = None  # [B, 3] bonds of ``mol``


def _molecules(ref: Any, limit: int | None, split: str | None = None) -> list[BenchMolecule]:
    """The benchmark molecules: the reference's molecules (of ``split``), the first ``limit`` of them."""
    from pipeline.chem import mol_from_mapped_smiles

    out = []
    for i in ref.dataset.split_indices(split)[: limit or None]:
        e = ref.dataset.entries[i]
        view = ref.dataset.molecule(i)
        out.append(BenchMolecule(e.name, e.smiles, mol_from_mapped_smiles(e.mapped_smiles), int(e.n_conformers), view.coords, view.bonds))
    return out


def _generate(name: str, fn: Any, molecules: list[BenchMolecule], cfg: BenchmarkConfig, sdf: Path) -> tuple[dict[str, float], list[RecordError]]:
    """Run one sampler over the molecules (timed) and write its SDF; returns (stats, errors)."""
    from pipeline.sample.sdf import conformer_records, write_sdf

    records, errors = [], []
    geometry: list[dict[str, float]] = []
    wall = cpu = 0.0
    n_req = n_gen = 0
    results: dict[int, Any] = {}
    if hasattr(fn, "batch"):
        groups: dict[int, list[int]] = {}
        for i, bm in enumerate(molecules):
            groups.setdefault(cfg.samples_per_reference * bm.n_ref, []).append(i)
        for n, idx in groups.items():
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                mols, errs = fn.batch([molecules[i].mol for i in idx], n, cfg.seed)
            except Exception as exc:  # the whole group failed: one error per molecule
                mols, errs = [None] * len(idx), [RecordError(name, molecules[i].name, f"{type(exc).__name__}: {exc}") for i in idx]
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            errors += [RecordError(name, e.record, e.reason) if isinstance(e, RecordError) else RecordError(name, "?", str(e)) for e in errs]
            results.update(zip(idx, mols))
    for i, bm in enumerate(molecules):
        n = cfg.samples_per_reference * bm.n_ref
        n_req += n
        if hasattr(fn, "batch"):
            m = results.get(i)
        else:
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                m = fn(bm.mol, n, cfg.seed)
            except Exception as exc:  # one molecule failing is a per-record error; the rest still run
                errors.append(RecordError(name, bm.name, f"{type(exc).__name__}: {exc}"))
                m = None
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
        if m is None:
            continue
        if m.GetNumConformers() < n:
            errors.append(RecordError(name, bm.name, f"{m.GetNumConformers()} of {n} conformers generated"))
        # what made them (model, relaxation: the validation report's headline) + per-conformer properties
        records += conformer_records(m, bm.name, {"SMILES": bm.smiles, "sampler": name, "seed": cfg.seed, **getattr(fn, "props", {})})
        n_gen += m.GetNumConformers()
        if bm.ref_xyz is not None and m.GetNumConformers():
            geometry.append(local_geometry_errors(np.stack([c.GetPositions() for c in m.GetConformers()]), bm.ref_xyz, bm.bonds))
    sdf.parent.mkdir(parents=True, exist_ok=True)
    write_sdf(sdf, records)
    stats = {
        "n_molecules": float(len(molecules)),
        "n_requested": float(n_req),
        "n_generated": float(n_gen),
        "wall_s": wall,
        "cpu_s": cpu,
        "conformers_per_s": n_gen / wall if wall > 0 else float("nan"),
        "core_s_per_conformer": cpu / n_gen if n_gen else float("nan"),
        # local geometry vs the references, mean over molecules (raw samples: before validation)
        "bond_mae": finite_mean_median([g["bond_mae"] for g in geometry])[0],
        "angle_mae": finite_mean_median([g["angle_mae"] for g in geometry])[0],
    }
    return stats, errors


def sampler_metrics(mol_table: Any, summary: dict[str, Any], molecules: list[BenchMolecule], stats: dict[str, float], deltas: list[float]) -> dict[str, float]:
    """The benchmark row of one sampler from its validate molecule table (over all benchmark molecules)."""
    import pandas as pd

    names = [bm.name for bm in molecules]
    t = mol_table.drop_duplicates("name").set_index("name").reindex(names) if len(mol_table) else pd.DataFrame(index=names)
    row: dict[str, float] = {}
    for i, d in enumerate(deltas):
        for side in ("R", "P"):
            col = f"COV-{side}_{d:g}"
            vals = t[col].fillna(0.0) if col in t else pd.Series(0.0, index=names)  # nothing generated -> coverage 0
            mean, med = finite_mean_median(vals)
            row[f"COV-{side}_{d:g}_mean"], row[f"COV-{side}_{d:g}_median"] = mean, med
            if i == 0:
                row[f"COV-{side}_mean"], row[f"COV-{side}_median"] = mean, med
    for side in ("R", "P"):
        col = f"AMR-{side}"
        row[f"AMR-{side}_mean"], row[f"AMR-{side}_median"] = finite_mean_median(t[col]) if col in t else (float("nan"), float("nan"))
    n_valid = float(t["n_valid"].fillna(0).sum()) if "n_valid" in t else 0.0
    row["validity"] = n_valid / stats["n_requested"] if stats["n_requested"] else 0.0
    m = summary.get("metrics", {})
    for k in ("stereo_correct", "stereo_centres_correct", "stereo_bonds_correct"):
        if k in m:
            row[k] = float(m[k])
    row["n_molecules_without_valid"] = float((t["n_valid"].fillna(0) == 0).sum()) if "n_valid" in t else float(len(names))
    row.update(stats)
    return row


def run_benchmark(cfg: BenchmarkConfig, reference: Path, out_dir: Path) -> StageResult:
    """Benchmark ``cfg.samplers`` against ``reference`` (dataset dir or raw reference set)."""
    from pipeline.validate.reference import load_reference
    from pipeline.validate.report import read_molecule_table
    from pipeline.validate.stage import run_validate

    out_dir = Path(out_dir)
    ref = load_reference(reference, cfg.validate_.cache_dir)
    molecules = _molecules(ref, cfg.limit, cfg.split)
    if not molecules:
        raise StageError(f"benchmark: no molecules in {reference}" + (f" (split {cfg.split!r})" if cfg.split else ""))
    deltas = cfg.validate_.metrics.deltas
    table: dict[str, dict[str, Any]] = {}
    status: dict[str, str] = {}
    errors: list[RecordError] = []
    for name in cfg.samplers:
        try:
            fn = get_sampler(name, cfg)
        except SamplerUnavailable as exc:
            status[name] = f"unavailable: {exc}"
            continue
        sdf = out_dir / name / "generated.sdf"
        stats, errs = _generate(name, fn, molecules, cfg, sdf)
        errors += errs
        if stats["n_generated"] == 0:
            status[name] = f"failed: no conformer generated ({errs[0] if errs else '?'})"
            continue
        res = run_validate(cfg.validate_, sdf, ref.path, out_dir / name / "validate")
        mol_table = read_molecule_table(out_dir / name / "validate")
        table[name] = sampler_metrics(mol_table, res.extra["summary"], molecules, stats, deltas)
        status[name] = "ok"
    report = {
        "reference": str(reference),
        "n_molecules": len(molecules),
        "split": cfg.split,
        "samples_per_reference": cfg.samples_per_reference,
        "deltas": deltas,
        "machine": {"cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None},
        "status": status,
        "table": table,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_file_atomic(out_dir / "benchmark.json", json.dumps(json_safe(report), indent=2) + "\n")
    text = format_table(table, status, deltas)
    write_file_atomic(out_dir / "table.txt", text + "\n")
    write_file_atomic(out_dir / "table.md", markdown_table(table, status, deltas) + "\n")
    write_file_atomic(out_dir / "report.html", benchmark_html(json_safe(report), cfg.bondiff.model))
    metrics = finite_metrics({f"{s}.{k}": v for s, row in table.items() for k, v in row.items()})
    return StageResult(
        stage="benchmark",
        outputs={"report_dir": out_dir, "json": out_dir / "benchmark.json", "report": out_dir / "report.html"},
        metrics=metrics,
        artifacts=[out_dir / "benchmark.json", out_dir / "table.txt", out_dir / "table.md", out_dir / "report.html"],
        inputs=[InputDataset("reference", str(ref.path), ref.dataset.digest, "reference")],
        tags={f"benchmark.status.{s}": v[:250] for s, v in status.items()},
        errors=errors,
        extra={"table": table, "status": status, "text": text, "report": report},
    )

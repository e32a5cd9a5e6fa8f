"""The validate stage: ``run_validate(cfg, generated, reference, out_dir) -> StageResult``.

1. read the generated SDF into molecules (:mod:`.generated`; bad records become per-record errors);
2. check every conformer against its intended molecule (:mod:`.checks`), molecules in parallel;
3. with a reference: match molecules by canonical isomeric SMILES (else name), RMSD matrices in
   parallel, COV/AMR per molecule (:mod:`.metrics`);
4. write tables, summary, plots and the HTML report (:mod:`.report`) into ``out_dir``.

Outputs: ``report_dir`` (= ``out_dir``) and ``summary`` (``summary.json``). The summary's numbers
are the stage metrics; the report directory is the artifact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import write_dir_atomic
from pipeline.io_paths import OutputPathError, check_output_dir
from pipeline.types import InputDataset, RecordError, StageError, StageResult
from pipeline.validate.checks import MoleculeChecker, check_mapped
from pipeline.validate.config import CheckConfig, ValidateConfig
from pipeline.validate.generated import GeneratedMolecule, read_generated
from pipeline.validate.matching import full_atom_maps
from pipeline.validate.metrics import RmsdTask, coverage_metrics, cov_curve, rmsd_matrices
from pipeline.validate.parallel import pmap

__all__ = ["run_validate", "MoleculeResult"]


@dataclass
class _CheckJob:
    intended: Any
    gen: Any
    cfg: CheckConfig
    stereo_known: bool


def _check_job(job: _CheckJob) -> tuple[list[dict], np.ndarray]:
    checker = MoleculeChecker(job.intended, job.cfg, stereo_known=job.stereo_known)
    perms = full_atom_maps(job.gen, checker.mol)
    rows, devs = [], []
    for conf in job.gen.GetConformers():
        xyz = np.asarray(conf.GetPositions(), dtype=np.float64)
        rows.append(check_mapped(checker, xyz, perms))
        devs.append(checker.bond_deviations(xyz[perms[0]]))
    return rows, (np.concatenate(devs) if devs else np.zeros(0))


@dataclass
class MoleculeResult:
    """Everything the report needs about one generated molecule."""

    gen: GeneratedMolecule
    rows: list[dict]
    ref_index: int | None = None
    ref_name: str | None = None
    rmsd: np.ndarray | None = None  # [K_ref, L_gen] over the good records
    metrics: dict[str, float] | None = None
    error: str = ""


def _intended(gen: GeneratedMolecule, ref: Any) -> tuple[Any, bool, str]:
    """(intended molecule with H, stereo known?, source) for a generated molecule."""
    from rdkit import Chem

    from pipeline.chem import mol_from_mapped_smiles

    if gen.smiles:
        m = Chem.MolFromSmiles(gen.smiles)
        if m is None:
            raise ValueError(f"SMILES property {gen.smiles!r} does not parse")
        return Chem.AddHs(m), True, "SMILES"
    if ref is not None:
        i = ref.find(None, gen.name)
        if i is not None:
            return mol_from_mapped_smiles(ref.mapped_smiles(i)), True, "reference"
    return Chem.Mol(gen.mol), False, "mol block"


def run_validate(cfg: ValidateConfig, generated: Path, reference: Path | None, out_dir: Path) -> StageResult:
    """Validate the conformers in ``generated`` (SDF); score them against ``reference`` if given."""
    from pipeline.hashing import file_hash
    from pipeline.validate.reference import load_reference
    from pipeline.validate.report import write_report

    t0 = time.perf_counter()
    generated, out_dir = Path(generated), Path(out_dir)
    try:  # before any work: one rule for output folders (pipeline/io_paths.py)
        check_output_dir(out_dir, "summary.json", inputs=[generated, reference], what="report folder")
    except OutputPathError as exc:
        raise StageError(f"validate: {exc}") from None
    molecules, errors, n_records = read_generated(generated)
    if n_records == 0:
        raise StageError(f"validate: {generated} holds no SDF records")
    if not any(m.records for m in molecules):
        raise StageError(f"validate: none of the {n_records} records of {generated} is usable (first: {errors[0] if errors else '?'})")
    ref = load_reference(reference, cfg.cache_dir) if reference is not None else None

    # -- per-conformer checks -------------------------------------------------------------------
    jobs, owners, results = [], [], []
    for gen in molecules:
        res = MoleculeResult(gen, [])
        results.append(res)
        if not gen.records:
            continue
        try:
            intended, stereo_known, _ = _intended(gen, ref)
        except ValueError as exc:
            res.error = str(exc)
            continue
        jobs.append(_CheckJob(intended, gen.with_conformers(), cfg.checks, stereo_known))
        owners.append(res)
    bond_devs: list[np.ndarray] = []
    for res, out in zip(owners, pmap(_check_job, jobs, cfg.workers)):
        if isinstance(out, Exception):
            res.error = f"{type(out).__name__}: {out}"
            continue
        res.rows, devs = out
        bond_devs.append(devs)
    for res in results:
        if res.error:
            for r in res.gen.records:
                errors.append(RecordError(str(generated), str(r.record), f"{res.gen.name}: {res.error}"))
        for row, rec in zip(res.rows, res.gen.records):
            row.update(_record_columns(res.gen, rec))

    # -- ensemble metrics -----------------------------------------------------------------------
    grid = np.linspace(0.0, cfg.metrics.curve_max, cfg.metrics.curve_points)
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    if ref is not None:
        tasks, scored = [], []
        for res in results:
            i = ref.find(res.gen.smiles, res.gen.name)
            if i is None:
                continue
            res.ref_index, res.ref_name = i, ref.name(i)
            if res.rows:
                tasks.append(RmsdTask(res.gen.with_conformers(), ref.molecule(i), cfg.metrics.max_matches))
                scored.append(res)
            else:  # no usable sample at all: coverage 0 (docs/design.md §5)
                res.metrics = coverage_metrics(np.full((ref.dataset.entries[i].n_conformers, 0), np.nan), cfg.metrics.deltas)
                curves.append((np.zeros_like(grid), np.zeros_like(grid)))
        for res, D in zip(scored, rmsd_matrices(tasks, cfg.workers)):
            if isinstance(D, Exception):
                res.error = (res.error + "; " if res.error else "") + f"RMSD: {D}"
                errors.append(RecordError(str(generated), res.gen.name, f"RMSD against reference {res.ref_name} failed: {D}"))
                continue
            valid = np.array([bool(r["valid"]) for r in res.rows])
            res.rmsd = D
            res.metrics = coverage_metrics(D, cfg.metrics.deltas, valid, cfg.metrics.only_valid)
            curves.append(cov_curve(D, grid, valid, cfg.metrics.only_valid))

    box: dict[str, Any] = {}

    def build(tmp: Path) -> None:  # the report appears whole or not at all (pipeline/atomic.py)
        box["summary"] = write_report(
            cfg,
            tmp,
            results,
            errors,
            n_records=n_records,
            bond_devs=np.concatenate(bond_devs) if bond_devs else np.zeros(0),
            grid=grid,
            curves=curves,
            source={"generated": str(generated), "reference": str(reference) if reference is not None else None},
            reference_set=ref,
        )

    write_dir_atomic(out_dir, build)
    summary = box["summary"]
    metrics = {k: float(v) for k, v in summary["metrics"].items() if isinstance(v, (int, float)) and np.isfinite(v)}
    metrics["validate_seconds"] = time.perf_counter() - t0
    inputs = [InputDataset("generated", str(generated), file_hash(generated), "validation")]
    if ref is not None:
        inputs.append(InputDataset("reference", str(ref.path), ref.dataset.digest, "reference"))
    return StageResult(
        stage="validate",
        outputs={"report_dir": out_dir, "summary": out_dir / "summary.json"},
        metrics=metrics,
        artifacts=[out_dir],
        inputs=inputs,
        tags={"validate.reference": str(reference) if reference is not None else "none"},
        errors=errors,
        extra={"summary": summary},
    )


def _record_columns(gen: GeneratedMolecule, rec: Any) -> dict[str, Any]:
    p = rec.props
    ci = p.get("conformer_index")
    return {
        "record": rec.record,
        "name": gen.name,
        "smiles": gen.smiles or "",
        "conformer_index": int(ci) if ci is not None and ci.lstrip("-").isdigit() else None,
        "sampler": p.get("sampler", ""),
    }

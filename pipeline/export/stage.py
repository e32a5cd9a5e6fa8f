"""The export stage: a sample (or validate) run's artifacts -> SDF, all or only valid conformers,
one file or one file per molecule, every property carried over (+ ``valid`` / ``failed_checks``)."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.atomic import write_dir_atomic, write_file_atomic

from pipeline.export.config import ExportConfig
from pipeline.export.sdfio import SdfRecord, format_record, read_records
from pipeline.export.source import find_sdf, find_table, load_validity
from pipeline.types import InputDataset, RecordError, StageError, StageResult

__all__ = ["run_export", "safe_filename"]


def safe_filename(name: str, used: set[str]) -> str:
    """A file-system-safe, unique (within ``used``) stem for a molecule name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "molecule"
    stem = stem[:100]
    cand, k = stem, 2
    while cand.lower() in used:
        cand, k = f"{stem}_{k}", k + 1
    used.add(cand.lower())
    return cand


def _write_dir(out: Path, groups: dict[tuple[str, str], list[SdfRecord]]) -> int:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StageError(f"{out} exists and is not an empty directory; choose a new --out for --per-molecule")

    def build(tmp: Path) -> None:
        used: set[str] = set()
        for (title, _), recs in groups.items():
            (tmp / f"{safe_filename(title, used)}.sdf").write_text("".join(format_record(r) for r in recs))

    write_dir_atomic(out, build)
    return len(groups)


def run_export(cfg: ExportConfig, source_dir: Path, out: Path) -> StageResult:
    """Export the SDF found under ``source_dir`` (a run's downloaded artifacts) to ``out``.

    ``out`` is a file, or with ``per_molecule`` a new directory of ``<name>.sdf`` files. With
    ``only_valid`` a per-conformer validation table must be present; conformers without a row in it
    are left out and reported.
    """
    source_dir, out = Path(source_dir), Path(out)
    sdf = find_sdf(source_dir, cfg.sdf_name)
    table_path = find_table(source_dir, cfg.table_name)
    if cfg.only_valid and table_path is None:
        raise StageError(f"only_valid needs a validate run (a per-conformer table with a `valid` column); none under {source_dir}")
    table = load_validity(table_path) if table_path is not None else None
    errors: list[RecordError] = []
    kept: list[SdfRecord] = []
    n_in = n_valid = 0
    for rec in read_records(sdf):
        n_in += 1
        status = table.get(rec.index, rec.title, rec.props.get("conformer_index")) if table else None
        valid = status[0] if status else None
        if table is not None and status is None:
            errors.append(RecordError(str(sdf), f"{rec.index + 1} ({rec.title})", "no row in the validation table"))
        n_valid += int(valid is True)
        if cfg.only_valid and valid is not True:
            continue
        if table is not None and cfg.add_validation and status is not None:
            rec.props.pop("valid", None)
            rec.props.pop("failed_checks", None)
            rec.props["valid"] = "unknown" if valid is None else str(valid).lower()
            if status[1]:
                rec.props["failed_checks"] = status[1]
        kept.append(rec)
    if n_in == 0:
        raise StageError(f"{sdf} holds no records")
    if not kept:
        raise StageError(f"no conformer of {sdf} passed validation; nothing to export")
    groups: dict[tuple[str, str], list[SdfRecord]] = {}
    for rec in kept:
        groups.setdefault((rec.title, rec.props.get("SMILES", "")), []).append(rec)
    if cfg.per_molecule:
        _write_dir(out, groups)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(out, "".join(format_record(r) for r in kept))
    metrics = {
        "records_in": float(n_in),
        "records_out": float(len(kept)),
        "molecules_out": float(len(groups)),
    }
    if table is not None:
        metrics["valid_fraction"] = n_valid / n_in
    return StageResult(
        stage="export",
        outputs={"sdf": out},
        metrics=metrics,
        artifacts=[out],
        tags={"only_valid": str(cfg.only_valid).lower(), "per_molecule": str(cfg.per_molecule).lower()},
        inputs=_inputs(sdf, table_path),
        errors=errors,
        extra={"source_sdf": str(sdf), "table": str(table_path) if table_path else None},
    )


def _inputs(sdf: Path, table_path: Path | None) -> list[InputDataset]:
    """What the export read, with content hashes (MLflow datasets of the run, like the other stages)."""
    from pipeline.hashing import file_hash

    inputs = [InputDataset("conformers", str(sdf), file_hash(sdf), "input")]
    if table_path is not None:
        inputs.append(InputDataset("validation", str(table_path), file_hash(table_path), "input"))
    return inputs

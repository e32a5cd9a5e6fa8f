"""``bondiff ingest``: read xyz/SDF/reference sets/QM9 into a conformer dataset (see docs/ingest.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config

EXAMPLES = """\
  bondiff ingest data/hutchison_dev --out work/hutchison          # reference set: molecules.smi + xyz/NAME/*.xyz
  bondiff ingest data/qm9_sample --out work/qm9                    # a directory of (QM9-style) xyz files
  bondiff ingest confs.sdf more.xyz --out work/mine                # SDF/MOL and xyz files, mixed
  bondiff ingest frames.xyz --smiles-templates mols.smi --out work/t   # bond orders/stereo from 'SMILES NAME' lines
  bondiff ingest --qm9 --limit 20000 --out work/qm9_20k            # QM9 from the qm9pack package (extra 'qm9')
  bondiff ingest --qm9 --sample 30000 --seed 0 --out work/qm9_30k  # a seeded random 30,000 of QM9 (not the smallest)
  bondiff ingest data/sdf --out work/sdf --set max_atoms=80 --set default_charge=0 --force

Re-running with the same inputs and config reuses the dataset (content-hash cache); --force rebuilds.
Per-record errors (file, record, reason) are printed and listed in DIR/manifest.json.
"""

MAX_SHOWN_ERRORS = 10


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.ingest.config import IngestConfig

    p = add_subcommand(sub, name, help_text, _run, description=__doc__.splitlines()[0].split(": ", 1)[1], examples=EXAMPLES)
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="xyz/extxyz/sdf/mol files, directories of them, or reference-set directories")
    p.add_argument("--out", "-o", required=True, type=Path, help="dataset directory to write")
    add_config_flag(p, IngestConfig, "smiles_templates", "--smiles-templates", metavar="FILE")
    add_config_flag(p, IngestConfig, "qm9", "--qm9")
    add_config_flag(p, IngestConfig, "qm9_limit", "--limit", metavar="N", context="with --qm9")
    add_config_flag(p, IngestConfig, "qm9_sample", "--sample", metavar="N", context="with --qm9")
    add_config_flag(p, IngestConfig, "qm9_seed", "--seed", metavar="S", context="with --sample")
    add_config_flag(p, IngestConfig, "workers", "--workers", metavar="N")
    p.add_argument("--force", action="store_true", help="rebuild even if a dataset with the same inputs and config exists")
    add_config_args(p)
    add_tracking_args(p)


def _print_report(result, run_id: str | None) -> None:
    mf = result.extra["manifest"]
    print(result.extra["summary"])
    print(f"  dataset: {result.outputs['dataset']}  (hash {mf.get('dataset_hash', '?')})")
    notes = mf["counts"].get("conformers_by_note", {})
    if notes.get("hydrogens_added"):
        print(f"  hydrogens added (with coordinates) to {notes['hydrogens_added']} SDF/MOL records that had none")
    if notes.get("carbon_without_hydrogens"):
        print(f"  warning: {notes['carbon_without_hydrogens']} xyz records have carbon but no hydrogen atom; "
              "xyz input must list hydrogens explicitly (bonds were perceived as given)")
    if notes.get("hueckel_connectivity"):
        print(f"  {notes['hueckel_connectivity']} records needed the extended-Hückel connectivity")
    timing = mf.get("timing", {})
    if timing and not result.reused:
        print(f"  {mf['counts'].get('records', 0)} records in {timing['seconds']:.1f} s ({timing['records_per_s']:.0f} records/s)")
    for kind in ("errors", "filtered"):
        rows = mf.get(kind, [])
        if rows:
            print(f"  {kind}: {len(rows)}")
            for e in rows[:MAX_SHOWN_ERRORS]:
                print(f"    {e['file']} [record {e['record']}]: {e['reason']}")
            if len(rows) > MAX_SHOWN_ERRORS:
                print(f"    ... {len(rows) - MAX_SHOWN_ERRORS} more in {result.outputs['dataset']}/manifest.json")
    if run_id:
        print(f"  MLflow run: {run_id}")


def _run(args: argparse.Namespace) -> int:
    from pipeline.ingest import IngestConfig, run_ingest
    from pipeline.ingest.stage import check_ingest_paths
    from pipeline.types import StageError

    for flag, value in (("--limit", args.limit), ("--sample", args.sample)):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be >= 1")
    if args.limit is not None and args.sample is not None:
        raise UserError("--limit (the first N) and --sample (a random N) exclude each other")
    if args.seed is not None and args.sample is None:
        raise UserError("--seed applies to --sample")
    cfg = stage_config(IngestConfig, args)
    for flag, value in (("--limit", args.limit), ("--sample", args.sample)):
        if value is not None and not cfg.qm9:
            raise UserError(f"{flag} applies to QM9: add --qm9")
    if not args.paths and not cfg.qm9:
        raise UserError("nothing to read: give PATH... and/or --qm9")
    try:  # before any work (and before an MLflow run is opened): a bad --out is a usage error
        check_ingest_paths(cfg, args.paths, args.out)
    except StageError as exc:
        raise UserError(str(exc).removeprefix("ingest: ")) from None

    result, run_id = run_stage_command(args, "ingest", cfg, lambda: run_ingest(cfg, args.paths, args.out, force=args.force))
    _print_report(result, run_id)
    return 0

"""``bondiff export``: SDF from a sample or validate run (all / only valid, one file / per molecule).

The run's artifacts are fetched from MLflow here (the stage itself never touches MLflow); for a
validate run the upstream sample run (tag ``upstream.sample``) is fetched too, so the SDF and the
per-conformer table sit side by side.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config, tracking_kwargs
from pipeline.io_paths import check_output_dir, check_output_file

__all__ = ["register", "fetch_run_artifacts"]

EXAMPLES = """\
  bondiff export --run-id 3f2c... --out all.sdf
  bondiff export --run-id <validate run> --only-valid --out valid.sdf
  bondiff export --run-id <validate run> --only-valid --per-molecule --out valid_by_molecule/
"""


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.export.config import ExportConfig

    p = add_subcommand(sub, name, help_text, _handler, examples=EXAMPLES)
    p.add_argument("--run-id", required=True, help="MLflow run id of a sample or validate run")
    add_config_flag(p, ExportConfig, "only_valid", "--only-valid")
    add_config_flag(p, ExportConfig, "per_molecule", "--per-molecule")
    p.add_argument("--out", "-o", required=True, help="output SDF (or directory with --per-molecule)")
    add_config_args(p)
    add_tracking_args(p)


def fetch_run_artifacts(run_id: str, dest: Path, tracking_uri: str | None = None, experiment: str = "bondiff") -> dict[str, str]:
    """Download the run's artifacts (and its upstream sample run's) into ``dest``; returns lineage."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipeline.tracking import setup_tracking

    setup_tracking(tracking_uri, experiment)
    client = mlflow.tracking.MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise UserError(f"no MLflow run {run_id!r} in {mlflow.get_tracking_uri()}: {exc.message}") from None
    stage = run.data.tags.get("stage", "")
    lineage = {stage or "source": run_id}
    mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(dest / (stage or "source")))
    upstream = run.data.tags.get("upstream.sample")
    if stage != "sample" and upstream:
        mlflow.artifacts.download_artifacts(run_id=upstream, dst_path=str(dest / "sample"))
        lineage["sample"] = upstream
    elif stage == "validate":
        _copy_logged_input(run, "generated", dest / "sample")
    return lineage


def _copy_logged_input(run, name: str, dest: Path) -> None:
    """A standalone validate run has no upstream sample run: use the SDF it logged as input
    ``name`` (its local path), provided the file still has the logged content hash."""
    import json
    import shutil

    from pipeline.hashing import file_hash

    for di in getattr(run.inputs, "dataset_inputs", None) or []:
        ds = di.dataset
        if ds.name != name:
            continue
        try:
            uri = json.loads(ds.source).get("uri", "")
        except (TypeError, ValueError):
            uri = ""
        path = Path(uri.removeprefix("file://"))
        if not path.is_file():
            raise UserError(f"the validate run's generated SDF {uri!r} is not available here")
        if ds.digest and file_hash(path) != ds.digest:
            raise UserError(f"{path} changed since the validate run (content hash differs); re-run validate")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / path.name)
        return
    raise UserError(f"validate run {run.info.run_id} names no upstream sample run and logged no generated SDF")


def _handler(args: argparse.Namespace) -> int:
    from pipeline.export import ExportConfig, run_export
    from pipeline.types import StageError

    cfg = stage_config(ExportConfig, args)
    # before any work: the output can be written (a new or empty folder with --per-molecule)
    if cfg.per_molecule:
        out = check_output_dir(args.out, None, what="output folder")
    else:
        out = check_output_file(args.out, what="output SDF")
    with tempfile.TemporaryDirectory(prefix="bondiff-export-") as tmp:
        src = Path(tmp)
        lineage = fetch_run_artifacts(args.run_id, src, **tracking_kwargs(args))
        if cfg.only_valid and "validate" not in lineage:
            kind = next(iter(lineage)) if lineage else "unknown"
            raise UserError(f"--only-valid needs a validate run; {args.run_id} is a {kind} run "
                            "(validate its SDF with `bondiff validate`, then export that run)")

        def where(text: str) -> str:  # the downloaded copy is gone once we return: name the run instead
            return text.replace(str(src), f"<run {args.run_id}>")

        try:
            result, _ = run_stage_command(args, "export", cfg, lambda: run_export(cfg, src, out), lineage=lineage)
        except StageError as exc:
            print(f"bondiff export: {where(str(exc))}", file=sys.stderr)
            return 1
        warnings = [where(str(err)) for err in result.errors]
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    m = result.metrics
    print(f"wrote {int(m['records_out'])} of {int(m['records_in'])} conformers ({int(m['molecules_out'])} molecules) to {out}")
    return 0

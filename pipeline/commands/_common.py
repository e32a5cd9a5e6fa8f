"""Pieces every sub-command shares: --config/--set handling, tracking flags, error reporting."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from pipeline.config import ConfigError, load_config
from pipeline.types import StageError

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "add_subcommand", "add_config_args", "add_tracking_args", "stage_config", "run_command", "UserError",
    "stage_failed", "print_record_errors", "quiet_rdkit", "check_device",
]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2, no traceback."""


def add_subcommand(
    sub: argparse._SubParsersAction,
    name: str,
    help_text: str,
    handler: Callable[[argparse.Namespace], int],
    description: str | None = None,
    examples: str | None = None,
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=("examples:\n" + examples) if examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=handler)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def add_config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--config", "-c", default=default, help=f"YAML config (default: {default or 'built-in defaults'})")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key with a dotted path, e.g. --set optim.lr=3e-4 or --set validate.metrics.delta=0.5 (repeatable; unknown keys are errors)",
    )


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    p.add_argument("--experiment", default="bondiff", help="MLflow experiment name (default: bondiff)")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")


def stage_config(model: type[M], args: argparse.Namespace, extra: dict[str, Any] | None = None) -> M:
    """Load ``args.config`` + ``--set`` overrides (+ CLI flags given as ``extra`` dotted keys)."""
    overrides = list(getattr(args, "overrides", []) or [])
    for k, v in (extra or {}).items():
        if v is not None:
            overrides.append(f"{k}={_yaml_scalar(v)}")
    return load_config(model, getattr(args, "config", None), overrides)


def _yaml_scalar(v: Any) -> str:
    """JSON is valid YAML: strings stay strings (quoted), numbers/bools/lists keep their type."""
    import json

    return json.dumps(v)


def tracking_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"tracking_uri": getattr(args, "tracking_uri", None), "experiment": getattr(args, "experiment", "bondiff")}


MAX_SHOWN_ERRORS = 10


def print_record_errors(errors: Sequence[Any], label: str = "error", limit: int | None = MAX_SHOWN_ERRORS, more: str = "") -> None:
    """One stderr line per per-record error (file, record, reason); ``limit`` None shows them all."""
    shown = errors if limit is None else errors[:limit]
    for e in shown:
        print(f"  {label}: {e}", file=sys.stderr)
    if len(errors) > len(shown):
        print(f"  ... {len(errors) - len(shown)} more{' in ' + more if more else ''}", file=sys.stderr)


def stage_failed(command: str, exc: BaseException, prefix: str = "") -> int:
    """Report a :class:`~pipeline.types.StageError` in one line (plus every record error behind it,
    since nothing was written that would list them); returns exit status 1."""
    msg = str(exc)
    for p in (f"{command}: ", f"{command.split()[-1]}: "):
        msg = msg.removeprefix(p)
    print(f"bondiff {command}: {prefix}{msg}", file=sys.stderr)
    print_record_errors(list(getattr(exc, "errors", []) or []), limit=None)
    return 1


def check_device(device: str | None) -> None:
    """A CUDA device asked for on a machine (or torch build) without one is a usage error."""
    if not device or not str(device).startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA device is visible"
        raise UserError(f"--device {device}: {why}; use --device cpu (or auto)")
    if ":" in str(device):
        idx = str(device).split(":", 1)[1]
        if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
            raise UserError(f"--device {device}: there are {torch.cuda.device_count()} CUDA device(s)")


def quiet_rdkit(verbose: bool = False) -> None:
    """RDKit's C++ log lines (warnings such as UFFTYPER, parse errors) go to the Python logger
    ``rdkit``, shown only with -v; readers still capture them for their messages
    (:func:`pipeline.ingest.rdlog.captured_rdkit_log`). Forked workers inherit the setting."""
    try:
        from rdkit import rdBase
    except ImportError:  # pragma: no cover - rdkit is a dependency
        return
    rdBase.LogToPythonLogger()
    logger = logging.getLogger("rdkit")
    if not verbose:
        logger.handlers = [logging.NullHandler()]
        logger.propagate = False


def run_command(args: argparse.Namespace) -> int:
    from pipeline.io_paths import InputFileError, OutputPathError

    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    quiet_rdkit(verbose)
    try:
        return int(args.func(args) or 0)
    except (UserError, ConfigError, FileNotFoundError, OutputPathError, InputFileError) as exc:
        msg = str(exc)
        if isinstance(exc, FileNotFoundError) and exc.filename and exc.strerror:
            msg = f"{exc.strerror}: {exc.filename}"
        print(f"bondiff {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except StageError as exc:  # e.g. a corrupt packed dataset: one line, no traceback, whichever command read it
        print(f"bondiff {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # no traceback reaches a user: one line, the traceback with -v
        if verbose:
            raise
        if isinstance(exc, OSError) and exc.strerror:
            what = f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
        else:
            what = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}"
        print(f"bondiff {args.command}: failed: {what} (run with -v for the traceback)", file=sys.stderr)
        return 1


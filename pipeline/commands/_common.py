"""Pieces every sub-command shares: --config/--set handling, flags that set config keys, tracking flags,
running a stage (tracked or not), error reporting."""

from __future__ import annotations

import argparse
import logging
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from pipeline.config import ConfigError, field_at, load_config, with_values
from pipeline.types import StageError

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

__all__ = [
    "add_subcommand", "add_config_args", "add_config_flag", "add_tracking_args", "stage_config", "run_stage_command",
    "run_command", "UserError", "stage_failed", "print_record_errors", "quiet_rdkit", "check_device",
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


@dataclass(frozen=True)
class ConfigFlag:
    """A command-line flag that sets one config key (recorded on its parser by :func:`add_config_flag`)."""

    key: str  # dotted config key, e.g. "metrics.delta"
    dest: str  # the argparse destination
    option: str  # the flag as a user types it, for error messages


def add_config_flag(
    p: argparse.ArgumentParser, model: type[BaseModel], key: str, *names: str, context: str | None = None, help: str | None = None, **kwargs: Any
) -> None:
    """Add a flag (``names``) that sets config ``key`` of ``model``.

    Its help is the pydantic field's description (``context`` says how it relates to other flags, e.g.
    ``"with --qm9"``; ``help`` replaces the description where the flag is worded differently, as a
    negating switch), followed by the field's default; its type (int, float, str, Path, a comma-separated
    list), choices (a ``Literal``) and switch action (a bool: the flag sets ``const``, True unless given)
    come from the field's annotation; explicit ``kwargs`` win. Not given, the flag is None and the config
    file / ``--set`` value stands; given, :func:`stage_config` applies it, validated.
    """
    info = field_at(model, key)
    text = help or info.description or ""
    if context:
        text = f"{context}: {text}"
    kw = _flag_kwargs(info.annotation)
    if kw.get("type") is _comma_list:
        text += " (comma-separated)"
    if "choices" in kw and "metavar" in kwargs:  # the usage line shows METAVAR, the help the choices
        text += f" ({' | '.join(kw['choices'])})"
    default = _default_text(info)
    if default is not None and kw.get("action") != "store_const" and "(default:" not in text:
        text += f" (default: {default})"
    kw.update(kwargs)
    if kw.get("action") == "store_const":
        kw.setdefault("const", True)
    action = p.add_argument(*names, default=None, help=text.replace("%", "%%"), **kw)
    option = next((n for n in names if n.startswith("--")), names[0])
    p.set_defaults(config_flags=(*(p.get_default("config_flags") or ()), ConfigFlag(key, action.dest, option)))


def _flag_kwargs(annotation: Any) -> dict[str, Any]:
    """argparse keywords for a field's annotation (``X | None`` is read as ``X``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else str
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return {"action": "store_const"}
    if origin is Literal:
        return {"choices": [str(a) for a in typing.get_args(annotation)]}
    if origin is list:
        return {"type": _comma_list}
    if annotation in (int, float, str, Path):
        return {"type": annotation}
    return {}


def _comma_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _default_text(info: Any) -> str | None:
    """The field's default as the help shows it: lists comma-joined; None (unset) is not shown."""
    value = info.default if info.default is not PydanticUndefined else info.default_factory()
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def stage_config(model: type[M], args: argparse.Namespace) -> M:
    """Load ``args.config`` + ``--set`` overrides, then apply the config flags the user gave (typed values,
    validated; a flag wins over the file and ``--set``)."""
    config = getattr(args, "config", None)
    cfg = load_config(model, config, list(getattr(args, "overrides", []) or []))
    given = [f for f in getattr(args, "config_flags", ()) if getattr(args, f.dest, None) is not None]
    if not given:
        return cfg
    shown = ", ".join(f"{f.option}{_shown(getattr(args, f.dest))}" for f in given)
    return with_values(cfg, {f.key: getattr(args, f.dest) for f in given}, f"{config or '<defaults>'} ({shown})")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    return " " + (",".join(map(str, value)) if isinstance(value, list) else str(value))


def run_stage_command(
    args: argparse.Namespace, stage: str, cfg: Any, call: Callable[..., R], *, pass_logger: bool = False, track: bool | None = None, **track_kw: Any
) -> tuple[R, str | None]:
    """Run a command's stage: untracked with ``--no-track`` (or ``track=False``), else in an MLflow run
    (:func:`pipeline.tracking.track_stage`, ``track_kw`` e.g. ``lineage``). ``call()`` (``call(logger)``
    with ``pass_logger``) does the work. Returns (result, MLflow run id or None). A
    :class:`~pipeline.types.StageError` propagates to :func:`run_command`: one line plus every record
    error behind it, exit status 1."""
    if track is None:
        track = not getattr(args, "no_track", False)
    if not track:
        if pass_logger:
            from pipeline.types import NullLogger

            return call(NullLogger()), None
        return call(), None
    from pipeline.tracking import track_stage

    return track_stage(stage, cfg, call, pass_logger=pass_logger, **track_kw, **tracking_kwargs(args))


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
    except StageError as exc:  # a stage failed, or e.g. a corrupt packed dataset: one line, no traceback
        return stage_failed(args.command, exc)
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


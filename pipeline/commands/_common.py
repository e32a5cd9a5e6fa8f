"""Pieces every sub-command shares: --config/--set handling, tracking flags, error reporting."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, TypeVar

from pydantic import BaseModel

from pipeline.config import ConfigError, load_config

M = TypeVar("M", bound=BaseModel)

__all__ = ["add_subcommand", "add_config_args", "add_tracking_args", "stage_config", "run_command", "UserError"]


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


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (UserError, ConfigError, FileNotFoundError) as exc:
        print(f"bondiff {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

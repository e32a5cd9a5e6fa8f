"""``bondiff models``: list the models you can sample with (shipped + registered), or register the shipped one."""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path

from pipeline.commands._common import add_subcommand

EXAMPLES = """\
  bondiff models                      # what --model can be: the shipped model, registered versions
  bondiff models register-shipped     # put the shipped model in the registry (alias @shipped)
  bondiff models --tracking-uri sqlite:////data/bondiff/mlflow.db

Then: bondiff sample --model models:/bondiff-denoiser@shipped ...   (or --model latest, --model models:/bondiff-denoiser/3)
"""


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    p = add_subcommand(sub, name, help_text, _run, description=__doc__.splitlines()[0].split(": ", 1)[1], examples=EXAMPLES)
    p.add_argument("action", nargs="?", choices=["list", "register-shipped"], default="list", help="list (default) or register-shipped")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    p.add_argument("--no-register", action="store_true", help="list only: do not register the shipped model in a store whose registry is empty")


def _store_uri(args: argparse.Namespace) -> str | None:
    """The store to read, or None when there is none (never creates one just to list)."""
    if args.tracking_uri:
        return args.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path('mlflow.db').resolve()}" if Path("mlflow.db").is_file() else None


def _fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f}%" if kind == "pct" else f"{int(v)}" if kind == "int" else f"{v:.3g}"


def _print_shipped() -> None:
    from pipeline.model_catalog import SHIPPED_NAME, shipped_description, weights_hash
    from pipeline.model.io import SHIPPED_MODEL_DIR

    if not (SHIPPED_MODEL_DIR / "weights.pt").is_file():
        print(f"shipped model: none in {SHIPPED_MODEL_DIR}")
        return
    print(f"default (no --model): {SHIPPED_NAME}@{weights_hash(SHIPPED_MODEL_DIR)}  [{SHIPPED_MODEL_DIR}]")
    for line in textwrap.wrap(shipped_description(), width=110):
        print("    " + line)


def _run(args: argparse.Namespace) -> int:
    uri = _store_uri(args)
    if args.action == "register-shipped":
        return _register(uri or f"sqlite:///{Path('mlflow.db').resolve()}")
    _print_shipped()
    if uri is None:
        print("\nno tracking store here (./mlflow.db, $MLFLOW_TRACKING_URI): nothing registered; "
              "`bondiff models register-shipped` creates one with the shipped model")
        return 0
    client = _client(uri)
    from pipeline.model_catalog import SHIPPED_ALIAS, register_shipped, registered_models

    versions = registered_models(client)
    if not any(v.role == "shipped" for v in versions):
        if versions or args.no_register:  # registering now would change what --model latest means: only on request
            print(f"\nthe shipped model is not in this registry: `bondiff models register-shipped` adds it (@{SHIPPED_ALIAS}; it becomes --model latest)")
        else:  # first use of an empty registry: the shipped model becomes version 1
            version, _ = register_shipped(client)
            print(f"\nregistered the shipped model in {uri} as bondiff-denoiser version {version} (@{SHIPPED_ALIAS})")
            versions = registered_models(client)
    print(f"\nregistered bondiff-denoiser versions in {uri}:")
    if not versions:
        print("  none")
        return 0
    head = f"  {'version':>7}  {'aliases':<16} {'role':<16} {'created':<20} {'val_loss':>8} {'raw valid':>9} {'bond MAE Å':>10} {'steps':>6}  use with"
    print(head)
    for v in versions:
        aliases = ",".join("@" + a for a in v.aliases) or "–"
        ref = f"--model models:/bondiff-denoiser/{v.version}"
        print(
            f"  {v.version:>7}  {aliases:<16} {v.role:<16} {v.created:<20} {_fmt(v.dev.get('val_loss'), 'f'):>8} "
            f"{_fmt(v.dev.get('sample_valid_frac'), 'pct'):>9} {_fmt(v.dev.get('sample_bond_mae'), 'f'):>10} {_fmt(v.dev.get('steps'), 'int'):>6}  {ref}"
        )
        if v.description:
            for line in textwrap.wrap(v.description, width=104)[:4]:
                print("           " + line)
    latest = versions[0]
    note = {
        "shipped": "the shipped model",
        "quickstart demo": "a quickstart demo model (a short run" + (f" of {int(latest.dev['steps'])} steps" if "steps" in latest.dev else "")
        + " on the quickstart's small data set), not a better model than the shipped one",
        "trained": "a model trained here" + (f" (fine-tuned from {latest.init_from})" if latest.init_from else ""),
    }[latest.role]
    print(f"\n--model latest = version {latest.version}: {note}.")
    print("dev-set figures are the training run's validation split (raw samples, before any --refine); compare models with `bondiff benchmark`.")
    return 0


def _client(uri: str):
    import logging

    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(uri)
    return mlflow.tracking.MlflowClient(uri)


def _register(uri: str) -> int:
    from pipeline.model_catalog import SHIPPED_ALIAS, register_shipped

    version, created = register_shipped(_client(uri))
    what = "registered" if created else "already registered:"
    print(f"{what} the shipped model as bondiff-denoiser version {version} (@{SHIPPED_ALIAS}) in {uri}")
    print(f"use it with --model models:/bondiff-denoiser@{SHIPPED_ALIAS}")
    return 0

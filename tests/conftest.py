"""Shared fixtures: a throw-away MLflow store per test, paths to shipped data, deterministic torch."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def _empty_store_template(root: Path) -> Path:
    """An empty MLflow SQLite store at ``root/mlflow.db`` without the Default experiment.

    Whoever opens a copy (this process, a CLI subprocess, ``mlflow server``) re-creates the Default
    experiment with its own artifact root, exactly as on a brand-new store; everything else (tables,
    alembic version, default workspace) is what MLflow itself wrote.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = root / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(root / "mlruns"))  # runs every migration
    store.engine.dispose()
    con = sqlite3.connect(db)
    try:
        with con:
            dropped = con.execute("DELETE FROM experiments WHERE experiment_id = 0").rowcount
    finally:
        con.close()
    if dropped != 1:
        raise RuntimeError(f"MLflow store template {db}: expected one Default experiment, found {dropped}")
    return db


@pytest.fixture(scope="session")
def new_mlflow_store(tmp_path_factory) -> Callable[[Path], str]:
    """``make(directory)`` puts an empty MLflow SQLite store at ``directory/mlflow.db``; returns its URI.

    Creating a store runs MLflow's whole alembic migration chain (seconds of CPU), so it is done once
    per session, lazily, and every store is a copy of that one.
    """
    template: list[Path] = []

    def make(directory: Path) -> str:
        if not template:
            template.append(_empty_store_template(tmp_path_factory.mktemp("mlflow-template")))
        db = Path(directory) / "mlflow.db"
        if db.exists():
            raise FileExistsError(f"{db} already exists")
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template[0], db)
        return f"sqlite:///{db}"

    return make


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch, new_mlflow_store):
    """A real MLflow SQLite store + artifact dir under tmp_path; returns the tracking URI."""
    uri = new_mlflow_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    try:
        import mlflow

        mlflow.set_tracking_uri(uri)
        _forget_active_experiment()  # an experiment id set against an earlier test's store means nothing here
    except ImportError:  # pragma: no cover
        pass
    yield uri
    try:
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run()
        _forget_active_experiment()
    except ImportError:  # pragma: no cover
        pass


def _forget_active_experiment() -> None:
    """``mlflow.set_experiment`` keeps the experiment id in a module global; left over from another
    store it makes ``start_run(run_id=...)`` fail ("active experiment ID does not match")."""
    import mlflow.tracking.fluent as fluent

    if hasattr(fluent, "_active_experiment_id"):
        fluent._active_experiment_id = None


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """One intra-op thread: the models in tests are tiny, and on busy shared cores extra threads
    make small-tensor code an order of magnitude slower (pipeline/threads.py)."""
    from pipeline.threads import torch_threads

    with torch_threads(1):
        yield



def _has_qm9pack() -> bool:
    """The ``qm9`` extra is installed (looked up without importing it: qm9pack imports pkg_resources)."""
    import importlib.util

    return importlib.util.find_spec("qm9pack") is not None


def pytest_collection_modifyitems(config, items):
    """Tests marked ``qm9`` need the packaged QM9 (the ``qm9`` extra): skipped, with the reason, without it."""
    if _has_qm9pack():
        return
    skip = pytest.mark.skip(reason="needs the qm9 extra (qm9pack): pip install -e '.[qm9]'")
    for item in items:
        if "qm9" in item.keywords:
            item.add_marker(skip)

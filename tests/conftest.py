"""Shared fixtures: a throw-away MLflow store per test, paths to shipped data, deterministic torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = REPO.parent / "shared"


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A real MLflow SQLite store + artifact dir under tmp_path; returns the tracking URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    try:
        import mlflow

        mlflow.set_tracking_uri(uri)
    except ImportError:  # pragma: no cover
        pass
    yield uri
    try:
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run()
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    yield

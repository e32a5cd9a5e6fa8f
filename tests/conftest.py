"""Shared fixtures: a throw-away MLflow store per test, paths to shipped data, deterministic torch."""

from __future__ import annotations

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
    """One intra-op thread: the models in tests are tiny, and on a loaded 2-core CI box extra
    threads make small-tensor code an order of magnitude slower (measured 17x on the samplers)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

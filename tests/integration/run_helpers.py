"""Shared by the ``bondiff run`` and DAG integration tests: a tiny pipeline config on shipped data."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

STAGES = ["ingest", "prior", "train", "sample", "validate", "export"]
REPO = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny",
    "workdir": "work",
    "tracking": {"experiment": "tiny-chain"},
    "inputs": {"paths": ["qm9"]},
    "ingest": {"splits": {"train": 0.6, "val": 0.2, "test": 0.2}},
    "prior": {"plots": False, "calibration": {"lam_grid": 9}},
    "train": {
        "device": "cpu", "max_steps": 3, "atom_budget": 200, "log_every": 1, "checkpoint_every": 3,
        "eval": {"every": 0, "val_molecules": 1, "sample_molecules": 0},
    },
    "sample": {"split": "test", "per_reference": 1, "steps": 2, "device": "cpu", "progress": False},
    "validate": {"metrics": {"delta": 0.5}, "workers": 1, "checks": {"energy_max_iters": 50}},
    "export": {},
}


def tiny_config(root: Path, n_molecules: int = 40, name: str = "tiny.yaml") -> Path:
    """A tiny pipeline config in ``root`` reading the first ``n_molecules`` shipped QM9 files."""
    src = sorted((REPO / "data" / "qm9_sample").glob("*.xyz"))[:n_molecules]
    (root / "qm9").mkdir(parents=True, exist_ok=True)
    for f in src:
        shutil.copy(f, root / "qm9" / f.name)
    path = root / name
    path.write_text(yaml.safe_dump(TINY))
    return path

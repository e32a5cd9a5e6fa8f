"""Helpers for the builder tests: a tiny fake ``molsets`` wheel and a fast build config."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

from pipeline.builder import BuildConfig

HUTCHISON = Path(__file__).resolve().parents[2] / "data" / "hutchison_dev"  # shipped with the repo
MEMBER = "moses/dataset/data/train.csv.gz"

# small, fast molecules; nicotine (neutral, stereo-free) is Hutchison's astex_1p2y
SMALL = [
    "CCCCOC(=O)c1ccccc1",  # flexible ester
    "CC(O)c1ccccc1",  # one unassigned stereocentre
    "CN1CCCC1c1cccnc1",  # nicotine: must be excluded
    "C1CC(",  # unparsable: a per-record error
    "OCCN1CCOCC1",
]


def write_wheel(directory: Path, smiles: list[str], version: str = "0.3.1") -> Path:
    """A zip named like the molsets wheel holding ``smiles`` as the MOSES train CSV."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"molsets-{version}-py3-none-any.whl"
    payload = gzip.compress(("SMILES\n" + "\n".join(smiles) + "\n").encode())
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MEMBER, payload)
        zf.writestr("moses/__init__.py", "")
    return path


def fast_config(archive: Path, **over) -> BuildConfig:
    """Few embeddings, small molecules allowed, one worker: a build of 4 molecules takes seconds."""
    data = {
        "source": {"archive": str(archive)},
        "selection": {"n_molecules": 10, "min_heavy_atoms": 3},
        "conformers": {"num_embed": 8, "max_conformers": 4},
        "exclusion": {"reference_dirs": [str(HUTCHISON)]},
        "workers": 1,
        "chunk_size": 2,
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return BuildConfig.model_validate(data)

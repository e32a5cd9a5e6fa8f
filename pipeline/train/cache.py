"""Featurized-records cache: featurize once (needs RDKit), train anywhere (no RDKit needed).

``cached_records(dataset, indices, features, prior_params, max_atoms, cache_dir)`` returns the same
``(records, errors)`` as :func:`pipeline.train.data.load_records`. The cache file
``<cache_dir>/records-<key>.npz`` is keyed by content — dataset hash, split indices, feature
config, prior parameters, ``max_atoms`` — never by path, and holds flat concatenated arrays with
offsets (no pickles). Typical use: run once where RDKit is installed, copy ``OUT/cache/`` to the
GPU box (torch + e3nn + torch-geometric only) and train there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from pipeline.atomic import write_file_atomic
from pipeline.train.data import MoleculeRecord, load_records
from pipeline.types import RecordError

__all__ = ["cache_key", "cached_records", "save_records", "read_records"]

_NODE = ("x", "chirality", "atomic_numbers", "canonical_rank")
_PAIR = ("pair_hops", "pair_bond", "pair_stereo")
_BOUNDS = ("pair_lower", "pair_upper")  # only with FeatureConfig.dg_bounds


def cache_key(dataset_digest: str, indices: Sequence[int], features, prior_params, max_atoms: int) -> str:
    from pipeline.hashing import combine_hashes

    return combine_hashes(
        [
            dataset_digest,
            json.dumps(list(map(int, indices))),
            features.model_dump_json(),
            prior_params.model_dump_json(),
            str(max_atoms),
        ]
    )


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
    return out


def save_records(path: Path, records: Sequence[MoleculeRecord], errors: Sequence[RecordError]) -> Path:
    """Write records + errors to ``path`` (.npz) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = [r.n_atoms for r in records]
    arrays: dict[str, np.ndarray] = {
        "index": np.array([r.index for r in records], dtype=np.int64),
        "atom_offsets": _offsets(n),
        "pair_offsets": _offsets([k * k for k in n]),
        "bond_offsets": _offsets([r.bonds.shape[0] for r in records]),
        "graph_bond_offsets": _offsets([int(r.graph.bonds.shape[0]) for r in records]),
        "conf_counts": np.array([r.n_conformers for r in records], dtype=np.int64),
        "names": np.array(json.dumps([r.name for r in records])),
        "errors": np.array(json.dumps([e.as_dict() for e in errors])),
    }
    for f in _NODE + _PAIR:
        arrays[f] = np.concatenate([getattr(r.graph, f).numpy() for r in records]) if records else np.zeros(0)
    if records and all(hasattr(r.graph, f) for f in _BOUNDS for r in records):
        for f in _BOUNDS:
            arrays[f] = np.concatenate([getattr(r.graph, f).numpy() for r in records])
    arrays["node_dim"] = np.array(records[0].graph.x.shape[1] if records else 0)
    arrays["bonds"] = np.concatenate([r.bonds for r in records]).reshape(-1, 3) if records else np.zeros((0, 3), np.int64)
    arrays["graph_bonds"] = (
        np.concatenate([r.graph.bonds.numpy() for r in records]).reshape(-1, 3) if records else np.zeros((0, 3), np.int64)
    )
    arrays["coords"] = np.concatenate([r.coords.reshape(-1, 3) for r in records]) if records else np.zeros((0, 3), np.float32)
    arrays["R"] = np.concatenate([r.R.reshape(-1) for r in records]) if records else np.zeros(0)
    arrays["eigvals"] = np.concatenate([r.eigvals for r in records]) if records else np.zeros(0)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a file object: np.savez appends ".npz" to a name without it
            np.savez(fh, **arrays)

    return write_file_atomic(path, write)


def read_records(path: Path) -> tuple[list[MoleculeRecord], list[RecordError]]:
    """Inverse of :func:`save_records` (torch + numpy only)."""
    from torch_geometric.data import Data

    with np.load(path, allow_pickle=False) as npz:
        z = {k: npz[k] for k in npz.files}  # read each array once (NpzFile re-reads on every access)
    names = json.loads(str(z["names"]))
    errors = [RecordError(**e) for e in json.loads(str(z["errors"]))]
    ao, po, bo, go = z["atom_offsets"], z["pair_offsets"], z["bond_offsets"], z["graph_bond_offsets"]
    node_dim = int(z["node_dim"])
    records = []
    c0 = 0
    r0 = 0
    for k, idx in enumerate(z["index"].tolist()):
        a0, a1 = int(ao[k]), int(ao[k + 1])
        n = a1 - a0
        p0, p1 = int(po[k]), int(po[k + 1])
        b0, b1 = int(bo[k]), int(bo[k + 1])
        bonds = z["bonds"][b0:b1]
        graph_bonds = z["graph_bonds"][int(go[k]) : int(go[k + 1])]
        data = Data(
            x=torch.from_numpy(z["x"][a0:a1].reshape(n, node_dim).astype(np.float32)),
            chirality=torch.from_numpy(z["chirality"][a0:a1].astype(np.float32)),
            atomic_numbers=torch.from_numpy(z["atomic_numbers"][a0:a1].astype(np.int64)),
            canonical_rank=torch.from_numpy(z["canonical_rank"][a0:a1].astype(np.int64)),
            pair_hops=torch.from_numpy(z["pair_hops"][p0:p1].astype(np.int64)),
            pair_bond=torch.from_numpy(z["pair_bond"][p0:p1].astype(np.int64)),
            pair_stereo=torch.from_numpy(z["pair_stereo"][p0:p1].astype(np.int64)),
            bonds=torch.from_numpy(graph_bonds.astype(np.int64)),
            num_bonds=torch.tensor([graph_bonds.shape[0]], dtype=torch.long),
            num_nodes=n,
        )
        for f in _BOUNDS:
            if f in z:
                setattr(data, f, torch.from_numpy(z[f][p0:p1].astype(np.float32)))
        kc = int(z["conf_counts"][k])
        coords = z["coords"][c0 : c0 + kc * n].reshape(kc, n, 3)
        c0 += kc * n
        R = z["R"][r0 : r0 + n * n].reshape(n, n)
        r0 += n * n
        records.append(MoleculeRecord(idx, names[k], data, coords, bonds, R, z["eigvals"][a0:a1]))
    return records, errors


def cached_records(dataset, indices, features, prior_params, max_atoms: int, cache_dir: Path | None):
    """Records from ``cache_dir`` when present, else featurized (RDKit) and written there."""
    if cache_dir is None:
        return load_records(dataset, indices, features, prior_params, max_atoms)
    path = Path(cache_dir) / f"records-{cache_key(dataset.digest, indices, features, prior_params, max_atoms)}.npz"
    if path.is_file():
        return read_records(path)
    records, errors = load_records(dataset, indices, features, prior_params, max_atoms)
    save_records(path, records, errors)
    return records, errors

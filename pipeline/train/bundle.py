"""The GPU carry bundle: what a lent GPU machine (torch, no RDKit / pydantic / MLflow) needs to train on.

``pack_bundle`` runs on the CPU machine (``bondiff gpu-pack``, ``make gpu-pack``); ``read_bundle`` runs on
the GPU machine (``pipeline.train.gpu_job``) with numpy + torch only. Layout of a bundle directory::

    bundle.json        format, version; what it was packed from (dataset path + digest + packed parts,
                       prior parameters, checkpoint sha256 + step); the checkpoint's resolved train config
                       and model spec (JSON, so no pydantic is needed to read them); the subset and sizes
    features.npz.xz    an .npz (no pickles) of the features below, xz-compressed as a whole
    checkpoint.pt      the checkpoint to resume (a copy: the training folder may move on meanwhile)

Only what needs RDKit is stored, for the training molecules and the first ``eval.val_molecules``
validation molecules, concatenated in dataset order (M molecules, A atoms):

* ``index`` int32 [M] (dataset positions), ``n_atoms`` int32 [M];
* ``node_bits`` uint8 [A, ⌈D/8⌉]: the node feature rows (0/1 one-hots and flags), bit-packed;
* ``chirality`` int8 [A], ``canonical_rank`` uint8 [A] (``max_atoms`` ≤ 256);
* ``stereo`` int32 [S, 4]: (molecule, a, b, class) of the E/Z pairs, a < b;
* ``bond_type`` uint8 [B]: the featurized graph's RDKit bond type of each of the dataset's bonds, in the
  dataset's order (the dataset stores Kekulé bonds, the graph aromatic ones);
* ``lower`` / ``upper`` float16: the DG bounds, strict upper triangle of each molecule, row-major
  (float16 keeps ≤ 0.5 mÅ below 2 Å, ≤ 2 mÅ below 8 Å; the inputs' Gaussians are ~1 Å wide).

Recomputed there from the dataset with numpy, and checked equal to the feature cache here when packing:
graph hops (:func:`hops_from_bonds`), bond classes (:func:`bond_classes` of the graph's bonds: the dataset's atom
pairs, in the dataset's order, which nothing in training reads, with ``bond_type``) and atomic numbers. The prior factor ``R`` is recomputed with :func:`pipeline.prior.graph.prior_factor` (the same
function; column signs may differ between LAPACK builds, which changes nothing in distribution or loss).
Coordinates are read from the dataset itself (``data/train`` travels with the repository).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from pipeline.data.packed import sha256_file
from pipeline.train.data import MoleculeRecord
from pipeline.types import StageError

__all__ = [
    "BUNDLE_FORMAT", "BundleError", "Bundle", "hops_from_bonds", "bond_classes", "encode_records", "decode_records",
    "pack_bundle", "read_bundle", "check_dataset",
]

BUNDLE_FORMAT = "bondiff-gpu-bundle"
BUNDLE_VERSION = 1
FEATURES_FILE = "features.npz.xz"
CHECKPOINT_FILE = "checkpoint.pt"
META_FILE = "bundle.json"
_BOND_CLASS = {1: 1, 2: 2, 3: 3, 12: 4}  # RDKit BondType value -> pair_bond class (features._bond_class); others: 5


class BundleError(StageError):
    """A bundle cannot be packed or read (over its size budget, dataset changed, a feature not reproducible)."""


@dataclass
class Bundle:
    """What ``read_bundle`` returns: records, the resolved config/spec JSON, the checkpoint and the metadata."""

    train: list[MoleculeRecord]
    val: list[MoleculeRecord]
    config: dict[str, Any]
    spec: dict[str, Any]
    checkpoint: Path
    meta: dict[str, Any]


# -- features recomputed from the bonds (numpy only) ------------------------------------------------------
def hops_from_bonds(n: int, bonds: np.ndarray, max_hops: int) -> np.ndarray:
    """[n, n] int64 graph distance: 0 self, 1..max_hops, max_hops+1 farther, max_hops+2 another fragment
    (``featurize``'s ``pair_hops`` from RDKit's distance matrix)."""
    adj = np.zeros((n, n), dtype=bool)
    if len(bonds):
        adj[bonds[:, 0], bonds[:, 1]] = adj[bonds[:, 1], bonds[:, 0]] = True
    hops = np.full((n, n), max_hops + 1, dtype=np.int64)
    reach = np.eye(n, dtype=bool)
    hops[reach] = 0
    a = adj.astype(np.float32)  # float matmul (BLAS); only "> 0" is read
    for k in range(1, max_hops + 1):
        new = ((reach.astype(np.float32) @ a) > 0) & ~reach
        hops[new] = k
        reach |= new
    conn = reach | adj | np.eye(n, dtype=bool)  # connected components: square the reachability until it settles
    while True:
        c = conn.astype(np.float32)
        nxt = (c @ c) > 0
        if (nxt == conn).all():
            break
        conn = nxt
    hops[~conn] = max_hops + 2
    return hops


def bond_classes(n: int, bonds: np.ndarray) -> np.ndarray:
    """[n, n] int64 bond class of each pair (0 none, 1 single, 2 double, 3 triple, 4 aromatic, 5 other)."""
    out = np.zeros((n, n), dtype=np.int64)
    for i, j, t in np.asarray(bonds, dtype=np.int64).reshape(-1, 3).tolist():
        out[i, j] = out[j, i] = _BOND_CLASS.get(t, 5)
    return out


def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


# -- encode (CPU machine) / decode (GPU machine) ----------------------------------------------------------
def encode_records(records: Sequence[MoleculeRecord], max_hops: int) -> dict[str, np.ndarray]:
    """The compact arrays of ``records`` (module docstring); raises :class:`BundleError` when a feature that the
    GPU side recomputes from the bonds differs from the record's."""
    node_bits, chir, rank, stereo, lower, upper, btype = [], [], [], [], [], [], []
    for k, r in enumerate(records):
        g, n = r.graph, r.n_atoms
        bonds = np.asarray(r.bonds, dtype=np.int64).reshape(-1, 3)
        where = f"molecule {r.index} ({r.name})"
        graph_type = {(int(i), int(j)): int(t) for i, j, t in g.bonds.numpy().tolist()}
        pairs = [(int(i), int(j)) for i, j in bonds[:, :2].tolist()]
        if sorted(graph_type) != sorted(pairs):
            raise BundleError(f"{where}: the featurized graph's bonds join other atoms than the dataset's")
        types = np.array([graph_type[ij] for ij in pairs], dtype=np.int64)
        if types.size and types.max() > 255:
            raise BundleError(f"{where}: bond type {int(types.max())} does not fit the bundle's uint8")
        graph_bonds = np.concatenate([bonds[:, :2], types[:, None]], axis=1) if len(pairs) else bonds
        btype.append(types.astype(np.uint8))
        if not np.array_equal(g.pair_hops.numpy().reshape(n, n), hops_from_bonds(n, bonds, max_hops)):
            raise BundleError(f"{where}: graph hops from the dataset's bonds differ from the featurized ones")
        if not np.array_equal(g.pair_bond.numpy().reshape(n, n), bond_classes(n, graph_bonds)):
            raise BundleError(f"{where}: bond classes from the dataset's bonds differ from the featurized ones")
        x = g.x.numpy()
        if not np.isin(x, (0.0, 1.0)).all():
            raise BundleError(f"{where}: node features are not 0/1; the bundle bit-packs them")
        if n > 256 or int(g.canonical_rank.max()) > 255:
            raise BundleError(f"{where}: {n} atoms; the bundle stores canonical ranks as uint8 (max_atoms <= 256)")
        node_bits.append(np.packbits(x.astype(np.uint8), axis=1))
        chir.append(g.chirality.numpy().astype(np.int8))
        rank.append(g.canonical_rank.numpy().astype(np.uint8))
        st = g.pair_stereo.numpy().reshape(n, n)
        a, b = np.nonzero(np.triu(st, 1))
        stereo.append(np.stack([np.full(len(a), k), a, b, st[a, b]], axis=1))
        iu = _triu(n)
        lower.append(g.pair_lower.numpy().reshape(n, n)[iu].astype(np.float16))
        upper.append(g.pair_upper.numpy().reshape(n, n)[iu].astype(np.float16))
    return {
        "index": np.array([r.index for r in records], dtype=np.int32),
        "n_atoms": np.array([r.n_atoms for r in records], dtype=np.int32),
        "node_dim": np.array(int(records[0].graph.x.shape[1]) if records else 0),
        "node_bits": np.concatenate(node_bits) if records else np.zeros((0, 0), np.uint8),
        "chirality": np.concatenate(chir) if records else np.zeros(0, np.int8),
        "canonical_rank": np.concatenate(rank) if records else np.zeros(0, np.uint8),
        "stereo": np.concatenate(stereo).astype(np.int32).reshape(-1, 4) if records else np.zeros((0, 4), np.int32),
        "bond_type": np.concatenate(btype) if records else np.zeros(0, np.uint8),
        "lower": np.concatenate(lower) if records else np.zeros(0, np.float16),
        "upper": np.concatenate(upper) if records else np.zeros(0, np.float16),
    }


def decode_records(arrays: dict[str, np.ndarray], dataset, prior: dict[str, Any], max_hops: int) -> list[MoleculeRecord]:
    """Rebuild the records of ``arrays`` (from :func:`encode_records`) with coordinates and bonds from ``dataset``
    (a :class:`~pipeline.data.dataset.ConformerDataset`) and the prior factor from ``prior`` (PriorParams JSON)."""
    from torch_geometric.data import Data

    from pipeline.prior.graph import prior_factor

    node_dim = int(arrays["node_dim"])
    counts = arrays["n_atoms"].astype(np.int64)
    atom_off = np.concatenate([[0], np.cumsum(counts)])
    pair_off = np.concatenate([[0], np.cumsum(counts * (counts - 1) // 2)])
    stereo = arrays["stereo"]
    st_mol = stereo[:, 0] if len(stereo) else np.zeros(0, np.int32)
    st_off = np.searchsorted(st_mol, np.arange(len(counts) + 1))
    b0 = 0
    params = {k: prior[k] for k in ("c", "lam", "weighted", "kappa") if k in prior}
    records = []
    for k, idx in enumerate(arrays["index"].tolist()):
        view = dataset.molecule(idx)
        n = int(counts[k])
        if view.n_atoms != n:
            raise BundleError(f"{dataset.root}: molecule {idx} has {view.n_atoms} atoms, the bundle {n}: the dataset is not the one packed")
        a0, a1 = int(atom_off[k]), int(atom_off[k + 1])
        bonds = np.asarray(view.bonds, dtype=np.int64).reshape(-1, 3)
        graph_bonds = bonds.copy()
        graph_bonds[:, 2] = arrays["bond_type"][b0 : b0 + len(bonds)]
        b0 += len(bonds)
        iu = _triu(n)
        lower = np.zeros((n, n), np.float32)
        upper = np.zeros((n, n), np.float32)
        lower[iu] = arrays["lower"][pair_off[k] : pair_off[k + 1]]
        upper[iu] = arrays["upper"][pair_off[k] : pair_off[k + 1]]
        st = np.zeros((n, n), np.int64)
        for _, a, b, cls in stereo[st_off[k] : st_off[k + 1]].tolist():
            st[a, b] = st[b, a] = cls
        x = np.unpackbits(arrays["node_bits"][a0:a1], axis=1, count=node_dim).astype(np.float32)
        graph = Data(
            x=torch.from_numpy(x),
            chirality=torch.from_numpy(arrays["chirality"][a0:a1].astype(np.float32)),
            atomic_numbers=torch.from_numpy(np.asarray(view.atomic_numbers, dtype=np.int64)),
            canonical_rank=torch.from_numpy(arrays["canonical_rank"][a0:a1].astype(np.int64)),
            pair_hops=torch.from_numpy(hops_from_bonds(n, bonds, max_hops).reshape(-1)),
            pair_bond=torch.from_numpy(bond_classes(n, graph_bonds).reshape(-1)),
            pair_stereo=torch.from_numpy(st.reshape(-1)),
            pair_lower=torch.from_numpy((lower + lower.T).reshape(-1)),
            pair_upper=torch.from_numpy((upper + upper.T).reshape(-1)),
            bonds=torch.from_numpy(graph_bonds),
            num_bonds=torch.tensor([graph_bonds.shape[0]], dtype=torch.long),
            num_nodes=n,
        )
        R, d = prior_factor(n, bonds, lam_mode=prior.get("lam_mode", "identity"), **params)
        records.append(MoleculeRecord(idx, view.entry.name, graph, np.asarray(view.coords, dtype=np.float32), bonds, R, d))
    return records


def _npz_xz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return lzma.compress(buf.getvalue(), preset=6)


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{k}": v for k, v in arrays.items()}


def _dataset_identity(ds) -> dict[str, Any]:
    manifest = json.loads((Path(ds.root) / "manifest.json").read_text())
    parts = [{"file": p["file"], "sha256": p["sha256"]} for p in manifest.get("parts", [])]
    return {"path": str(ds.root), "digest": ds.digest, "parts": parts}


def check_dataset(ds, packed_from: dict[str, Any]) -> None:
    """The dataset is the one packed, or (packed format) it starts with the same parts: its positions still hold."""
    now = _dataset_identity(ds)
    if now["digest"] == packed_from["digest"]:
        return
    old = packed_from.get("parts") or []
    if old and now["parts"][: len(old)] == old:
        return
    raise BundleError(
        f"{ds.root}: dataset {now['digest']} is not the one the bundle was packed from ({packed_from['digest']}) "
        "and does not start with its parts: pack the bundle again"
    )


# -- pack (CPU machine: RDKit for the features, pydantic for the config) -----------------------------------
def pack_bundle(
    dataset_dir: Path,
    prior_dir: Path,
    checkpoint: Path,
    out: Path,
    max_bytes: int,
    seed: int = 0,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the bundle for resuming ``checkpoint`` on ``dataset_dir`` to ``out`` (atomically); returns its metadata.

    All training molecules when the bundle fits in ``max_bytes``; else a seeded random subset that does
    (the ``subset`` entry of the metadata says how many, of how many, with which seed).
    """
    from pipeline.atomic import write_dir_atomic
    from pipeline.model.precond import build_denoiser
    from pipeline.model.spec import ModelSpec
    from pipeline.prior.params import load_prior_params
    from pipeline.sanity import open_dataset
    from pipeline.train.cache import cached_records
    from pipeline.train.checkpoint import load_checkpoint
    from pipeline.train.config import TrainConfig
    from pipeline.train.evaluate import pick_validation

    state = load_checkpoint(checkpoint)
    cfg = TrainConfig.from_checkpoint_json(state["config"])
    spec = ModelSpec.model_validate_json(state["spec"])
    # the job resumes this state into this code's network: a mismatch must cost no device minute
    try:
        missing, unexpected = build_denoiser(spec).load_state_dict(state["model"], strict=False)
        why = [f"{len(k)} {w} weights ({k[0]}, ...)" for k, w in ((missing, "missing"), (unexpected, "unexpected")) if k]
    except RuntimeError as exc:  # same names, other shapes
        why = [str(exc).strip().splitlines()[-1].strip()]
    if why:
        raise BundleError(f"{checkpoint}: does not load into this code's {spec.net.kind} network ({'; '.join(why)}); the GPU job would fail")
    params = load_prior_params(prior_dir)
    if params.model_dump() != spec.prior.model_dump():
        raise BundleError(f"{prior_dir}: its prior parameters are not the checkpoint's ({checkpoint}); resume would refuse them")
    ds = open_dataset(dataset_dir, "gpu-pack")
    train_idx, val_idx = ds.split_indices(cfg.train_split), ds.split_indices(cfg.val_split)
    train, train_err = cached_records(ds, train_idx, spec.features, params, cfg.max_atoms, cache_dir)
    val, _ = cached_records(ds, val_idx, spec.features, params, cfg.max_atoms, cache_dir)
    val = pick_validation(val, cfg.eval.val_molecules, cfg.eval.val_pick)  # evaluation reads no more than these
    if not train:
        raise BundleError(f"{dataset_dir}: no usable training molecule")
    max_hops = spec.features.max_hops
    val_blob = _prefixed(encode_records(val, max_hops), "val_")
    train_arrays = encode_records(train, max_hops)
    room = max_bytes - checkpoint.stat().st_size  # for the features
    keep = np.arange(len(train))
    order = np.random.default_rng(seed).permutation(len(train))
    for _ in range(8):  # a smaller seeded subset until the compressed features fit
        sub = train_arrays if len(keep) == len(train) else encode_records([train[i] for i in keep], max_hops)
        blob = _npz_xz({**_prefixed(sub, "train_"), **val_blob})
        if len(blob) <= room:
            break
        n = int(len(keep) * 0.97 * max(room, 0) / len(blob))
        if n < 1:
            break
        keep = np.sort(order[:n])
    if len(blob) > room:
        raise BundleError(
            f"cannot fit a bundle in {max_bytes / 2**20:.2f} MiB: checkpoint {checkpoint.stat().st_size / 2**20:.2f} MiB, "
            f"features of {len(keep)} molecules {len(blob) / 2**20:.2f} MiB"
        )
    meta = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "dataset": _dataset_identity(ds),
        "prior": params.model_dump(mode="json") | {"lam_mode": params.lam_mode},
        "prior_dir": str(prior_dir),
        "checkpoint": {"source": str(checkpoint), "sha256": sha256_file(checkpoint), "step": int(state["step"])},
        # resolved again by this code: a checkpoint written by older code lacks newer fields (with their
        # defaults), and the GPU job reads the config without pydantic
        "config": cfg.model_dump(mode="json"),
        "spec": json.loads(state["spec"]),
        "subset": {
            "seed": seed, "train_molecules": int(len(keep)), "of_train_molecules": len(train),
            "val_molecules": len(val), "skipped": len(train_err),
        },
        "bytes": {"features": len(blob), "checkpoint": checkpoint.stat().st_size, "budget": max_bytes},
        "train_indices_sha256": hashlib.sha256(np.asarray([train[i].index for i in keep], np.int64).tobytes()).hexdigest(),
    }

    def build(tmp: Path) -> None:
        (tmp / FEATURES_FILE).write_bytes(blob)
        shutil.copyfile(checkpoint, tmp / CHECKPOINT_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")

    write_dir_atomic(out, build)
    return meta


# -- read (GPU machine: numpy + torch only) ---------------------------------------------------------------
def read_bundle(bundle_dir: Path, dataset_dir: Path | None = None) -> Bundle:
    """Records, config, spec and checkpoint of a bundle; coordinates from ``dataset_dir`` (default: where it was
    packed from, relative to the current directory when that was a relative path)."""
    from pipeline.data.dataset import ConformerDataset

    bundle_dir = Path(bundle_dir)
    meta_path = bundle_dir / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"{bundle_dir}: not a GPU bundle (no {META_FILE}; run `make gpu-pack` on the CPU machine)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != BUNDLE_FORMAT or meta.get("format_version") != BUNDLE_VERSION:
        raise BundleError(f"{meta_path}: format {meta.get('format')} v{meta.get('format_version')}, expected {BUNDLE_FORMAT} v{BUNDLE_VERSION}")
    ds = ConformerDataset(dataset_dir or meta["dataset"]["path"])
    check_dataset(ds, meta["dataset"])
    with np.load(io.BytesIO(lzma.decompress((bundle_dir / FEATURES_FILE).read_bytes())), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    max_hops = int(meta["spec"]["features"]["max_hops"])

    def part(prefix: str) -> list[MoleculeRecord]:
        sub = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        return decode_records(sub, ds, meta["prior"], max_hops)

    return Bundle(part("train_"), part("val_"), meta["config"], meta["spec"], bundle_dir / CHECKPOINT_FILE, meta)

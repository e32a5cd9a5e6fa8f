"""The packed training set: a directory of compressed, write-once parts that reads as one dataset.

Layout (e.g. ``data/train/`` in the repository)::

    manifest.json      format "bondiff-packed", the parts in order (file, sha256, size, counts,
                       the source dataset's hash and recipe), totals, dataset_hash
    <part>.npz         one packed conformer dataset each (QM9 part, drug-like shards, ...)

A part is written once and never rewritten: adding a shard adds one file and rewrites the small
manifest, so the repository grows by the new shard only. :class:`~pipeline.data.ConformerDataset`
reads such a directory directly (the parts concatenated in manifest order); every part's SHA-256
is checked against the manifest on read, and a mismatch is one :class:`PackError` naming the file.

Inside a part (``numpy.savez_compressed``, no pickles), with M molecules, A atoms, B bonds,
K conformers and C = conformer atom rows:

* ``coords_q``      uint8 [2, 3, C]: coordinates as little-endian int16 fixed point (1 unit =
  10⁻³ Å, each conformer centred), split into byte planes per axis (compresses ~12 % better
  than plain int16); |x| must stay below 32.767 Å, anything larger is refused when packing;
* ``atomic_numbers`` uint8 [A], ``formal_charges`` int8 [A], ``energies`` float64 [K];
* ``bonds`` uint8 or uint16 [B, 3] (the smallest type that holds the indices and bond types);
* ``atom_counts``, ``bond_counts``, ``conf_counts`` [M]: the offsets' differences;
* ``molecules_jsonl`` uint8 [bytes]: the molecule table, one JSON object per molecule (UTF-8).

Only numpy and the standard library are needed to read it (the GPU machine has no RDKit).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.atomic import write_file_atomic
from pipeline.types import StageError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "COORD_UNIT_A",
    "PackError",
    "is_packed",
    "pack_part",
    "read_parts",
    "write_manifest",
    "sha256_file",
]

FORMAT = "bondiff-packed"
FORMAT_VERSION = 1
COORD_UNIT_A = 1e-3  # one int16 step in Å
_QMAX = np.iinfo(np.int16).max


class PackError(StageError):
    """A packed dataset cannot be written or read (out-of-range coordinates, corrupt part, ...)."""


def is_packed(manifest: dict[str, Any]) -> bool:
    return manifest.get("format") == FORMAT


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _counts_dtype(values: np.ndarray, what: str) -> np.ndarray:
    top = int(values.max()) if values.size else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max and (values.size == 0 or int(values.min()) >= 0):
            return values.astype(dt)
    raise PackError(f"{what}: values out of range for packing ({top})")


def _quantize(coords: np.ndarray, where: str, names: Sequence[str], row_mol: np.ndarray) -> np.ndarray:
    """float Å [C, 3] -> uint8 byte planes [2, 3, C] of int16 in COORD_UNIT_A; refuses |x| > 32.767 Å."""
    q = np.rint(np.asarray(coords, dtype=np.float64) / COORD_UNIT_A)
    bad = np.nonzero(np.abs(q).max(axis=1) > _QMAX)[0] if q.size else []
    if len(bad):
        m = int(row_mol[bad[0]])
        raise PackError(
            f"{where}: molecule {names[m]!r} has a coordinate beyond ±{_QMAX * COORD_UNIT_A:.3f} Å after centring "
            f"({len(bad)} atom rows in all); the int16 format cannot hold it: drop it from the dataset"
        )
    planes = np.ascontiguousarray(q.astype("<i2").T)  # [3, C]
    return np.ascontiguousarray(planes.view(np.uint8).reshape(3, -1, 2).transpose(2, 0, 1))


def _dequantize(qb: np.ndarray) -> np.ndarray:
    planes = np.ascontiguousarray(qb.transpose(1, 2, 0)).view("<i2").reshape(3, -1)
    return (planes.T.astype(np.float32) * np.float32(COORD_UNIT_A)).astype(np.float32)


def pack_part(ds, keep: Sequence[int], path: str | Path) -> dict[str, Any]:
    """Write molecules ``keep`` of ``ds`` (a :class:`ConformerDataset`) to the part file ``path``
    (temp + rename); returns the part's manifest entry (without its place in the directory)."""
    path = Path(path)
    views = [ds.molecule(i) for i in keep]
    if not views:
        raise PackError(f"{ds.root}: no molecule to pack")
    entries = [v.entry for v in views]
    n_atoms = np.array([v.n_atoms for v in views], dtype=np.int64)
    n_conf = np.array([v.coords.shape[0] for v in views], dtype=np.int64)
    coords, row_mol = [], []
    for m, v in enumerate(views):
        c = np.asarray(v.coords, dtype=np.float64)
        c = c - c.mean(axis=1, keepdims=True)  # the dataset contract: centred conformers
        coords.append(c.reshape(-1, 3))
        row_mol.append(np.full(c.shape[0] * c.shape[1], m))
    names = [e.name for e in entries]
    table = "".join(json.dumps(asdict(e), sort_keys=True, ensure_ascii=False) + "\n" for e in entries).encode()
    bonds = np.concatenate([v.bonds for v in views]).astype(np.int64).reshape(-1, 3)
    arrays = {
        "coords_q": _quantize(np.concatenate(coords), str(ds.root), names, np.concatenate(row_mol)),
        "atomic_numbers": _counts_dtype(np.concatenate([v.atomic_numbers for v in views]).astype(np.int64), "atomic numbers"),
        "formal_charges": np.concatenate([v.formal_charges for v in views]).astype(np.int8),
        "energies": np.concatenate([np.asarray(v.energies, dtype=np.float64) for v in views]),
        "bonds": _counts_dtype(bonds, "bonds"),
        "atom_counts": _counts_dtype(n_atoms, "atom counts"),
        "bond_counts": _counts_dtype(np.array([v.bonds.shape[0] for v in views]), "bond counts"),
        "conf_counts": _counts_dtype(n_conf, "conformer counts"),
        "molecules_jsonl": np.frombuffer(table, dtype=np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:  # a file object: np.savez_compressed appends ".npz" to a name without it
            np.savez_compressed(fh, **arrays)

    write_file_atomic(path, write)
    splits: dict[str, int] = {}
    for e in entries:
        splits[e.split] = splits.get(e.split, 0) + 1
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "molecules": len(entries),
        "conformers": int(n_conf.sum()),
        "atoms": int(n_atoms.sum()),
        "splits": splits,
    }


def _offsets(sizes: np.ndarray) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
    return out


def _read_part(root: Path, part: dict[str, Any], verify: bool) -> dict[str, Any]:
    path = root / part["file"]
    if not path.is_file():
        raise PackError(f"{path}: part listed in {root / 'manifest.json'} is missing")
    raw = path.read_bytes()
    if verify:
        got = hashlib.sha256(raw).hexdigest()
        if got != part["sha256"]:
            raise PackError(
                f"{path}: content hash mismatch (manifest {part['sha256'][:16]}, file {got[:16]}): the file is "
                "corrupt or was changed; restore it (git checkout) or pack it again"
            )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arr = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise PackError(f"{path}: cannot read the packed part: {exc}") from None
    return arr


def read_parts(root: str | Path, manifest: dict[str, Any], verify: bool = True) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(molecule table rows, the dataset's flat arrays) of all parts of a packed directory, in order."""
    root = Path(root)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PackError(f"{root}: packed format version {manifest.get('format_version')} != {FORMAT_VERSION}")
    rows: list[dict] = []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("z", "q", "bonds", "coords", "energies", "na", "nb", "nk")}
    for part in manifest.get("parts", []):
        a = _read_part(root, part, verify)
        rows.extend(json.loads(line) for line in a["molecules_jsonl"].tobytes().decode().splitlines() if line.strip())
        cols["z"].append(a["atomic_numbers"].astype(np.int16))
        cols["q"].append(a["formal_charges"].astype(np.int8))
        cols["bonds"].append(a["bonds"].astype(np.int32).reshape(-1, 3))
        cols["coords"].append(_dequantize(a["coords_q"]))
        cols["energies"].append(a["energies"].astype(np.float64))
        cols["na"].append(a["atom_counts"].astype(np.int64))
        cols["nb"].append(a["bond_counts"].astype(np.int64))
        cols["nk"].append(a["conf_counts"].astype(np.int64))
    if not rows:
        raise PackError(f"{root}: packed dataset without molecules")
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    na, nk = cat["na"], cat["nk"]
    arrays = {
        "atomic_numbers": cat["z"],
        "formal_charges": cat["q"],
        "atom_offsets": _offsets(na),
        "bonds": cat["bonds"],
        "bond_offsets": _offsets(cat["nb"]),
        "coords": cat["coords"],
        "conf_offsets": _offsets(np.repeat(na, nk)),
        "mol_conf_offsets": _offsets(nk),
        "energies": cat["energies"],
    }
    if len(rows) != len(na) or arrays["conf_offsets"][-1] != len(arrays["coords"]):
        raise PackError(f"{root}: packed parts are inconsistent (molecule table vs arrays)")
    return rows, arrays


def write_manifest(root: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (temp + rename)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_file_atomic(root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return root / "manifest.json"

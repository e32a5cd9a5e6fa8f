"""Impossible geometry: one rule for ingest (reject the record), validate (fail a named check),
prior and train (refuse the dataset).

A conformer is physically impossible when

* a coordinate is not finite;
* two atoms (nearly) coincide: closer than :data:`MIN_DISTANCE` Å;
* an atom is absurdly far away: more than :data:`MAX_RADIUS` Å from the centroid, or (with two or
  more atoms) more than :data:`MAX_NEIGHBOUR` Å from every other atom. A counter-ion a few Å (even
  20 Å) from the rest is fine; an atom 10³⁰ Å away is a broken file, not a salt.

These are sanity bounds, not chemistry: bond lengths and clashes are judged by validate's checks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_DISTANCE", "MAX_RADIUS", "MAX_NEIGHBOUR", "MAX_BOND", "geometry_problem", "flat_2d", "dataset_geometry_problem", "open_dataset"]

MIN_DISTANCE = 0.2  # Å: no two nuclei are ever this close (H–H, the shortest bond, is 0.74 Å)
MAX_RADIUS = 250.0  # Å from the centroid
MAX_NEIGHBOUR = 50.0  # Å to the nearest other atom
MAX_BOND = 5.0  # Å: a bonded pair farther apart than this is no bond (dataset check)


def geometry_problem(xyz: np.ndarray) -> str | None:
    """Why the conformer ``xyz`` [N, 3] (Å) is impossible, or None. Atom numbers in the message are 1-based."""
    x = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    n = len(x)
    if n == 0:
        return None
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        return f"atom {int(np.argmax(bad)) + 1} has a non-finite coordinate"
    r = np.linalg.norm(x - x.mean(axis=0), axis=1)
    if r.max() > MAX_RADIUS:
        return f"atom {int(r.argmax()) + 1} is {r.max():.3g} Å from the centroid (absurd geometry; limit {MAX_RADIUS:g} Å)"
    if n < 2:
        return None
    i, j, d = _closest_pairs(x)
    k = int(np.argmin(d))
    if d[k] < MIN_DISTANCE:
        return f"atoms {i[k] + 1} and {j[k] + 1} are {d[k]:.3f} Å apart (coincident atoms; minimum {MIN_DISTANCE:g} Å)"
    far = int(np.argmax(d))
    if d[far] > MAX_NEIGHBOUR:
        return f"atom {far + 1} is {d[far]:.3g} Å from every other atom (absurd geometry; limit {MAX_NEIGHBOUR:g} Å)"
    return None


def flat_2d(xyz: np.ndarray, flagged_3d: bool = True) -> bool:
    """A 2D drawing rather than a conformer: flagged 2D, or more than three atoms all at z = 0."""
    x = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    return (not flagged_3d) or (len(x) > 3 and bool(np.allclose(x[:, 2], 0.0)))


def _closest_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) of each atom's nearest neighbour j."""
    if len(x) > 1000:
        from scipy.spatial import cKDTree

        d, idx = cKDTree(x).query(x, k=2)
        return np.arange(len(x)), idx[:, 1], d[:, 1]
    D = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    np.fill_diagonal(D, np.inf)
    j = D.argmin(axis=1)
    return np.arange(len(x)), j, D[np.arange(len(x)), j]


def dataset_geometry_problem(ds, limit: int = 3) -> str | None:
    """A one-line reason when a :class:`~pipeline.data.dataset.ConformerDataset` holds impossible
    conformers (non-finite or far-flung atoms, bonded atoms coinciding or > :data:`MAX_BOND` Å
    apart), naming up to ``limit`` molecules; None when it is sane. Vectorised over all conformers."""
    coords = np.asarray(ds.coords, dtype=np.float64)
    n_conf = int(ds.conf_offsets.shape[0] - 1)
    if n_conf == 0 or coords.size == 0:
        return None
    conf_off = np.asarray(ds.conf_offsets, dtype=np.int64)
    sizes = np.diff(conf_off)
    conf_of_atom = np.repeat(np.arange(n_conf), sizes)
    bad = np.zeros(n_conf, dtype=bool)
    finite = np.isfinite(coords).all(axis=1)
    bad[conf_of_atom[~finite]] = True
    safe = np.where(finite[:, None], coords, 0.0)
    centroid = np.add.reduceat(safe, conf_off[:-1], axis=0) / np.maximum(sizes, 1)[:, None]
    r = np.linalg.norm(safe - centroid[conf_of_atom], axis=1)
    bad[conf_of_atom[r > MAX_RADIUS]] = True
    # bonded pairs, per conformer: molecule m's bonds index its own atoms
    mol_conf = np.asarray(ds.mol_conf_offsets, dtype=np.int64)
    bond_off = np.asarray(ds.bond_offsets, dtype=np.int64)
    bonds = np.asarray(ds.bonds)
    conf_mol = np.repeat(np.arange(len(mol_conf) - 1), np.diff(mol_conf))
    nb = np.diff(bond_off)[conf_mol]  # bonds per conformer
    if nb.sum():
        conf_of_bond = np.repeat(np.arange(n_conf), nb)
        first_bond = np.repeat(bond_off[conf_mol], nb)
        k = np.arange(int(nb.sum())) - np.repeat(np.cumsum(nb) - nb, nb)
        b = bonds[first_bond + k]
        a0 = conf_off[conf_of_bond]
        d = np.linalg.norm(safe[a0 + b[:, 0]] - safe[a0 + b[:, 1]], axis=1)
        real = b[:, 0] != b[:, 1]  # a self-bond is a graph error the stages report per molecule
        bad[conf_of_bond[real & ((d < MIN_DISTANCE) | (d > MAX_BOND))]] = True
    if not bad.any():
        return None
    mols = sorted({int(m) for m in conf_mol[bad]})
    names = ", ".join(ds.entries[m].name for m in mols[:limit]) + (f" and {len(mols) - limit} more" if len(mols) > limit else "")
    return (f"{int(bad.sum())} conformer(s) of {len(mols)} molecule(s) have impossible geometry "
            f"(non-finite or far-flung atoms, bonded atoms < {MIN_DISTANCE:g} Å or > {MAX_BOND:g} Å apart): {names}; "
            "re-ingest the data with the current bondiff, which rejects such records")


def open_dataset(path, stage: str):
    """Open a dataset for ``stage`` (prior, train): a :class:`~pipeline.types.StageError` in one line
    when it is not readable (broken ``manifest.json`` or ``.npy``, arrays that do not fit together)
    or holds impossible geometry (:func:`dataset_geometry_problem`)."""
    from pathlib import Path

    from pipeline.data.dataset import ConformerDataset
    from pipeline.types import StageError

    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise StageError(f"{stage}: {path} is not a bondiff dataset (no manifest.json; run `bondiff ingest` first)")
    try:
        ds = ConformerDataset(path)
        n_mol = len(ds.entries)
        checks = {
            "atom_offsets": (len(ds.atom_offsets) == n_mol + 1 and int(ds.atom_offsets[-1]) == len(ds.atomic_numbers)),
            "formal_charges": len(ds.formal_charges) == len(ds.atomic_numbers),
            "bond_offsets": len(ds.bond_offsets) == n_mol + 1 and int(ds.bond_offsets[-1]) == len(ds.bonds),
            "mol_conf_offsets": len(ds.mol_conf_offsets) == n_mol + 1,
            "conf_offsets": int(ds.conf_offsets[-1]) == len(ds.coords) and len(ds.conf_offsets) == int(ds.mol_conf_offsets[-1]) + 1,
        }
        why = None if not all(checks.values()) else dataset_geometry_problem(ds)
    except Exception as exc:  # json, numpy and dataclass errors alike: the dataset is unreadable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"{stage}: {path} is not a readable bondiff dataset ({first}); re-run `bondiff ingest`") from None
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise StageError(f"{stage}: {path} is a damaged dataset ({', '.join(bad)} do not match the other arrays); re-run `bondiff ingest`")
    if why:
        raise StageError(f"{stage}: {path}: {why}")
    return ds

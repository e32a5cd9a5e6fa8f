"""Grouping by identity with one atom order per molecule; deterministic splits."""

from __future__ import annotations

import numpy as np

from pipeline.ingest.config import IngestConfig, SplitFractions
from pipeline.ingest.grouping import Grouper
from pipeline.ingest.perception import PerceptionOptions, perceive
from pipeline.ingest.splits import split_of
from pipeline.ingest.xyz import parse_xyz_text

from tests.helpers.ingest import embedded, mirrored, xyz_frame

OPTS = PerceptionOptions.from_config(IngestConfig())


def _conf(mol, conf_id=0, order=None, name="m", record="1"):
    (rec,) = list(parse_xyz_text(xyz_frame(mol, conf_id, order=order), f"{name}.xyz", name))
    rec.record = record
    return perceive(rec, OPTS)


def _dists(x):
    return np.linalg.norm(x[:, None] - x[None], axis=-1)


def test_conformers_listed_in_other_atom_orders_are_mapped_onto_the_first():
    mol = embedded("CC(=O)Nc1ccc(O)cc1", n_confs=3)
    n = mol.GetNumAtoms()
    perm = np.random.default_rng(3).permutation(n)
    g = Grouper().extend([_conf(mol, 0), _conf(mol, 1, order=perm, record="2"), _conf(mol, 2, record="3")])
    assert len(g) == 1 and not g.errors
    (grp,) = g.groups
    assert len(grp.coords) == 3
    # conformer 2 is the same geometry (same set of distances) ...
    ref = mol.GetConformer(1).GetPositions()
    assert np.allclose(np.sort(_dists(grp.coords[1]).ravel()), np.sort(_dists(ref).ravel()), atol=1e-4)
    # ... now in the first conformer's atom order (up to symmetry): every bond of the graph is a bond length
    i, j = grp.first.bonds[:, 0], grp.first.bonds[:, 1]
    for c in grp.coords:
        d = np.linalg.norm(c[i] - c[j], axis=1)
        assert d.min() > 0.9 and d.max() < 1.6
    assert not np.allclose(grp.coords[1], grp.coords[0])
    z = grp.first.atomic_numbers
    assert z.tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]


def test_different_molecules_and_enantiomers_are_different_groups():
    a = embedded("CN[C@@H](C)[C@H](O)c1ccccc1")
    g = Grouper().extend([_conf(a), _conf(mirrored(a), record="2"), _conf(embedded("CCO"), name="e")])
    assert len(g) == 3
    assert [grp.names for grp in g.groups] == [["m"], ["m"], ["e"]]


def test_split_is_deterministic_and_follows_fractions():
    ids = [f"C{'C' * i}O" for i in range(2000)]
    fr = SplitFractions(train=0.7, val=0.2, test=0.1)
    splits = [split_of(s, fr.train, fr.val, "salt") for s in ids]
    assert splits == [split_of(s, fr.train, fr.val, "salt") for s in ids]
    counts = {k: splits.count(k) / len(ids) for k in ("train", "val", "test")}
    assert abs(counts["train"] - 0.7) < 0.05 and abs(counts["val"] - 0.2) < 0.05 and abs(counts["test"] - 0.1) < 0.05
    other = [split_of(s, fr.train, fr.val, "another salt") for s in ids]
    assert other != splits


def test_split_fractions_must_sum_to_one():
    import pytest

    from pipeline.config import ConfigError, validate

    with pytest.raises(ConfigError, match="sum to 1"):
        validate(IngestConfig, {"splits": {"train": 0.5, "val": 0.1, "test": 0.1}})
    with pytest.raises(ConfigError, match="unknown element"):
        validate(IngestConfig, {"elements": ["C", "Qq"]})
    with pytest.raises(ConfigError, match="unknown key"):
        validate(IngestConfig, {"max_atom": 3})

"""The featurized-records cache round-trips exactly and is read without RDKit."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from pipeline.data.dataset import ConformerDataset  # noqa: E402
from pipeline.model.spec import FeatureConfig  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.cache import cached_records  # noqa: E402
from pipeline.train.toydata import make_toy_dataset  # noqa: E402


def test_cache_round_trip_without_rdkit(tmp_path, monkeypatch):
    ds = ConformerDataset(make_toy_dataset(tmp_path / "ds", ["CCO", "C[C@H](N)C(=O)O", "C/C=C/Cl"], n_confs=2, optimize=False))
    feats, params = FeatureConfig(), PriorParams()
    fresh, err1 = cached_records(ds, [0, 1, 2], feats, params, max_atoms=12, cache_dir=tmp_path / "cache")
    assert len(fresh) == 2 and len(err1) == 1 and "max_atoms" in err1[0].reason  # alanine (13 atoms) skipped, reported
    files = list((tmp_path / "cache").glob("records-*.npz"))
    assert len(files) == 1

    monkeypatch.setitem(sys.modules, "rdkit", None)  # a box without RDKit
    cached, err2 = cached_records(ds, [0, 1, 2], feats, params, max_atoms=12, cache_dir=tmp_path / "cache")
    assert [e.as_dict() for e in err2] == [e.as_dict() for e in err1]
    for a, b in zip(fresh, cached):
        assert (a.index, a.name) == (b.index, b.name)
        for key in ("x", "chirality", "atomic_numbers", "canonical_rank", "pair_hops", "pair_bond", "pair_stereo", "bonds", "num_bonds"):
            assert torch.equal(getattr(a.graph, key), getattr(b.graph, key)), key
        assert a.graph.num_nodes == b.graph.num_nodes
        for key in ("coords", "bonds", "R", "eigvals"):
            assert np.array_equal(getattr(a, key), getattr(b, key)), key
    # a different key (other prior) is not served from the stale file
    with pytest.raises(ImportError, match="feature cache"):
        cached_records(ds, [0, 1, 2], feats, PriorParams(c=3.0), max_atoms=12, cache_dir=tmp_path / "cache")

"""The network registry: typed net sections tagged by kind, old specs and configs still load, one build_net."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from pipeline.model.registry import build_net, net_kinds
from pipeline.model.spec import E3nnNetConfig, ModelSpec, PairNetConfig, net_preset

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "shipped_model_golden.npz"


def test_a_spec_without_kind_is_an_e3nn_spec():
    from pipeline.model.io import V1_MODEL_DIR

    text = (V1_MODEL_DIR / "spec.json").read_text()
    assert '"kind"' not in text  # written before the registry
    spec = ModelSpec.model_validate_json(text)
    assert isinstance(spec.net, E3nnNetConfig) and spec.net.num_layers == 3


def test_kind_selects_the_config_class_and_presets_fill_missing_keys():
    spec = ModelSpec.model_validate({"net": {"kind": "pairnet", "preset": "tiny", "channels": 24}})
    assert isinstance(spec.net, PairNetConfig)
    assert spec.net.channels == 24  # explicit key wins
    assert spec.net.num_layers == PairNetConfig._PRESETS["tiny"]["num_layers"]
    assert spec.features.dg_bounds  # the pair network reads the DG bounds: switched on with it
    with pytest.raises(ValidationError, match="scalars"):
        ModelSpec.model_validate({"net": {"kind": "pairnet", "scalars": 8}})  # an e3nn key in a pairnet section
    with pytest.raises(ValidationError):
        ModelSpec.model_validate({"net": {"kind": "transformer"}})
    with pytest.raises(ValidationError, match="unknown preset"):
        ModelSpec.model_validate({"net": {"kind": "e3nn", "preset": "huge"}})
    with pytest.raises(ValueError, match="unknown network kind"):
        net_preset("tiny", kind="nope")


def test_spec_round_trips_through_json_for_every_kind():
    for kind in net_kinds():
        spec = ModelSpec(size="custom", net=net_preset("tiny", kind=kind))
        again = ModelSpec.model_validate_json(spec.model_dump_json())
        assert again == spec and again.net.kind == kind


def test_build_net_builds_every_kind():
    for kind in net_kinds():
        net = build_net(ModelSpec(size="custom", net=net_preset("tiny", kind=kind)))
        assert sum(p.numel() for p in net.parameters()) > 0


def test_legacy_train_config_size_overrides_means_e3nn():
    from pipeline.train.config import ModelConfig

    cfg = ModelConfig.model_validate({"size": "base", "overrides": {"num_layers": 3, "scalars": 32}})
    assert cfg.net.kind == "e3nn" and cfg.net.num_layers == 3 and cfg.net.scalars == 32
    assert cfg.net.vectors == E3nnNetConfig._PRESETS["base"]["vectors"]
    with pytest.raises(ValidationError, match="not both"):
        ModelConfig.model_validate({"size": "base", "net": {"kind": "pairnet"}})
    with pytest.raises(ValidationError, match="num_layer"):
        ModelConfig.model_validate({"net": {"kind": "pairnet", "num_layer": 3}})  # typo: a typed section rejects it


def test_v1_model_gives_the_same_numbers_as_before_the_registry():
    """Output of the first shipped model (e3nn, now model_v1) on fixed inputs, recorded with the code before the registry existed."""
    pytest.importorskip("rdkit")
    from rdkit import Chem
    from torch_geometric.data import Batch

    from pipeline.model.features import featurize
    from pipeline.model.io import V1_MODEL_DIR, load_denoiser

    ref = np.load(GOLDEN)
    model, spec = load_denoiser(V1_MODEL_DIR)
    model = model.double()
    graph = Batch.from_data_list([featurize(Chem.AddHs(Chem.MolFromSmiles(str(s))), spec.features) for s in ref["smiles"]])
    x, t = torch.from_numpy(ref["x"]), torch.from_numpy(ref["t"])
    with torch.no_grad():
        out = model(x, t, graph)
    assert np.abs(out.numpy() - ref["out"]).max() < 1e-6

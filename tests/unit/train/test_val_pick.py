"""Which validation molecules a run evaluates (``eval.val_pick``) and revalidate's evenly spaced set."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from pipeline.train.config import TrainConfig  # noqa: E402
from pipeline.train.evaluate import evenly_spaced, pick_validation  # noqa: E402


@pytest.mark.parametrize("length,n", [(10, 3), (1000, 128), (129, 128), (7, 2), (50, 1)])
def test_evenly_spaced_spans_the_sequence_in_order(length, n):
    items = list(range(length))
    got = evenly_spaced(items, n)
    assert len(got) == n and got == sorted(set(got))
    if n > 1:
        assert got[0] == 0 and got[-1] == length - 1  # both ends of a packed set's parts
        gaps = [b - a for a, b in zip(got, got[1:])]
        assert max(gaps) - min(gaps) <= 1  # even, not clustered at the start


def test_evenly_spaced_reaches_every_part_of_a_packed_split():
    parts = ["qm9"] * 900 + ["drugs"] * 100  # a packed set lists its parts in order
    assert set(evenly_spaced(parts, 20)) == {"qm9", "drugs"}
    assert set(pick_validation(parts, 20, "first")) == {"qm9"}
    assert pick_validation(parts, 20, "spaced").count("drugs") == 2


def test_short_sequences_are_kept_whole_and_bad_arguments_refused():
    assert evenly_spaced([3, 1, 2], 8) == [3, 1, 2]
    assert pick_validation([3, 1, 2], 8, "spaced") == [3, 1, 2]
    with pytest.raises(ValueError, match="n must be"):
        evenly_spaced([1, 2], 0)
    with pytest.raises(ValueError, match="val_pick"):
        pick_validation([1, 2], 1, "random")


def test_default_is_spaced_and_old_checkpoint_configs_keep_their_first_molecules():
    assert TrainConfig().eval.val_pick == "spaced"
    old = json.loads(TrainConfig().model_dump_json())
    del old["eval"]["val_pick"]  # saved before the key existed
    assert TrainConfig.from_checkpoint_json(json.dumps(old)).eval.val_pick == "first"
    new = TrainConfig.model_validate({"eval": {"val_pick": "spaced"}}).model_dump_json()
    assert TrainConfig.from_checkpoint_json(new).eval.val_pick == "spaced"


def test_campaign_configs_keep_their_continuous_curves():
    from pathlib import Path

    from pipeline.config import load_config

    root = Path(__file__).resolve().parents[3] / "configs"
    for name in ("train_v2.yaml", "train_v3.yaml"):
        assert load_config(TrainConfig, root / name).eval.val_pick == "first", name

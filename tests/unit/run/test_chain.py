"""The chain's cache, --force/--from, lineage and failure handling, on fast fake stages.

The stage functions are replaced by tiny ones that write files (the real chain is exercised in
tests/integration/test_run_pipeline.py); tracking is a real MLflow SQLite store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.run.config import PipelineConfig
from pipeline.run.stages import StageContext, StageSpec
from pipeline.run.chain import PipelineFailed, plan_force, run_pipeline
from pipeline.types import StageResult

CALLS: list[str] = []
FAIL: set[str] = set()


def _fake(name: str, reads: str | None):
    def call(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
        CALLS.append(name)
        if name in FAIL:
            (ctx.out_dir / "half-written.txt").write_text("partial")
            raise RuntimeError(f"{name} broke on purpose")
        src = ctx.upstream[reads].path("out").read_text() if reads else Path(cfg.inputs.paths[0]).read_text()
        out = ctx.out_dir / f"{name}.txt"
        out.write_text(f"{src}|{name}:{getattr(cfg.section(name), 'seed', '-')}")
        ctx.logger.log_metrics({"progress": 1.0}, step=1)
        return StageResult(name, outputs={"out": out}, metrics={"n": 1.0}, artifacts=[out])

    return call


def _input_key(cfg, up):
    from pipeline.hashing import path_hash

    return [path_hash(p) for p in cfg.inputs.paths]


SPECS = (
    StageSpec("ingest", (), _fake("ingest", None), _input_key),
    StageSpec("prior", ("ingest",), _fake("prior", "ingest")),
    StageSpec("train", ("ingest", "prior"), _fake("train", "prior")),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory, new_mlflow_store):
    """One SQLite store for the module; each test has its own experiment."""
    import mlflow

    uri = new_mlflow_store(tmp_path_factory.mktemp("store"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def setup(store, tmp_path, request):
    CALLS.clear()
    FAIL.clear()
    data = tmp_path / "input.txt"
    data.write_text("molecules")
    cfg = PipelineConfig(
        name="fake", workdir=tmp_path / "work", stages=["ingest", "prior", "train"], inputs={"paths": [data]},
        train={"register_model": False}, tracking={"experiment": request.node.name},
    ).resolved(tmp_path)
    return cfg, data


def _run(cfg, **kw):
    return run_pipeline(cfg, base_dir=cfg.workdir.parent, specs=SPECS, **kw)


def _runs(parent_id):
    import mlflow

    df = mlflow.search_runs(search_all_experiments=True, filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return {r["tags.stage"]: r for _, r in df.iterrows()}


def test_first_run_tracks_every_stage_with_lineage(setup):
    import mlflow

    cfg, _ = setup
    out = _run(cfg)
    assert CALLS == ["ingest", "prior", "train"]
    assert Path(out.records["train"].outputs["out"]).read_text() == "molecules|ingest:-|prior:0|train:0"
    parent = mlflow.get_run(out.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["prior.seed"] == "0"  # the resolved config is logged on the parent
    runs = _runs(out.parent_run_id)
    assert set(runs) == {"ingest", "prior", "train"}
    assert all(r["status"] == "FINISHED" for r in runs.values())
    assert runs["train"]["tags.upstream.prior"] == runs["prior"]["run_id"]
    assert runs["train"]["tags.upstream.ingest"] == runs["ingest"]["run_id"]
    assert runs["prior"]["tags.upstream.ingest"] == runs["ingest"]["run_id"]
    # outputs are committed to <workdir>/<stage>/<key>/, no temp dirs left behind
    for stage, rec in out.records.items():
        assert Path(rec.outputs["out"]).parent == cfg.workdir / stage / rec.key
        assert not [p for p in (cfg.workdir / stage).iterdir() if p.name.startswith(".")]


def test_second_run_reuses_everything(setup):
    import mlflow

    cfg, _ = setup
    first = _run(cfg)
    CALLS.clear()
    second = _run(cfg)
    assert CALLS == []
    assert second.reused == ["ingest", "prior", "train"]
    runs = _runs(second.parent_run_id)
    assert {s: r["tags.reused"] for s, r in runs.items()} == {"ingest": "true", "prior": "true", "train": "true"}
    assert runs["train"]["tags.reused_from"] == first.records["train"].run_id
    # lineage of a reused stage points at the runs that produced the outputs
    assert runs["train"]["tags.upstream.prior"] == first.records["prior"].run_id
    assert mlflow.get_run(second.parent_run_id).data.metrics["stages_reused"] == 3.0


def test_config_or_input_change_reruns_only_what_depends_on_it(setup):
    cfg, data = setup
    _run(cfg)
    CALLS.clear()
    _run(cfg.model_copy(update={"prior": cfg.prior.model_copy(update={"seed": 7})}))
    assert CALLS == ["prior", "train"]
    CALLS.clear()
    data.write_text("other molecules")  # same path, new content: the cache is keyed by content
    out = _run(cfg)
    assert CALLS == ["ingest", "prior", "train"]
    assert Path(out.records["train"].outputs["out"]).read_text().startswith("other molecules|")


def test_from_and_force(setup):
    cfg, _ = setup
    _run(cfg)
    CALLS.clear()
    out = _run(cfg, from_stage="prior")
    assert CALLS == ["prior", "train"] and out.reused == ["ingest"]
    CALLS.clear()
    _run(cfg, force=True)
    assert CALLS == ["ingest", "prior", "train"]
    assert plan_force(["ingest", "prior", "train"], from_stage="train") == {"ingest": False, "prior": False, "train": True}
    with pytest.raises(ValueError, match="--from sample"):
        plan_force(["ingest", "prior"], from_stage="sample")


def test_tampered_output_is_rebuilt(setup):
    cfg, _ = setup
    first = _run(cfg)
    Path(first.records["prior"].outputs["out"]).write_text("edited by hand")
    CALLS.clear()
    out = _run(cfg)
    # prior is rebuilt; its new output has the same content as before, so train (keyed by content) is reused
    assert CALLS == ["prior"] and out.reused == ["ingest", "train"]
    assert Path(out.records["prior"].outputs["out"]).read_text() == "molecules|ingest:-|prior:0"


def test_failure_marks_parent_failed_and_keeps_earlier_outputs(setup):
    import mlflow

    cfg, _ = setup
    good = _run(cfg)
    good_train = Path(good.records["train"].outputs["out"])
    FAIL.add("train")
    CALLS.clear()
    with pytest.raises(PipelineFailed) as info:
        _run(cfg, from_stage="train")
    exc = info.value
    assert exc.stage == "train" and "broke on purpose" in exc.reason
    parent = mlflow.get_run(exc.parent_run_id)
    assert parent.info.status == "FAILED"
    assert "broke on purpose" in parent.data.tags["failure_reason"]
    runs = _runs(exc.parent_run_id)
    assert runs["train"]["status"] == "FAILED" and "broke on purpose" in runs["train"]["tags.failure_reason"]
    assert runs["prior"]["status"] == "FINISHED"
    # the earlier good output of the failing stage and everything upstream is untouched
    assert good_train.read_text() == "molecules|ingest:-|prior:0|train:0"
    assert Path(good.records["prior"].outputs["out"]).exists()
    assert not list(cfg.workdir.rglob("half-written.txt"))
    # fixed: the re-run reuses what finished
    FAIL.clear()
    CALLS.clear()
    again = _run(cfg)
    assert CALLS == [] and again.reused == ["ingest", "prior", "train"]


def test_failure_on_a_fresh_workdir_keeps_finished_stages(setup):
    cfg, _ = setup
    FAIL.add("prior")
    with pytest.raises(PipelineFailed) as info:
        _run(cfg)
    assert list(info.value.completed) == ["ingest"]
    assert Path(info.value.completed["ingest"].outputs["out"]).exists()
    FAIL.clear()
    CALLS.clear()
    out = _run(cfg)
    assert CALLS == ["prior", "train"] and out.reused == ["ingest"]

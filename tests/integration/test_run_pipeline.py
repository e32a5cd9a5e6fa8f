"""``bondiff run`` end to end on tiny shipped data (40 QM9 molecules, a tiny model, a few steps)
with a temporary MLflow store: every stage tracked as a child of one parent run with lineage, the
SDF and the report written, a second run reusing everything, ``--from``, and a failing stage.

One chain run is shared by the module (it is the expensive part); the other tests re-run only what
they need.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from pipeline.cli import main

from tests.integration.run_helpers import STAGES, tiny_config

pytestmark = pytest.mark.slow  # the module's chain runs every stage twice


def _bondiff(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["run", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _children(parent_id: str) -> dict:
    import mlflow

    df = mlflow.search_runs(search_all_experiments=True, filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return {r["tags.stage"]: r for _, r in df.iterrows()}


def _parents() -> list:
    import mlflow

    df = mlflow.search_runs(search_all_experiments=True, filter_string="tags.kind = 'pipeline'", order_by=["start_time ASC"])
    return list(df.itertuples())


@pytest.fixture(scope="module")
def chain(tmp_path_factory, new_mlflow_store):
    """Run the tiny chain twice (second = all reused) with a module-wide MLflow store and cwd."""
    import mlflow

    root = tmp_path_factory.mktemp("chain")
    cfg = tiny_config(root)
    uri = new_mlflow_store(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        runs = []
        for _ in range(2):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(["run", str(cfg)])
            runs.append((rc, out.getvalue(), err.getvalue()))
        yield {"root": root, "cfg": cfg, "runs": runs}
        while mlflow.active_run() is not None:
            mlflow.end_run()


def test_first_run_tracks_six_stages_and_writes_outputs(chain):
    import mlflow

    rc, out, err = chain["runs"][0]
    assert rc == 0, err
    parent = _parents()[0]
    assert parent.status == "FINISHED"
    kids = _children(parent.run_id)
    assert set(kids) == set(STAGES)
    assert all(k["status"] == "FINISHED" and k["tags.reused"] == "false" for k in kids.values())
    # lineage: every stage points at the runs that produced its inputs
    assert kids["prior"]["tags.upstream.ingest"] == kids["ingest"]["run_id"]
    assert kids["train"]["tags.upstream.prior"] == kids["prior"]["run_id"]
    assert kids["sample"]["tags.upstream.train"] == kids["train"]["run_id"]
    assert kids["validate"]["tags.upstream.sample"] == kids["sample"]["run_id"]
    assert kids["export"]["tags.upstream.validate"] == kids["validate"]["run_id"]
    # the resolved config is on the parent; the stage config on each child
    p = mlflow.get_run(parent.run_id)
    assert p.data.params["train.max_steps"] == "3" and p.data.params["name"] == "tiny"
    assert mlflow.get_run(kids["train"]["run_id"]).data.params["max_steps"] == "3"
    # what the user gets: SDF with properties, the report, where the store is and how to open the UI
    sdf = Path(p.data.tags["output.export.sdf"])
    text = sdf.read_text()
    assert text.count("$$$$") >= 1 and "<SMILES>" in text and "<valid>" in text
    report_dir = Path(p.data.tags["output.validate.report_dir"])
    assert (report_dir / "report.html").is_file()
    assert str(sdf.relative_to(chain["root"])) in out
    assert "report.html" in out and "mlflow.db" in out and "bondiff ui" in out
    # the trained model was registered
    versions = mlflow.MlflowClient().search_model_versions("name='bondiff-denoiser'")
    assert [v.run_id for v in versions] == [kids["train"]["run_id"]]


def test_second_run_reuses_every_stage(chain):
    rc, out, err = chain["runs"][1]
    assert rc == 0, err
    second = _parents()[1]
    kids = _children(second.run_id)
    assert {s: k["tags.reused"] for s, k in kids.items()} == {s: "true" for s in STAGES}
    first_kids = _children(_parents()[0].run_id)
    assert kids["sample"]["tags.reused_from"] == first_kids["sample"]["run_id"]
    assert "6 reused" in out


def test_from_sample_reruns_only_the_tail(chain, capsys):
    rc, out, err = _bondiff(capsys, str(chain["cfg"]), "--from", "sample")
    assert rc == 0, err
    kids = _children(_parents()[-1].run_id)
    assert {s: k["tags.reused"] for s, k in kids.items()} == {
        "ingest": "true", "prior": "true", "train": "true", "sample": "false", "validate": "false", "export": "false"
    }


def test_failing_stage_marks_parent_failed_and_keeps_outputs(chain, capsys):
    import mlflow

    work = chain["root"] / "work"
    before = {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    rc, out, err = _bondiff(capsys, str(chain["cfg"]), "--set", "export.sdf_name=missing.sdf")
    assert rc == 1
    assert "stage export FAILED" in err and "missing.sdf" in err
    parent = _parents()[-1]
    assert parent.status == "FAILED"
    assert "missing.sdf" in mlflow.get_run(parent.run_id).data.tags["failure_reason"]
    kids = _children(parent.run_id)
    assert kids["export"]["status"] == "FAILED"
    assert all(kids[s]["status"] == "FINISHED" for s in STAGES[:-1])
    # nothing that existed was touched or removed, and no temporary directory was left behind
    after = {str(p.relative_to(work)): p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k in before} == before
    assert not [p for p in (work / "export").iterdir() if ".tmp-" in p.name]

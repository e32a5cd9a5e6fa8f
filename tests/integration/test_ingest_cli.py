"""`bondiff ingest` end to end: the shipped Hutchison set (tracked in a temporary MLflow store)."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.cli import main


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_hutchison_dev_full_ingest_tracked_then_cached(data_dir, tmp_path, mlflow_store, capsys):
    import mlflow

    out = tmp_path / "hutchison"
    rc, stdout, _ = _run(["ingest", str(data_dir / "hutchison_dev"), "--out", str(out)], capsys)
    assert rc == 0, stdout
    assert "194 molecules, 1929 conformers" in stdout and "0 errors" in stdout
    mf = json.loads((out / "manifest.json").read_text())
    assert mf["counts"]["molecules"] == 194 and mf["counts"]["conformers"] == 1929 and mf["errors"] == []
    runs = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")
    (run,) = runs
    assert run.data.tags["stage"] == "ingest" and run.data.tags["reused"] == "false"
    assert run.data.metrics["conformers"] == 1929 and run.data.metrics["errors"] == 0
    assert run.data.params["max_atoms"] == "200"

    # same content in another folder -> cache hit (the cache is keyed by content, not by path)
    src = shutil.copytree(data_dir / "hutchison_dev", tmp_path / "copy" / "hutchison_dev")
    rc, stdout, _ = _run(["ingest", str(src), "--out", str(out), "--no-track"], capsys)
    assert rc == 0 and "reused cached dataset" in stdout and "194 molecules, 1929 conformers" in stdout


def test_no_good_record_exits_non_zero_with_one_line(tmp_path, capsys):
    (tmp_path / "bad.xyz").write_text("3\nbroken\nC 0 0 0\n")
    rc, stdout, stderr = _run(["ingest", str(tmp_path / "bad.xyz"), str(tmp_path / "gone.sdf"), "--out", str(tmp_path / "o"), "--no-track"], capsys)
    assert rc == 1
    lines = stderr.strip().splitlines()
    # one summary line, then every record error (nothing was written that would list them)
    assert len(lines) == 3 and "no good record in 2 records" in lines[0] and "bad.xyz" in lines[0]
    assert "bad.xyz [record 1]" in lines[1] and "gone.sdf [record -]: no such file" in lines[2]
    assert not (tmp_path / "o").exists()


def test_usage_errors_and_help(tmp_path, capsys):
    rc, _, stderr = _run(["ingest", "--limit", "5", "x.xyz", "--out", str(tmp_path / "o"), "--no-track"], capsys)
    assert rc == 2 and "--qm9" in stderr
    rc, _, stderr = _run(["ingest", "--out", str(tmp_path / "o"), "--no-track", "--set", "max_atomz=3", "x.xyz"], capsys)
    assert rc == 2 and "max_atomz" in stderr
    for argv, msg in ((["--sample", "5", "x.xyz"], "--qm9"), (["--qm9", "--seed", "1"], "--seed applies to --sample"),
                      (["--qm9", "--sample", "5", "--limit", "5"], "exclude each other"), (["--qm9", "--sample", "0"], "--sample must be >= 1")):
        rc, _, stderr = _run(["ingest", *argv, "--out", str(tmp_path / "o"), "--no-track"], capsys)
        assert rc == 2 and msg in stderr
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    assert "bondiff ingest --qm9 --limit" in capsys.readouterr().out


@pytest.mark.qm9
def test_qm9pack_limit_from_the_cli(tmp_path, capsys):
    out = tmp_path / "qm9"
    rc, stdout, _ = _run(["ingest", "--qm9", "--limit", "20", "--out", str(out), "--no-track"], capsys)
    assert rc == 0 and "20 records" in stdout
    mf = json.loads((out / "manifest.json").read_text())
    assert mf["counts"]["records"] == 20 and mf["config"]["qm9_limit"] == 20
    assert mf["counts"]["conformers"] + mf["counts"]["errors"] == 20

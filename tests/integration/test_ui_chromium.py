"""``bondiff ui`` end to end: start it on a free port over a store with a pipeline run, open the UI
in headless Debian Chromium (Playwright drives ``/usr/bin/chromium``), check the experiment, the
parent run and every stage run are shown, then stop it with Ctrl-C (SIGINT) and check the whole
server process group is gone.

Chromium is installed with apt-get when missing (as root); the test skips, saying why, when it
cannot be installed or Playwright is not available.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration import _chromium

STAGES = ["ingest", "prior", "train", "sample", "validate", "export"]
EXPERIMENT = "bondiff-ui-test"


def _terminal_signals() -> None:
    """SIGINT as in a terminal, whatever started pytest: a shell without job control starts
    background jobs with SIGINT ignored, the child would inherit that and Ctrl-C would never reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"bondiff ui exited early with status {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _group_members(pgid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(d.name))
    return pids


def _states(pids: list[int]) -> str:
    """'pid: state wchan' for each process (what a hung process waits on), for failure messages."""
    out = []
    for pid in pids:
        try:
            state = (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() or ["?"])[0]
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            state, wchan = "gone", ""
        out.append(f"{pid}: {state} {wchan}".strip())
    return "processes " + ", ".join(out)


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


@pytest.fixture(scope="module")
def store_with_runs(tmp_path_factory, new_mlflow_store):
    """A SQLite store holding one pipeline parent run with a child run per stage."""
    import mlflow

    from pipeline.tracking import parent_run, track_stage
    from pipeline.types import StageResult

    root = tmp_path_factory.mktemp("ui-store")
    uri = new_mlflow_store(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        with parent_run("ui-test-pipeline", config={"name": "ui-test"}, tracking_uri=uri, experiment=EXPERIMENT, workdir=root) as run:
            ids = {}
            for stage in STAGES:
                _, ids[stage] = track_stage(stage, {"stage": stage}, lambda s=stage: StageResult(s, metrics={"x": 1.0}))
        exp_id = run.info.experiment_id
    mlflow.set_tracking_uri(None)
    return root, uri, exp_id


@pytest.mark.slow
def test_ui_shows_experiment_and_stage_runs(store_with_runs, tmp_path):
    chromium = _chromium.ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (extra `dev`) drives Chromium")
    root, uri, exp_id = store_with_runs
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # output to a file, not a pipe: nobody reads a pipe while the test runs, and a full pipe would
    # block the server's logging and bondiff's own last line
    log = tmp_path / "ui.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "ui", "--port", str(port), "--tracking-uri", uri, "--workdir", str(root)],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=_terminal_signals,
        )
    server_pgid = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", proc, log)
        kids = _children(proc.pid)
        assert kids, "bondiff ui should run mlflow server as a child process"
        server_pgid = os.getpgid(kids[0])
        assert server_pgid != os.getpgid(proc.pid), "the server gets its own process group"
        assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in Path(f"/proc/{kids[0]}/environ").read_bytes().replace(b"\0", b"\n").decode()

        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=_chromium.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs")
            parent_row = page.get_by_role("row").filter(has_text="ui-test-pipeline").first
            parent_row.wait_for(timeout=60_000)
            assert EXPERIMENT in page.inner_text("body")
            # child runs are folded under the parent: unfold them
            parent_row.locator('[col-id="attributes.`Run Name`"] button').first.click()
            page.get_by_role("row").filter(has_text="validate").first.wait_for(timeout=30_000)
            rows = page.get_by_role("row").all_inner_texts()
            browser.close()
        shown = {s for s in STAGES for r in rows if s in r.split("\n")}
        assert shown == set(STAGES), f"stage runs shown: {sorted(shown)}; rows: {rows}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            states = _states([proc.pid, *(_group_members(server_pgid) if server_pgid else [])])
            proc.kill()
            raise AssertionError(f"bondiff ui did not stop within 30 s of SIGINT; {states}; output:\n{log.read_text()[-3000:]}")
    assert rc == 0, log.read_text()[-2000:]
    time.sleep(0.5)
    assert server_pgid is not None and _group_members(server_pgid) == [], "server processes left behind"

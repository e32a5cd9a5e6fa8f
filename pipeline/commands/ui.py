"""``bondiff ui``: the MLflow UI on the project's tracking store (docs/design.md §4).

Starts ``mlflow server`` on 127.0.0.1 (by default) over the same store ``bondiff`` logs to
(``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else ``<workdir>/mlflow.db``) with artifacts in
``<workdir>/mlartifacts``. The server runs in its own process group with
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`` (otherwise it leaves job workers behind); Ctrl-C or
SIGTERM stops the whole group: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from pipeline.commands._common import UserError, add_subcommand
from pipeline.tracking import runs_page

__all__ = ["register", "server_command", "server_env", "start_server", "stop_server", "ui_hint", "bondiff_command"]

EXAMPLES = """\
  bondiff ui                                  # http://127.0.0.1:5000 on ./mlflow.db
  bondiff ui --port 5001
  bondiff ui --tracking-uri sqlite:///bondiff-work/mlflow.db --workdir bondiff-work
  ssh -L 5000:127.0.0.1:5000 gpu-box 'cd bondiff && .venv/bin/bondiff ui'   # from a laptop
"""

GRACE_SECONDS = 10.0


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    p = add_subcommand(sub, name, help_text, _handler, examples=EXAMPLES)
    p.add_argument("--port", type=int, default=5000, help="port to listen on (default: 5000)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)")
    p.add_argument(
        "--tracking-uri", default=None, help="MLflow store to show (default: $MLFLOW_TRACKING_URI or <workdir>/mlflow.db)"
    )
    p.add_argument("--workdir", default=".", help="directory holding mlflow.db and mlartifacts/ (default: .)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (default: 1)")


def server_command(
    tracking_uri: str, artifact_root: str, host: str = "127.0.0.1", port: int = 5000, workers: int = 1
) -> list[str]:
    """The ``mlflow server`` command line (run with this interpreter, so the venv's MLflow is used)."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--default-artifact-root",
        artifact_root,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the server: job execution off (no stray worker processes)."""
    env = dict(os.environ if base is None else base)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return env


def start_server(cmd: Sequence[str], env: dict[str, str] | None = None, **popen_kw) -> subprocess.Popen:
    """Start the server in a new session (its own process group) so it can be stopped as a whole."""
    return subprocess.Popen(list(cmd), env=server_env(env), start_new_session=True, **popen_kw)


def stop_server(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> int:
    """Terminate the server's whole process group (SIGTERM, then SIGKILL after ``grace`` s)."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    # workers that outlived the leader are still in the group
    _signal_group(proc, signal.SIGKILL)
    return proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # pgid == pid: start_new_session=True
    except ProcessLookupError:
        pass


def resolve_store(tracking_uri: str | None, workdir: str | Path) -> tuple[str, str]:
    """(tracking URI, artifact root URI) for ``workdir``; same defaults as ``pipeline.tracking``."""
    from pipeline.tracking import default_artifact_root, default_tracking_uri

    root = Path(workdir)
    if not root.is_dir():
        raise UserError(f"workdir {root} does not exist")
    uri = tracking_uri or default_tracking_uri(root)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        if not db.exists():
            print(f"note: {db} does not exist yet; the UI will show an empty store until a run logs to it")
    return uri, default_artifact_root(root, uri)


def bondiff_command() -> str:
    """How to call ``bondiff`` from the current directory: ``bondiff`` when that is this installation on
    ``$PATH``, else the script next to this interpreter (``.venv/bin/bondiff`` after ``make quickstart``,
    whose venv is not activated)."""
    import shutil

    script = Path(sys.executable).parent / "bondiff"
    found = shutil.which("bondiff")
    if not script.exists() or (found is not None and Path(found).resolve() == script.resolve()):
        return "bondiff"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def ui_hint(tracking_uri: str, experiment_id: str | None = None, run_id: str | None = None, port: int = 5000) -> str:
    """How to open the UI on ``tracking_uri`` (printed at the end of ``bondiff run``)."""
    cwd_db = f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve()}"
    if tracking_uri.startswith(("http://", "https://")):
        cmd, url = None, tracking_uri.rstrip("/")
    else:
        ui = f"{bondiff_command()} ui"
        cmd = ui if tracking_uri == cwd_db else f"{ui} --tracking-uri {tracking_uri}"
        url = f"http://127.0.0.1:{port}"
    page = runs_page(url, experiment_id, run_id)
    return (f"open the UI: {cmd}   then {page}" if cmd else f"open the UI: {page}")


def _experiments(uri: str) -> list[tuple[str, str]]:
    """The store's experiments (tagged for MLflow 3's runs view, see ``pipeline.tracking``); none when
    the store does not exist yet or cannot be read (the server reports that itself)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return []
    from pipeline.tracking import tag_experiments

    try:
        return [(i, n) for i, n in tag_experiments(uri) if n != "Default" or i != "0"]
    except Exception:  # an unreachable server or an odd store: the UI itself still starts
        return []


def _handler(args: argparse.Namespace) -> int:
    uri, artifacts = resolve_store(args.tracking_uri, args.workdir)
    cmd = server_command(uri, artifacts, args.host, args.port, args.workers)
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {base}  (store: {uri}; Ctrl-C to stop)", flush=True)
    for exp_id, name in _experiments(uri):
        print(f"  experiment {name!r}: {runs_page(base, exp_id)}", flush=True)
    proc = start_server(cmd)

    def _on_term(signum, frame):  # `kill <bondiff pid>` stops the server too
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        stop_server(proc)
        print("MLflow UI stopped", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_server(proc)
    if rc != 0:
        raise UserError(f"mlflow server exited with status {rc} (is port {args.port} in use?)")
    return 0

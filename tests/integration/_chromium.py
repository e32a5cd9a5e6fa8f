"""Headless Debian Chromium for the browser tests, driven by Playwright (extra ``dev``).

``ensure_chromium()`` returns ``/usr/bin/chromium``, installing it with apt-get when missing (as root);
it skips the calling test, saying why, only when it truly cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: WebGL without a GPU (SwiftShader), for pages that draw with it (the report's 3D viewer)
WEBGL_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def ensure_chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.skip(f"could not install chromium ({' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-300:]})")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"apt-get install chromium did not provide {CHROMIUM}")
    return CHROMIUM

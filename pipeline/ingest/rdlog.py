"""Capture RDKit's log messages so a parse failure's reason ends up in the per-record error."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

__all__ = ["captured_rdkit_log", "quiet_stdio", "rdkit_reason"]

_LOGGER = "rdkit"


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage().strip()
        # RDKit prefixes a timestamp "[12:00:00] "
        if msg.startswith("[") and "] " in msg[:12]:
            msg = msg.split("] ", 1)[1]
        self.messages.append(msg)


@contextlib.contextmanager
def quiet_stdio(active: bool = True) -> Iterator[None]:
    """Silence C-level stdout/stderr (file descriptors 1 and 2) inside the block."""
    if not active:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


_redirected = False


@contextlib.contextmanager
def captured_rdkit_log() -> Iterator[list[str]]:
    """Within the block RDKit's log messages go to a list (yielded) instead of stderr.

    RDKit is switched to Python logging once per process; inside the block the ``rdkit``
    logger's handlers (RDKit installs a stderr one) are swapped for a list collector.
    """
    global _redirected
    if not _redirected:
        from rdkit import rdBase

        rdBase.LogToPythonLogger()
        _redirected = True
    from rdkit import rdBase

    logger = logging.getLogger(_LOGGER)
    handler = _ListHandler()
    saved, saved_level = logger.handlers, logger.level
    disabled = [ln.split(":")[0] for ln in rdBase.LogStatus().splitlines() if ln.endswith(":disabled")]
    rdBase.EnableLog("rdApp.warning")  # a caller may have silenced RDKit (RDLogger.DisableLog): we still want the reason
    rdBase.EnableLog("rdApp.error")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.messages
    finally:
        logger.handlers = saved
        logger.setLevel(saved_level)
        for name in disabled:
            rdBase.DisableLog(name)


def rdkit_reason(messages: list[str], default: str = "RDKit cannot parse it") -> str:
    """One line from RDKit's captured log: the message itself, never the C++ stack trace that an
    invariant violation prints ("Range Error: ... (Failed Expression: 98 < 20)")."""
    lines: list[str] = []
    for m in messages:
        lines.extend(ln.strip() for ln in str(m).splitlines())
    keep: list[str] = []
    in_stack = False
    for ln in lines:
        if ln.startswith("Stacktrace:"):
            in_stack = True
            continue
        if in_stack and (ln[:1].isdigit() or not ln or ln.startswith("-")):
            continue
        in_stack = False
        if not ln or set(ln) <= set("*-") or (ln.startswith("[") and ln.endswith("]") and len(ln) < 12):
            continue
        if ln.startswith("Violation occurred"):
            continue
        keep.append(ln)
    if not keep:
        return default
    if len(keep) >= 2 and keep[0].endswith("Error") and any(k.startswith("Failed Expression") for k in keep):
        expr = next(k for k in keep if k.startswith("Failed Expression"))
        return f"{keep[0]}: {keep[1]} ({expr})"
    return keep[-1]

"""Stopping a training stretch cleanly on request: SIGTERM or a first Ctrl-C.

A background stretch (``make train-stretch``, a scheduler's job, a machine that is being shut down)
gets SIGTERM; a user at a terminal presses Ctrl-C. Either way the step in progress finishes, then
the trainer checkpoints, evaluates and writes the model exactly as at the end of its CPU budget, so
``--resume`` continues from there. A second Ctrl-C aborts at once (the last periodic checkpoint
stays). Handlers are only installed from the main thread (signals cannot be caught elsewhere) and
are restored on exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

__all__ = ["StopRequest"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Context manager; ``.reason`` is None until a stop was requested, then e.g. ``"SIGTERM"``."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: abort now
        if self.reason is None:
            self.reason = name
            log.warning(
                "%s: stopping after this step (checkpoint, final evaluation, model); Ctrl-C again aborts at once", name
            )

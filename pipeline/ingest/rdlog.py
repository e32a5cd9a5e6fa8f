"""Capture RDKit's log messages so a parse failure's reason ends up in the per-record error."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

__all__ = ["captured_rdkit_log"]

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
def captured_rdkit_log() -> Iterator[list[str]]:
    """Within the block RDKit logs go to a list (yielded) instead of stderr."""
    from rdkit import rdBase

    rdBase.LogToPythonLogger()
    logger = logging.getLogger(_LOGGER)
    handler = _ListHandler()
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate

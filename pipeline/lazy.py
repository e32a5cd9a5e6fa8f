"""Lazy package exports: ``__getattr__ = lazy_exports(__name__, {"Name": "pipeline.x.module", ...})``.

A package that re-exports names this way imports nothing until a name is used, so importing it stays
cheap (no torch, RDKit or pydantic at import time; the GPU training path relies on that).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``where[name]`` on first access to ``name``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

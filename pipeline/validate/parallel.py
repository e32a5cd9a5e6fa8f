"""A small process pool map used by the checks and the RMSD matrices (2K × K per molecule adds up)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

__all__ = ["resolve_workers", "pmap"]


def resolve_workers(workers: int) -> int:
    """``workers`` if > 0, else every core this process may use."""
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    try:
        return fn(item)
    except Exception as exc:  # handed back per item; the caller reports it with the item's name
        return exc


def pmap(fn: Callable[[Any], Any], items: Sequence[Any], workers: int = 0, serial: bool = False) -> list[Any]:
    """``[fn(x) for x in items]`` over processes, in order; an item that raises gives its exception.

    ``fn`` must be a module-level function (it is sent to worker processes). Runs in this process
    when ``serial``, when one worker is asked for, or for fewer than two items.
    """
    n = min(resolve_workers(workers), len(items))
    if serial or n <= 1:
        return [_call(fn, x) for x in items]
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = [pool.submit(_call, fn, x) for x in items]
        return [f.result() for f in futures]

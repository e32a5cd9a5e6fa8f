"""Bond perception over all cores: a process pool fed in chunks, results in input order.

Input is fed in bounded batches (memory stays flat on all of QM9). Small inputs (fewer than
``serial_below`` records) run in-process: starting a pool costs more
than it saves. Workers are forked (Linux), so nothing is re-imported per worker.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
from collections import deque
from itertools import chain, islice
from typing import Iterable, Iterator

from pipeline.ingest.perception import PerceptionOptions, perceive_item
from pipeline.ingest.records import Conformer, ReadItem
from pipeline.types import RecordError

__all__ = ["available_cores", "perceive_all"]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _context():
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def perceive_all(
    items: Iterable[ReadItem],
    opts: PerceptionOptions,
    workers: int = 0,
    chunk_size: int = 64,
    serial_below: int = 400,
    batch_size: int | None = None,
) -> Iterator[Conformer | RecordError]:
    """Perceive every record; yields results in input order (errors as :class:`RecordError`)."""
    fn = functools.partial(perceive_item, opts=opts)
    n_workers = workers or available_cores()
    it = iter(items)
    head = list(islice(it, serial_below))
    if n_workers <= 1 or len(head) < serial_below:
        yield from map(fn, chain(head, it))
        return
    # Pool.imap would drain the whole input into its task queue (all of QM9 in memory): feed it
    # in bounded batches instead, keeping one batch queued while the previous one is consumed.
    batch_size = batch_size or chunk_size * n_workers * 16
    source = chain(head, it)
    batches = iter(lambda: list(islice(source, batch_size)), [])
    with _context().Pool(n_workers) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.imap(fn, batch, chunksize=chunk_size))
            if len(pending) > 1:
                yield from pending.popleft()
        while pending:
            yield from pending.popleft()

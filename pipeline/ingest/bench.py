"""Ingest benchmark: QM9 from qm9pack, molecules per second and peak memory (prints a table).

    python -m pipeline.ingest.bench --limit 20000 --workers 1,2

Each row is a fresh ``run_ingest(..., force=True)`` into a temporary directory (deleted after).
CPU seconds are this process plus its workers (``os.times``; "main" = this process: reading,
grouping, writing), so molecules per CPU-second stays meaningful on a busy machine; on N idle
cores the wall time is about max(CPU s / N, main CPU s).
Peak memory is the maximum resident set size of this process and of the largest worker
(``getrusage``; the worker figure covers all finished children, so it is a running maximum).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.parallel import available_cores
from pipeline.ingest.stage import run_ingest

__all__ = ["bench_qm9", "main"]


def _mib(kib: int) -> float:
    return kib / 1024.0


def bench_qm9(limit: int, workers: int, chunk_size: int = 64) -> dict[str, float]:
    cfg = IngestConfig(qm9=True, qm9_limit=limit, workers=workers, chunk_size=chunk_size)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bondiff-bench-") as d:
        c0 = os.times()
        t0 = time.perf_counter()
        res = run_ingest(cfg, [], Path(d) / "qm9", force=True)
        wall = time.perf_counter() - t0
        c1 = os.times()
    main_cpu = (c1.user - c0.user) + (c1.system - c0.system)
    cpu = main_cpu + (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    m = res.metrics
    return {
        "workers": workers,
        "load_avg": load,
        "records": m["records"],
        "molecules": m["molecules"],
        "errors": m["errors"],
        "seconds": wall,
        "records_per_s": m["records"] / wall,
        "molecules_per_s": m["molecules"] / wall,
        "cpu_seconds": cpu,
        "main_cpu_seconds": main_cpu,
        "molecules_per_cpu_s": m["molecules"] / cpu,
        "peak_rss_main_mib": _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "peak_rss_worker_mib": _mib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.ingest.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20000, help="QM9 molecules (default 20000)")
    ap.add_argument("--workers", default=str(available_cores()), help="comma-separated worker counts (default: all cores)")
    ap.add_argument("--chunk-size", type=int, default=64)
    args = ap.parse_args(argv)
    rows = [bench_qm9(args.limit, int(w), args.chunk_size) for w in args.workers.split(",")]
    print(f"QM9 ingest (qm9pack, first {args.limit} molecules), {available_cores()} cores available")
    print("load = 1-min load average when the row started: other work on the machine slows mol/s; mol/CPU-s much less so")
    head = (f"{'workers':>7} {'load':>5} {'records':>8} {'molecules':>9} {'errors':>6} {'seconds':>8} {'mol/s':>8} {'CPU s':>7} {'main CPU s':>10} {'mol/CPU-s':>9} "
            f"{'peak RSS main MiB':>17} {'peak RSS worker MiB':>19}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['workers']:>7d} {r['load_avg']:>5.1f} {r['records']:>8.0f} {r['molecules']:>9.0f} {r['errors']:>6.0f} {r['seconds']:>8.2f} "
              f"{r['molecules_per_s']:>8.0f} {r['cpu_seconds']:>7.1f} {r['main_cpu_seconds']:>10.1f} {r['molecules_per_cpu_s']:>9.0f} {r['peak_rss_main_mib']:>17.0f} {r['peak_rss_worker_mib']:>19.0f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Training runs side by side against CPU time: ``python -m pipeline.train.compare LABEL=OUT_DIR ... --out PNG``.

Reads each run's ``metrics.csv`` (:mod:`pipeline.train.history`) and draws, against the CPU-hours of
training steps at the time of each evaluation, the metrics that mean the same thing whatever the
network or loss: the bond-length error and validity of quick samples (``sample_bond_mae``,
``sample_valid_frac``), plus each run's own loss. Prints the last value of each as a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.atomic import write_file_atomic
from pipeline.train.history import HISTORY_FILE, read_history

__all__ = ["main", "against_cpu_hours"]

PANELS = (
    ("sample_bond_mae", "sampled bond-length MAE (Å)"),
    ("sample_valid_frac", "sampled molecules with every bond within tolerance"),
    ("val_loss", "validation loss (each run's own metric)"),
    ("loss", "training loss (each run's own metric)"),
)


def against_cpu_hours(history: dict[str, list[tuple[int, float]]], key: str) -> tuple[list[float], list[float]]:
    """``(cpu_hours, values)`` of ``key``; the CPU time of a step is the last ``cpu_hours`` logged at or before it."""
    cpu = sorted(history.get("cpu_hours", []))
    xs, ys = [], []
    j, current = 0, 0.0
    for step, value in sorted(history.get(key, [])):
        while j < len(cpu) and cpu[j][0] <= step:
            current = cpu[j][1]
            j += 1
        xs.append(current)
        ys.append(value)
    return xs, ys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.train.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=OUT_DIR", help="training output dirs (with metrics.csv)")
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = ap.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not (Path(path) / HISTORY_FILE).is_file():
            ap.error(f"{item!r}: expected LABEL=OUT_DIR with an OUT_DIR/{HISTORY_FILE}")
        runs[label] = read_history(Path(path) / HISTORY_FILE)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    print("| run | CPU-h | steps | " + " | ".join(k for k, _ in PANELS) + " |")
    print("|---|---|---|" + "---|" * len(PANELS))
    for label, hist in runs.items():
        last = []
        for ax, (key, title) in zip(axes.flat, PANELS):
            xs, ys = against_cpu_hours(hist, key)
            if xs:
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=label)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("CPU-hours of training steps", fontsize=8)
            last.append(f"{ys[-1]:.4g}" if ys else "–")
        cpu = hist.get("cpu_hours", [(0, 0.0)])[-1]
        print(f"| {label} | {cpu[1]:.3f} | {cpu[0]} | " + " | ".join(last) + " |")
    for ax in axes.flat:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes.flat[0].set_yscale("log")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(args.out, lambda tmp: fig.savefig(tmp, dpi=110))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

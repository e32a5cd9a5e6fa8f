"""A local record of training metrics: ``OUT/metrics.csv`` and ``OUT/training_curves.png``.

MLflow holds the same numbers when tracking is on, but a training run on a GPU box without MLflow
(or with ``--no-track``) must still leave a record that travels with the model. :class:`HistoryLogger`
wraps the stage's :class:`~pipeline.types.MetricLogger`: every ``log_metrics`` call is appended to a
long-format CSV (``step,key,value``) and forwarded. On resume, rows past the checkpoint's step (written
by the interrupted run after its last checkpoint) are dropped first, so the file matches the exact
resumed trajectory. :func:`plot_history` draws the curves people look at first.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from pipeline.atomic import write_file_atomic
from pipeline.types import MetricLogger, NullLogger

__all__ = ["HistoryLogger", "read_history", "plot_history", "HISTORY_FILE", "CURVES_FILE"]

HISTORY_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"
_HEADER = ["step", "key", "value"]


def read_history(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` in file order (empty when the file does not exist)."""
    out: dict[str, list[tuple[int, float]]] = {}
    p = Path(path)
    if not p.is_file():
        return out
    with p.open(newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["key"], []).append((int(row["step"]), float(row["value"])))
    return out


class HistoryLogger:
    """Appends every metric to ``path`` (CSV) and forwards it to ``inner``; call :meth:`begin` first."""

    def __init__(self, path: str | Path, inner: MetricLogger | None = None):
        self.path = Path(path)
        self.inner = inner or NullLogger()

    def begin(self, resume_step: int | None = None) -> None:
        """Start the file: empty for a fresh run; on resume keep the rows up to ``resume_step``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keep: list[list[str]] = []
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                keep = [r for r in csv.reader(fh)][1:]
            keep = [r for r in keep if len(r) == 3 and int(r[0]) <= resume_step]

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(_HEADER)
                w.writerows(keep)

        write_file_atomic(self.path, write)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        with self.path.open("a", newline="") as fh:
            w = csv.writer(fh)
            for k, v in metrics.items():
                w.writerow([-1 if step is None else int(step), k, repr(float(v))])
        self.inner.log_metrics(metrics, step=step)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.inner.log_artifact(path, artifact_path)


# (title, keys, log-scale y) per panel; panels without any logged key are left out
_PANELS = (
    ("loss (x̂₀, EDM-weighted)", ("loss", "val_loss"), True),
    ("loss per noise level (t-bucket)", None, True),
    ("learning rate", ("lr",), False),
    ("gradient norm", ("grad_norm",), True),
    ("EMA samples: bonds within tolerance", ("sample_valid_frac",), False),
    ("EMA samples: bond length MAE (Å)", ("sample_bond_mae",), True),
)


def _finite(points: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    pts = [(s, v) for s, v in points if math.isfinite(v)]
    return [s for s, _ in pts], [v for _, v in pts]


def plot_history(csv_path: str | Path, png_path: str | Path, title: str = "training") -> Path | None:
    """Training curves from a :class:`HistoryLogger` CSV; None when there is nothing to draw."""
    hist = read_history(csv_path)
    if not hist:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for name, keys, logy in _PANELS:
        if keys is None:  # the t-buckets: loss_t0, loss_t1, ...
            keys = tuple(sorted(k for k in hist if k.startswith("loss_t")))
        keys = tuple(k for k in keys if k in hist)
        if keys:
            panels.append((name, keys, logy))
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (name, keys, logy) in zip(axes.flat, panels):
        for k in keys:
            xs, ys = _finite(hist[k])
            if not xs:
                continue
            marker = "o" if len(xs) < 30 else None
            ax.plot(xs, ys, label=k, marker=marker, ms=3, lw=1.2)
        if logy and all(v > 0 for k in keys for _, v in hist[k] if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    try:
        return write_file_atomic(png_path, lambda tmp: fig.savefig(tmp, dpi=110))
    finally:
        plt.close(fig)

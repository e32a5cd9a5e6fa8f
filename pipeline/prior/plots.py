"""PNG plots of the prior vs the data (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["histogram_plot", "sigma_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def histogram_plot(data: np.ndarray, prior: np.ndarray, xlabel: str, title: str, path: Path) -> Path:
    """Overlaid density histograms of a statistic for the data and for prior samples."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    hi = float(np.quantile(np.concatenate([data, prior]), 0.995)) if data.size + prior.size else 1.0
    bins = np.linspace(0.0, max(hi, 1e-6), 60)
    ax.hist(data, bins=bins, density=True, alpha=0.55, label=f"data (n={data.size})")
    ax.hist(prior, bins=bins, density=True, alpha=0.55, label=f"prior samples (n={prior.size})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sigma_plot(sigma: np.ndarray, title: str, path: Path) -> Path:
    """Heat map of one molecule's Σ (Å²)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.4))
    lim = float(np.abs(sigma).max()) or 1.0
    im = ax.imshow(sigma, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, label="Σ_ij (Å²)")
    ax.set_xlabel("atom j")
    ax.set_ylabel("atom i")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

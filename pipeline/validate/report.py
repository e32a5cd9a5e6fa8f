"""Tables, summary, plots and the HTML report of a validate run.

Files written into the report directory:

``conformers.csv`` / ``.parquet``  one row per SDF record: ``record`` (1-based), ``name``, ``smiles``,
                                   ``conformer_index``, ``sampler``, ``valid``, ``failed`` (names of the
                                   failed checks), ``unchecked``, one boolean column per check,
                                   diagnostics, ``rmsd_min_ref`` (with a reference), ``error``;
``molecules.csv`` / ``.parquet``   one row per molecule: counts, validity, stereo, COV/AMR per δ;
``summary.json``                   ``metrics`` (the numbers logged to MLflow), check pass rates,
                                   the COV-vs-δ curve, the first errors, the ``verdict`` (text, tone, model);
``*.png``                          validity by check, bond-length deviations, COV vs δ, RMSD distributions;
``report.html``                    the page a chemist reads (:mod:`.html_report`): headline, verdict,
                                   molecules worst first with depictions, an offline 3D viewer, plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.atomic import write_file_atomic
from pipeline.missing import finite_mean_median, is_missing, json_safe
from pipeline.types import RecordError
from pipeline.validate.config import CHECK_NAMES, ValidateConfig

__all__ = ["write_report", "conformer_table", "molecule_table", "molecule_table_path", "read_molecule_table", "summarise", "plot_series"]

REPORT_FILES = (
    "conformers.csv", "conformers.parquet", "molecules.csv", "molecules.parquet", "summary.json", "report.html",
    "validity_by_check.png", "bond_deviations.png", "cov_vs_delta.png", "rmsd_distribution.png",
)
_FIRST = ["record", "name", "smiles", "conformer_index", "sampler", "valid", "failed", "unchecked", *CHECK_NAMES]


def conformer_table(results: Sequence[Any], errors: Sequence[RecordError]) -> Any:
    """Per-record DataFrame (checked conformers + records that could not be checked)."""
    import pandas as pd

    rows: list[dict] = []
    seen: set[int] = set()
    for res in results:
        for j, row in enumerate(res.rows):
            r = dict(row)
            if res.rmsd is not None and res.rmsd.shape[0]:
                col = res.rmsd[:, j]
                r["rmsd_min_ref"] = float(np.nanmin(col)) if np.isfinite(col).any() else float("nan")
            rows.append(r)
            seen.add(int(r["record"]))
    for e in errors:
        if e.record.isdigit() and int(e.record) not in seen:
            seen.add(int(e.record))
            rows.append({"record": int(e.record), "name": e.reason.split(":", 1)[0], "valid": False, "failed": "record", "error": e.reason})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    cols = [c for c in _FIRST if c in df.columns] + [c for c in df.columns if c not in _FIRST and c != "error"] + (["error"] if "error" in df.columns else [])
    df = df[cols].sort_values("record", kind="stable").reset_index(drop=True)
    for c in CHECK_NAMES:  # keep True/False/None, not 1.0/0.0/NaN
        if c in df.columns:
            df[c] = df[c].astype("object")
    df["error"] = df["error"].fillna("") if "error" in df.columns else ""
    return df


def molecule_table(results: Sequence[Any], deltas: Sequence[float]) -> Any:
    import pandas as pd

    rows = []
    for res in results:
        valid = [bool(r["valid"]) for r in res.rows]
        n_rec = len(res.gen.records) + len(res.gen.bad_records)
        row: dict[str, Any] = {
            "name": res.gen.name,
            "smiles": res.gen.smiles or "",
            "reference": res.ref_name or "",
            "n_records": n_rec,
            "n_unusable": n_rec - len(res.rows),
            "n_valid": int(sum(valid)),
            "validity": sum(valid) / n_rec if n_rec else 0.0,
            "n_stereo_centres": res.rows[0].get("n_stereo_centres", 0) if res.rows else None,
            "n_stereo_bonds": res.rows[0].get("n_stereo_bonds", 0) if res.rows else None,
        }
        stereo_ok = [r["stereo_centres"] is not False and r["stereo_bonds"] is not False for r in res.rows]
        row["stereo_correct"] = float(np.mean(stereo_ok)) if stereo_ok else None
        if res.metrics is not None:
            row["n_ref"] = int(res.metrics["n_ref"])
            for d in deltas:
                row[f"COV-R_{d:g}"] = res.metrics[f"COV-R_{d:g}"]
                row[f"COV-P_{d:g}"] = res.metrics[f"COV-P_{d:g}"]
            row["AMR-R"] = res.metrics["AMR-R"]
            row["AMR-P"] = res.metrics["AMR-P"]
        row["error"] = res.error
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(cfg: ValidateConfig, conf_df: Any, mol_df: Any, n_records: int, n_errors: int) -> dict[str, Any]:
    """The numbers of a validate run (keys are MLflow-safe)."""
    m: dict[str, float] = {"n_records": float(n_records), "n_errors": float(n_errors)}
    checked = conf_df[conf_df["failed"] != "record"] if len(conf_df) and "failed" in conf_df else conf_df
    m["n_conformers_checked"] = float(len(checked))
    m["n_valid"] = float(checked["valid"].sum()) if len(checked) else 0.0
    m["validity"] = m["n_valid"] / n_records if n_records else 0.0
    checks: dict[str, float] = {}
    for c in CHECK_NAMES:
        if c in checked.columns:
            vals = [v for v in checked[c] if not is_missing(v)]
            if vals:
                checks[c] = float(np.mean([bool(v) for v in vals]))
                m[f"pass_{c}"] = checks[c]
    if len(checked) and "n_stereo_centres" in checked.columns:
        has = (checked["n_stereo_centres"].fillna(0) + checked["n_stereo_bonds"].fillna(0)) > 0
        has &= checked["stereo_centres"].apply(lambda v: v is not None)
        sub = checked[has]
        if len(sub):
            ok = [(a is True) and (b is True) for a, b in zip(sub["stereo_centres"], sub["stereo_bonds"])]
            m["stereo_correct"] = float(np.mean(ok))
            n_c = float(sub["n_stereo_centres"].sum())
            if n_c:
                m["stereo_centres_correct"] = 1.0 - float(sub["n_stereo_centres_wrong"].sum()) / n_c
            n_b = float(sub["n_stereo_bonds"].sum())
            if n_b:
                m["stereo_bonds_correct"] = 1.0 - float(sub["n_stereo_bonds_wrong"].sum()) / n_b
    if "energy_delta_per_heavy" in checked.columns:
        m["energy_delta_per_heavy_median"] = finite_mean_median(checked["energy_delta_per_heavy"])[1]
    m["n_molecules"] = float(len(mol_df))
    if len(mol_df) and "AMR-R" in mol_df.columns:
        scored = mol_df[mol_df["reference"] != ""]
        m["n_molecules_scored"] = float(len(scored))
        m["n_molecules_no_valid"] = float((scored["n_valid"] == 0).sum())
        for i, d in enumerate(cfg.metrics.deltas):
            for side in ("R", "P"):
                mean, med = finite_mean_median(scored[f"COV-{side}_{d:g}"])
                m[f"COV-{side}_{d:g}_mean"], m[f"COV-{side}_{d:g}_median"] = mean, med
                if i == 0:
                    m[f"COV-{side}_mean"], m[f"COV-{side}_median"] = mean, med
        for side in ("R", "P"):
            m[f"AMR-{side}_mean"], m[f"AMR-{side}_median"] = finite_mean_median(scored[f"AMR-{side}"])
    return {"metrics": m, "checks": checks}


def _plots(out_dir: Path, checks: dict[str, float], validity: float, bond_devs: np.ndarray, grid: np.ndarray, curves: list, conf_df: Any, results: Sequence[Any], deltas: Sequence[float]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        p = out_dir / name
        fig.tight_layout()
        try:
            write_file_atomic(p, lambda tmp: fig.savefig(tmp, dpi=110))
        finally:
            plt.close(fig)
        paths.append(p)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(checks) + ["valid"]
    vals = [100 * checks[c] for c in checks] + [100 * validity]
    colors = ["#4c72b0"] * len(checks) + ["#dd8452"]  # overall validity in orange, at the bottom
    ax.barh(names[::-1], vals[::-1], color=colors[::-1])
    for y, v in enumerate(vals[::-1]):
        inside = v > 15
        ax.text(v - 1 if inside else v + 1, y, f"{v:.1f}", va="center", ha="right" if inside else "left", color="white" if inside else "black", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("conformers passing (%)")
    ax.set_title("Validity by check")
    save(fig, "validity_by_check.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if bond_devs.size:
        ax.hist(np.clip(bond_devs, -0.5, 0.5), bins=100, color="#4c72b0")
    ax.set_xlabel("bond length − middle of DG bounds (Å), heavy atoms; clipped to ±0.5")
    ax.set_ylabel("bonds (log scale)")
    if bond_devs.size:
        ax.set_yscale("log")  # the tails (stretched/compressed bonds) are what matters
    ax.set_title("Bond-length deviations")
    save(fig, "bond_deviations.png")

    if curves:
        rec = np.mean([c[0] for c in curves], axis=0)
        prec = np.mean([c[1] for c in curves], axis=0)
        series = plot_series(results, grid)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(grid, 100 * rec, label="COV-R (recall)", lw=2)
        ax.plot(grid, 100 * prec, label="COV-P (precision)", lw=2)
        if series["n_invalid"]:  # where invalid samples are, geometrically (they do not count)
            ax.plot(grid, 100 * series["cov_r_any"], color="grey", ls=":", label="COV-R if validity were ignored")
        for d in deltas:
            ax.axvline(d, color="grey", lw=0.7, ls="--")
            ax.text(d, 101, f"{d:g}", ha="center", va="bottom", fontsize=7, color="grey")
        ax.set_xlabel("δ (Å)")
        ax.set_ylabel("coverage (%), mean over molecules")
        ax.set_ylim(0, 100)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("Coverage vs δ" + ("" if series["n_valid"] else ": no valid sample, 0 at every δ"), pad=12, color="black" if series["n_valid"] else "#c44e52")
        save(fig, "cov_vs_delta.png")

        fig, ax = plt.subplots(figsize=(6, 3.5))
        finite = np.concatenate([series[k] for k in ("min_per_reference", "min_per_valid", "min_per_invalid")])
        finite = finite[np.isfinite(finite)]
        bins = np.linspace(0, max([3.0, *finite]), 60)
        ax.hist(series["min_per_reference"], bins=bins, alpha=0.6, label="min RMSD per reference, valid samples (recall)")
        ax.hist(series["min_per_valid"], bins=bins, alpha=0.6, label="min RMSD per valid sample (precision)")
        if series["n_invalid"]:
            ax.hist(series["min_per_invalid"], bins=bins, histtype="step", color="grey", label="min RMSD per invalid sample (not counted)")
        ax.set_xlabel("heavy-atom RMSD to the nearest reference / sample (Å)")
        ax.set_ylabel("count")
        ax.legend(fontsize=7)
        ax.set_title("RMSD distributions" + ("" if series["n_valid"] else ": no valid sample"), color="black" if series["n_valid"] else "#c44e52")
        save(fig, "rmsd_distribution.png")
    return paths


def plot_series(results: Sequence[Any], grid: np.ndarray) -> dict[str, Any]:
    """What the coverage / RMSD plots draw, from the molecules' RMSD matrices ``D[K_ref, L_gen]``.

    ``min_per_reference``: per reference, the RMSD of its closest *valid* sample (molecules with one);
    ``min_per_valid`` / ``min_per_invalid``: per sample, the RMSD of its closest reference;
    ``cov_r_any``: mean COV-R(δ) over the scored molecules as if every sample were valid (a molecule
    without a usable sample counts 0), to show whether invalid samples are near the references at all.
    """
    from pipeline.validate.metrics import cov_curve

    per_ref, per_valid, per_invalid, any_curves = [], [], [], []
    for res in results:
        if res.rmsd is None or not res.rmsd.size:
            if res.metrics is not None:  # scored, but nothing to compare: coverage 0
                any_curves.append(np.zeros_like(grid, dtype=float))
            continue
        D = res.rmsd
        valid = np.array([bool(r["valid"]) for r in res.rows], dtype=bool)
        with np.errstate(all="ignore"):
            col_min = np.array([np.nanmin(D[:, j]) if np.isfinite(D[:, j]).any() else np.nan for j in range(D.shape[1])])
            if valid.any() and np.isfinite(D[:, valid]).any():
                per_ref += list(np.nanmin(D[:, valid], axis=1))
        per_valid += list(col_min[valid])
        per_invalid += list(col_min[~valid])
        any_curves.append(cov_curve(D, grid, None, only_valid=False)[0])
    arr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    return {
        "min_per_reference": arr(per_ref),
        "min_per_valid": arr(per_valid),
        "min_per_invalid": arr(per_invalid),
        "n_valid": len(per_valid),
        "n_invalid": len(per_invalid),
        "cov_r_any": np.mean(any_curves, axis=0) if any_curves else np.zeros_like(grid, dtype=float),
    }


def _html(out_dir: Path, summary: dict, images: list[Path], mol_df: Any, results: Sequence[Any], reference_set: Any, delta: float) -> Path:
    from pipeline.validate.html_report import write_html

    p = out_dir / "report.html"
    write_file_atomic(p, write_html(out_dir, summary, images, mol_df, results, reference_set, delta))
    return p


def molecule_table_path(validate_dir: Path) -> Path | None:
    """The per-molecule table a validate run wrote into ``validate_dir`` (``molecules.csv``, else ``.parquet``); None if neither."""
    csv = Path(validate_dir) / "molecules.csv"
    for path in (csv, csv.with_suffix(".parquet")):
        if path.is_file():
            return path
    return None


def read_molecule_table(validate_dir: Path) -> Any:
    """The per-molecule table of :func:`molecule_table_path`, as a DataFrame."""
    import pandas as pd

    path = molecule_table_path(validate_dir)
    if path is None:
        raise FileNotFoundError(f"{validate_dir}: no molecules.csv or molecules.parquet (not a validate output folder)")
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _write_table(df: Any, stem: Path, fmt: str) -> None:
    if fmt in ("csv", "both"):
        write_file_atomic(stem.with_suffix(".csv"), lambda tmp: df.to_csv(tmp, index=False))
    if fmt in ("parquet", "both"):
        out = df.copy()
        for c in out.columns:  # mixed bool/None columns: parquet wants one type
            if out[c].dtype == object:
                kinds = {type(v) for v in out[c] if not is_missing(v)}
                if kinds <= {bool}:
                    out[c] = out[c].astype("boolean")
                elif kinds and not kinds <= {str}:
                    out[c] = out[c].astype(str)
        write_file_atomic(stem.with_suffix(".parquet"), lambda tmp: out.to_parquet(tmp, index=False))


def write_report(cfg: ValidateConfig, out_dir: Path, results: Sequence[Any], errors: Sequence[RecordError], *, n_records: int, bond_devs: np.ndarray, grid: np.ndarray, curves: list, source: dict, reference_set: Any = None) -> dict[str, Any]:
    """Write every report file into ``out_dir``; returns the summary dict (also ``summary.json``).

    ``reference_set`` (:class:`~pipeline.validate.reference.ReferenceSet`) gives the 3D viewer its references.
    """
    for stale in REPORT_FILES:  # a re-run into the same directory must not leave an old plot behind
        (out_dir / stale).unlink(missing_ok=True)
    conf_df = conformer_table(results, errors)
    mol_df = molecule_table(results, cfg.metrics.deltas)
    summary = summarise(cfg, conf_df, mol_df, n_records, len(errors))
    summary["deltas"] = list(cfg.metrics.deltas)
    summary["source"] = source
    summary["errors"] = [str(e) for e in errors[:100]]
    from pipeline.validate.html_report import run_verdict

    summary["verdict"] = run_verdict(summary, results, cfg.metrics.deltas[0])  # plain language: page, terminal, summary.json
    if curves:
        summary["curve"] = {
            "delta": [float(x) for x in grid],
            "COV-R": [float(x) for x in np.mean([c[0] for c in curves], axis=0)],
            "COV-P": [float(x) for x in np.mean([c[1] for c in curves], axis=0)],
        }
    _write_table(conf_df, out_dir / "conformers", cfg.table_format)
    _write_table(mol_df, out_dir / "molecules", cfg.table_format)
    images = _plots(out_dir, summary["checks"], summary["metrics"]["validity"], bond_devs, grid, curves, conf_df, results, cfg.metrics.deltas) if cfg.plots else []
    if cfg.html:
        _html(out_dir, summary, images, mol_df, results, reference_set, cfg.metrics.deltas[0])
    write_file_atomic(out_dir / "summary.json", json.dumps(json_safe(summary), indent=2, default=_json_default) + "\n")
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON-serialisable: {type(o)}")

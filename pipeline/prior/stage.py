"""The prior stage: ``run_prior(cfg, dataset_dir, force=False) -> StageResult``.

Reads a conformer dataset, checks every molecule's bond graph (bad ones become per-record errors,
never silently dropped), calibrates ``c``/``κ``/``λ`` (``calibrate.py``) on a deterministic subsample of
the calibration split, and writes atomically ``prior.json`` (``PriorParams`` + calibration stats)
plus PNG plots into a directory keyed by the dataset's content hash and the config hash. A second
call with the same dataset and config reuses it (``StageResult.reused``); ``force`` rebuilds.
Outputs: ``{"prior": <dir>}``. No MLflow here: the CLI wraps this in ``track_stage``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import write_dir_atomic
from pipeline.config import config_hash
from pipeline.hashing import combine_hashes, path_hash
from pipeline.missing import finite_metrics
from pipeline.prior.calibrate import DataScale, MoleculeModes, calibrate, data_scale, fragment_summary, molecule_modes, scale_report
from pipeline.prior.config import PriorConfig
from pipeline.prior.graph import _as_bonds, n_components
from pipeline.prior.params import PriorParams
from pipeline.types import InputDataset, RecordError, StageError, StageResult

__all__ = ["run_prior", "PRIOR_SCHEMA_VERSION", "prior_key"]

log = logging.getLogger(__name__)
PRIOR_SCHEMA_VERSION = 1
PLOT_SAMPLES_PER_MOLECULE = 8


def prior_key(cfg: PriorConfig, dataset_hash: str) -> tuple[str, str]:
    """(config hash without the output location, cache key = hash(dataset hash, config hash))."""
    chash = config_hash(cfg.model_dump(mode="json", exclude={"out_dir"}))
    return chash, combine_hashes([dataset_hash, chash])


def _check_molecules(ds: Any, cfg: PriorConfig) -> tuple[list[int], list[RecordError], int]:
    """Indices of usable molecules, per-record errors, number of multi-fragment molecules."""
    good, errors, multi = [], [], 0
    src = str(ds.root)
    for i in range(len(ds)):
        entry = ds.entries[i]
        n = ds.n_atoms(i)
        b0, b1 = int(ds.bond_offsets[i]), int(ds.bond_offsets[i + 1])
        try:
            if n < 1:
                raise ValueError("molecule has no atoms")
            bonds = _as_bonds(n, np.asarray(ds.bonds[b0:b1]))
            k = n_components(n, bonds) if n > 1 else 1
            if k > 1:
                multi += 1
                cc = cfg.calibration
                lam_given = not cc.enabled or (not cc.fit_lam if cfg.lam_mode == "identity" else cfg.fragment_target() is None)
                if lam_given and cfg.lam == 0:
                    raise ValueError(f"{k} fragments and lam = 0: set lam > 0")
            if int(ds.mol_conf_offsets[i + 1] - ds.mol_conf_offsets[i]) < 1:
                raise ValueError("molecule has no conformers")
        except ValueError as exc:
            errors.append(RecordError(src, f"{i + 1} ({entry.name})", str(exc)))
            continue
        good.append(i)
    return good, errors, multi


def _calibration_indices(ds: Any, good: list[int], cfg: PriorConfig) -> tuple[list[int], str]:
    split = cfg.calibration.split
    wanted = set(ds.split_indices(split))
    idx = [i for i in good if i in wanted]
    used = split
    if not idx:
        idx, used = list(good), "all"
    m = cfg.calibration.max_molecules
    if len(idx) > m:  # deterministic, evenly spread subsample
        idx = [idx[int(k)] for k in np.linspace(0, len(idx) - 1, m).round().astype(int)]
    return idx, used


def _plots(ds: Any, idx: list[int], params: PriorParams, cfg: PriorConfig, out: Path) -> list[Path]:
    from pipeline.prior.plots import histogram_plot, sigma_plot

    rng = np.random.default_rng(cfg.seed)
    data_d, prior_d, data_rg, prior_rg = [], [], [], []
    for i in idx[: cfg.plot_molecules]:
        v = ds.molecule(i)
        b = _as_bonds(v.n_atoms, v.bonds)
        x = np.asarray(v.coords, dtype=np.float64)
        R, _ = params.factor(v.n_atoms, b)
        z = R @ rng.standard_normal((PLOT_SAMPLES_PER_MOLECULE, v.n_atoms, 3))  # [S, N, 3]
        for arr, d_out, rg_out in ((x - x.mean(axis=1, keepdims=True), data_d, data_rg), (z, prior_d, prior_rg)):
            if b.shape[0]:
                d_out.append(np.linalg.norm(arr[:, b[:, 0]] - arr[:, b[:, 1]], axis=-1).ravel())
            rg_out.append(np.sqrt((arr**2).sum(-1).mean(-1)))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    paths = [
        histogram_plot(cat(data_d), cat(prior_d), "bonded distance (Å)", "bonded distances: data vs prior", out / "bond_distance_hist.png"),
        histogram_plot(cat(data_rg), cat(prior_rg), "radius of gyration (Å)", "radius of gyration: data vs prior", out / "rg_hist.png"),
    ]
    example = max(idx[: cfg.plot_molecules], key=lambda i: (ds.n_atoms(i) <= 40, ds.n_atoms(i)))
    v = ds.molecule(example)
    R, _ = params.factor(v.n_atoms, v.bonds)
    mode = " (on fragments)" if params.lam_mode == "fragments" else ""
    title = f"Σ of {v.entry.name} ({v.n_atoms} atoms)\nc={params.c:.3g} Å⁻², κ={params.kappa:.3g}, λ={params.lam:.3g}{mode}"
    paths.append(sigma_plot(R @ R.T, title, out / "sigma_example.png"))
    return paths


def _convention(params: PriorParams) -> str:
    """The ``prior.json`` line that says which J this is (identity mode: the text written before lam_mode)."""
    lap = "L the bond-graph Laplacian incl. H " + ("(bond-order weighted)" if params.weighted else "(unweighted)")
    if params.lam_mode == "identity":
        return f"J = c (L + kappa L^2 + lam I), {lap}; Sigma = P J^-1 P; R = P U diag(d^-1/2)"
    return (
        f"J = c (L + kappa L^2 + lam (Pi0 - 11^T/N)), {lap}, Pi0 the projector on the fragment indicators "
        "(lam acts on fragment centroids only); Sigma = P J^+ P; R = P U diag(d^-1/2), U eigenvectors of L"
    )


def _metrics(doc: dict[str, Any]) -> dict[str, float]:
    cal = doc["calibration"]
    keys = (
        "data_bond_rms", "prior_bond_rms", "data_rg_rms", "prior_rg_rms", "rg_log_mismatch", "bond_log_mismatch", "sigma_data",
        "n_molecules", "lone_ion_rms", "fragment_pairs", "data_fragment_rms", "prior_fragment_rms",
        "fragment_rms_target", "fragment_rms_min", "fragment_iterations", "data_rg_intra_rms", "prior_rg_intra_rms",
    )  # fmt: skip
    out = finite_metrics({f"calib.{k}": cal[k] for k in keys if k in cal})
    out.update({f"prior.{k}": float(doc["params"].get(k, 0.0)) for k in ("c", "kappa", "lam")})
    out.update({f"dataset.{k}": float(v) for k, v in doc["counts"].items()})
    return out


def _result(out: Path, doc: dict[str, Any], dataset_dir: Path, errors: list[RecordError], reused: bool) -> StageResult:
    arts = [out / "prior.json"] + sorted(out.glob("*.png"))
    return StageResult(
        stage="prior",
        outputs={"prior": out},
        metrics=_metrics(doc),
        artifacts=arts,
        inputs=[InputDataset("dataset", str(dataset_dir), doc["dataset_hash"], "input")],
        tags={"prior.key": doc["key"], "prior.weighted": str(doc["params"]["weighted"]).lower(), "prior.lam_mode": doc["params"].get("lam_mode", "identity")},
        errors=errors,
        reused=reused,
        extra={"prior": doc},
    )


def run_prior(cfg: PriorConfig, dataset_dir: Path, force: bool = False) -> StageResult:
    """Build and calibrate the prior for ``dataset_dir``; see the module docstring."""
    from pipeline.sanity import open_dataset

    dataset_dir = Path(dataset_dir)
    ds = open_dataset(dataset_dir, "prior")  # unreadable or impossible data: one StageError line
    dataset_hash = ds.digest or path_hash(dataset_dir)
    chash, key = prior_key(cfg, dataset_hash)
    out = Path(cfg.out_dir) if cfg.out_dir is not None else dataset_dir.resolve().parent / "priors" / f"{dataset_dir.name}-{key}"

    existing = out / "prior.json"
    if existing.is_file() and not force:
        doc = json.loads(existing.read_text())
        if doc.get("key") == key and doc.get("schema_version") == PRIOR_SCHEMA_VERSION:
            log.info("prior for %s unchanged (key %s): reusing %s", dataset_dir, key, out)
            errors = [RecordError(**e) for e in doc.get("errors", [])]
            return _result(out, doc, dataset_dir, errors, reused=True)

    t0 = time.perf_counter()
    good, errors, multi = _check_molecules(ds, cfg)
    if not good:
        raise StageError(f"prior: no usable molecule in {dataset_dir} ({len(errors)} errors, first: {errors[0] if errors else 'empty dataset'})")
    idx, split_used = _calibration_indices(ds, good, cfg)

    modes: list[MoleculeModes] = []
    scales: list[DataScale] = []
    for i in idx:
        v = ds.molecule(i)
        modes.append(molecule_modes(v.n_atoms, v.bonds, cfg.weighted))
        scales.append(data_scale(v.coords, v.bonds))
    params = PriorParams(c=cfg.c, lam=cfg.lam, weighted=cfg.weighted, kappa=cfg.kappa, lam_mode=cfg.lam_mode)
    if cfg.calibration.enabled:
        cc = cfg.calibration
        grid = np.geomspace(cc.lam_min, cc.lam_max, cc.lam_grid) if cc.fit_lam else None
        kgrid = np.geomspace(cc.kappa_min, cc.kappa_max, cc.kappa_grid) if cc.fit_kappa else None
        try:
            res = calibrate(modes, scales, cfg.weighted, grid, cfg.lam, cc.c_target, kgrid, cfg.kappa, cfg.fragment_target(), lam_mode=cfg.lam_mode)
        except ValueError as exc:
            raise StageError(f"prior: cannot calibrate on {dataset_dir}: {exc}") from None
        params, stats = res.params, {"enabled": True, **res.stats}
        if stats["lam_at_bound"]:
            log.warning("calibrated λ=%.3g is at the end of the grid [%g, %g]", params.lam, cc.lam_min, cc.lam_max)
        if stats["kappa_at_bound"]:
            log.warning("calibrated κ=%.3g: no κ in [0, %g] matches the data (kappa_at_bound)", params.kappa, cc.kappa_max)
        if stats.get("lam_from") in ("floor", "rg_fit"):
            log.warning("%s (lone ion %.2f Å rms from a large rest)", fragment_summary(stats, params.lam), stats["lone_ion_rms"])
    else:
        stats = {"enabled": False, **scale_report(modes, scales, params)}
    stats["split"] = split_used
    doc: dict[str, Any] = {
        "schema_version": PRIOR_SCHEMA_VERSION,
        "key": key,
        "dataset_hash": dataset_hash,
        "config_hash": chash,
        "dataset": str(dataset_dir.resolve()),
        "params": params.model_dump(mode="json"),
        "convention": _convention(params),
        "calibration": stats,
        "counts": {"molecules": len(ds), "usable": len(good), "errors": len(errors), "multi_fragment": multi},
        "errors": [e.as_dict() for e in errors],
        "config": cfg.model_dump(mode="json", exclude={"out_dir"}),
    }

    def build(tmp: Path) -> None:
        if cfg.plots:
            _plots(ds, idx, params, cfg, tmp)
        doc["seconds"] = round(time.perf_counter() - t0, 3)
        (tmp / "prior.json").write_text(json.dumps(doc, indent=2) + "\n")

    write_dir_atomic(out, build)
    log.info(
        "prior: c=%.4g kappa=%.4g lam=%.4g (%s) (%d molecules, %d errors) -> %s",
        params.c, params.kappa, params.lam, params.lam_mode, len(idx), len(errors), out,
    )  # fmt: skip
    return _result(out, doc, dataset_dir, errors, reused=False)

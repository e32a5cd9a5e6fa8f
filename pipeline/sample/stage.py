"""The sampling stage: model + input molecules -> SDF of generated conformers (+ metrics)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pipeline.atomic import write_file_atomic
from pipeline.sample.config import SampleConfig
from pipeline.sample.generate import generate_detailed
from pipeline.sample.modelspec import model_label, resolve_device, spec_max_atoms
from pipeline.sample.inputs import InputError, MoleculeInput, SampleInputs, read_inputs, spec_elements
from pipeline.sample.sdf import conformer_records, write_sdf
from pipeline.types import InputDataset, MetricLogger, NullLogger, StageError, StageResult

__all__ = ["run_sample", "load_model", "model_identity", "ModelRef"]

ModelRef = Any  # str | Path | None | (Denoiser, ModelSpec)


def load_model(model: ModelRef, device: str | None = "cpu") -> tuple[Any, Any, str]:
    """``(denoiser, spec, model_version)`` from a model reference or an already loaded pair.

    A reference is a model directory, a checkpoint file, ``models:/bondiff-denoiser/<v|@alias>``,
    'latest' (the latest registered model) or None (the shipped model). A local path that does not exist is a
    ``FileNotFoundError`` naming it.
    """
    if isinstance(model, tuple):
        denoiser, spec = model
        return denoiser, spec, str(_spec_version(spec) or "in-memory")
    from pipeline.model.io import NotAModelError, load_denoiser_checked

    if model is not None and model != "latest" and not str(model).startswith("models:/") and not Path(model).exists():
        raise FileNotFoundError(
            f"model not found: {model} (give a model directory, a checkpoint file or models:/bondiff-denoiser/<version>)"
        )
    try:
        denoiser, spec = load_denoiser_checked(model, resolve_device(device))
    except NotAModelError as exc:
        raise InputError(f"--model {exc}") from None
    return denoiser, spec, str(model or _spec_version(spec) or "shipped")


def model_identity(model: ModelRef, denoiser: Any) -> str:
    """The ``model`` SDF property: ``name@<8 hex digits>``, e.g. ``bondiff-shipped@5913d77c``.

    For the shipped model and a model directory the digits are ``sha256(weights.pt)``, as ``bondiff
    models`` and the Model Registry's ``weights_sha`` tag name them (:func:`pipeline.model_catalog.weights_hash`);
    for a checkpoint, a ``models:/`` URI, ``latest`` or an in-memory model they hash the loaded weights
    (:func:`pipeline.sample.modelspec.weights_hash`).
    """
    from pipeline.model.io import SHIPPED_MODEL_DIR, find_model_dir
    from pipeline.model_catalog import SHIPPED_NAME, weights_hash as file_hash

    if model is None and (SHIPPED_MODEL_DIR / "weights.pt").is_file():
        return f"{SHIPPED_NAME}@{file_hash(SHIPPED_MODEL_DIR)}"
    if not isinstance(model, tuple) and Path(str(model)).is_dir():
        return f"{model}@{file_hash(find_model_dir(model))}"
    return model_label("in-memory" if isinstance(model, tuple) else str(model), denoiser)


def _spec_version(spec: Any) -> Any:
    """A version/provenance string the spec carries (``ModelSpec.info``), if any."""
    info = getattr(spec, "info", None) or {}
    for name in ("model_version", "version", "source", "run_id"):
        v = info.get(name) if isinstance(info, dict) else None
        if v:
            return v
    return None


def _counts(cfg: SampleConfig, mols: list[MoleculeInput]) -> list[int]:
    """Conformers per molecule: ``per_reference x K`` when K references are known, else ``num_confs``."""
    if cfg.per_reference is None:
        return [cfg.num_confs] * len(mols)
    return [cfg.per_reference * m.n_reference if m.n_reference else cfg.num_confs for m in mols]


def run_sample(
    cfg: SampleConfig,
    model: ModelRef,
    inputs: SampleInputs,
    out_sdf: Path,
    logger: MetricLogger | None = None,
) -> StageResult:
    """Generate conformers for ``inputs`` with ``model`` and write them to ``out_sdf`` (atomically).

    Per-record problems (bad SMILES, unsupported element, too many atoms, conformers that keep
    diverging) are returned in ``StageResult.errors``; raises ``StageError`` only when nothing
    could be generated. Metrics: throughput (conformers/s), counts, stereo correctness before and
    after the mirror guard. ``logger.run_id`` (when present) is written as the ``run_id`` property.
    """
    logger = logger or NullLogger()
    t0 = time.perf_counter()
    out_sdf = Path(out_sdf)
    denoiser, spec, version = load_model(model, cfg.device)
    # a split (from the inputs or the config) only means something for a dataset directory
    is_dataset = inputs.input is not None and Path(inputs.input).is_dir()
    inputs = SampleInputs(list(inputs.smiles), inputs.input, (inputs.split or cfg.split) if is_dataset else None)
    mols, errors = read_inputs(
        inputs,
        seed=cfg.seed,
        enumerate_stereo=cfg.stereo.enumerate_unspecified,
        max_atoms=spec_max_atoms(spec),
        elements=spec_elements(spec),
    )
    if not mols:
        raise StageError(f"no usable molecule in {inputs.describe()}: {len(errors)} error(s); first: {errors[0]}", errors)
    out = generate_detailed(
        [m.mol for m in mols], denoiser, spec, _counts(cfg, mols), cfg, records=[(m.source, f"{m.record} ({m.name})") for m in mols]
    )
    errors += out.errors
    if out.stats.generated == 0:
        raise StageError(f"no conformer could be generated for {inputs.describe()}; first error: {errors[0]}")
    run_id = getattr(logger, "run_id", None)
    label = model_identity(model, denoiser)
    common = {"sampler": cfg.sampler, "steps": cfg.steps, "corrector_passes": cfg.passes, "seed": cfg.seed, "model": label, "model_version": version, "run_id": run_id}
    records = (
        rec
        for mi, gm in zip(mols, out.mols)
        for rec in conformer_records(
            gm, mi.name, {"SMILES": mi.smiles, **common, "stereo_assigned": mi.stereo_assigned}
        )
    )
    n_written = write_sdf(out_sdf, records)
    artifacts = [out_sdf]
    if errors:
        err_path = out_sdf.with_name(out_sdf.stem + ".errors.json")
        write_file_atomic(err_path, json.dumps([e.as_dict() for e in errors], indent=1) + "\n")
        artifacts.append(err_path)
    wall = time.perf_counter() - t0
    metrics = {k: float(v) for k, v in out.stats.metrics().items()}
    metrics.update(
        {
            "input_errors": float(len(errors) - len(out.errors)),
            "records_written": float(n_written),
            "wall_seconds": wall,
            "conformers_per_s_wall": n_written / wall if wall > 0 else float("nan"),
        }
    )
    ds_inputs = []
    if inputs.input is not None:
        from pipeline.hashing import path_hash

        src = Path(inputs.input)
        manifest = src / "manifest.json"
        digest = json.loads(manifest.read_text()).get("dataset_hash", "") if manifest.is_file() else ""
        ds_inputs.append(InputDataset("molecules", str(src), digest or path_hash(src), "input"))
    return StageResult(
        stage="sample",
        outputs={"sdf": out_sdf},
        metrics=metrics,
        artifacts=artifacts,
        inputs=ds_inputs,
        # the passes made (the config's ``corrector_passes`` param may be None: resolved from ``refine``)
        tags={"model_version": version, "model": label, "sampler": cfg.sampler, "corrector_passes": str(cfg.passes)},
        errors=errors,
        extra={"stats": out.stats, "molecules": len(mols)},
    )

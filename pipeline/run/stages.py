"""How ``bondiff run`` calls each stage: the adapters between a :class:`PipelineConfig` and the
stage functions of docs/contracts.md. No logic of their own beyond picking inputs:

=========  ==========================================  ======================
stage      reads (upstream output / config)            writes (in ``ctx.out_dir``)
=========  ==========================================  ======================
ingest     ``inputs.paths``                             ``dataset/``
prior      ingest ``dataset``                           ``prior/``
train      ingest ``dataset``, prior ``prior``          ``model/``, ``checkpoints/``
sample     train ``model_dir`` (else ``model``),        ``conformers.sdf``
           ingest ``dataset`` split (else ``targets``)
validate   sample ``sdf``, reference                    ``report/``
export     sample ``sdf``, validate ``report_dir``      ``<name>.sdf``
=========  ==========================================  ======================

Stage modules are imported inside the adapters, so ``import pipeline.run.chain`` stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.hashing import path_hash
from pipeline.run.config import PipelineConfig
from pipeline.run.state import StageRecord
from pipeline.types import MetricLogger, NullLogger, StageResult

__all__ = ["StageContext", "StageSpec", "DEFAULT_SPECS", "spec_for", "sample_model_ref", "validate_reference"]


@dataclass
class StageContext:
    """What an adapter gets besides the config: a fresh output dir and the upstream records."""

    out_dir: Path
    upstream: dict[str, StageRecord] = field(default_factory=dict)
    force: bool = False
    logger: MetricLogger = field(default_factory=NullLogger)


@dataclass(frozen=True)
class StageSpec:
    """One stage of the chain: its upstream stages, how to call it, and what else its cache key hashes."""

    name: str
    upstream: tuple[str, ...]
    call: Callable[[PipelineConfig, StageContext], StageResult]
    key_material: Callable[[PipelineConfig, dict[str, StageRecord]], list[str]] = lambda cfg, up: []
    registers_model: bool = False


# --- ingest -------------------------------------------------------------------------------------


def _ingest(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    from pipeline.ingest import run_ingest

    return run_ingest(cfg.ingest, list(cfg.inputs.paths), ctx.out_dir / "dataset", force=ctx.force)


def _ingest_key(cfg: PipelineConfig, up: dict[str, StageRecord]) -> list[str]:
    parts = [f"input={path_hash(p)}" if Path(p).exists() else f"missing={p}" for p in cfg.inputs.paths]
    if cfg.ingest.smiles_templates is not None and Path(cfg.ingest.smiles_templates).exists():
        parts.append(f"templates={path_hash(cfg.ingest.smiles_templates)}")
    return parts


# --- prior --------------------------------------------------------------------------------------


def _prior(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    from pipeline.prior import run_prior

    prior_cfg = cfg.prior.model_copy(update={"out_dir": cfg.prior.out_dir or ctx.out_dir / "prior"})
    return run_prior(prior_cfg, ctx.upstream["ingest"].path("dataset"), force=ctx.force)


# --- train --------------------------------------------------------------------------------------


def _train(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    from pipeline.train import run_train

    return run_train(
        cfg.train,
        ctx.upstream["ingest"].path("dataset"),
        ctx.upstream["prior"].path("prior"),
        ctx.out_dir,
        ctx.logger,
    )


# --- sample -------------------------------------------------------------------------------------


def sample_model_ref(cfg: PipelineConfig, up: dict[str, StageRecord]) -> str | None:
    """The model sample uses: this chain's trained model, else ``cfg.model`` (None: the shipped model)."""
    if "train" in up:
        return str(up["train"].path("model_dir"))
    return cfg.model


def _sample_inputs(cfg: PipelineConfig, up: dict[str, StageRecord]):
    from pipeline.sample import SampleInputs

    if cfg.targets.empty:
        return SampleInputs(input=up["ingest"].path("dataset"), split=cfg.sample.split)
    return SampleInputs(smiles=list(cfg.targets.smiles), input=cfg.targets.input, split=cfg.sample.split)


def _sample(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    from pipeline.sample import run_sample

    return run_sample(
        cfg.sample, sample_model_ref(cfg, ctx.upstream), _sample_inputs(cfg, ctx.upstream), ctx.out_dir / "conformers.sdf", ctx.logger
    )


def _sample_key(cfg: PipelineConfig, up: dict[str, StageRecord]) -> list[str]:
    parts = [f"targets={cfg.targets.model_dump_json()}"]
    if cfg.targets.input is not None and Path(cfg.targets.input).exists():
        parts.append(f"targets_input={path_hash(cfg.targets.input)}")
    if "train" not in up:
        ref = cfg.model
        if ref is not None and Path(ref).exists():
            parts.append(f"model={path_hash(ref)}")
        elif ref is not None and ref.startswith("models:/") and ref.rsplit("/", 1)[-1].isdigit():
            parts.append(f"model={ref}")  # a fixed registry version never changes
        else:
            # "latest registered" / an alias / the shipped default can change under us: never reuse
            import uuid

            parts.append(f"model-unpinned={uuid.uuid4().hex}")
    return parts


# --- validate -----------------------------------------------------------------------------------


def validate_reference(cfg: PipelineConfig, up: dict[str, StageRecord]) -> Path | None:
    """``reference`` if given, else the ingested dataset when sample drew its molecules from it."""
    if cfg.reference is not None:
        return cfg.reference
    if cfg.targets.empty and "ingest" in up:
        return up["ingest"].path("dataset")
    return None


def _validate(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    from pipeline.validate import run_validate

    return run_validate(
        cfg.validate_, ctx.upstream["sample"].path("sdf"), validate_reference(cfg, ctx.upstream), ctx.out_dir / "report"
    )


def _validate_key(cfg: PipelineConfig, up: dict[str, StageRecord]) -> list[str]:
    ref = validate_reference(cfg, up)
    if ref is None or "ingest" in up and ref == up["ingest"].path("dataset"):
        return []  # covered by the upstream hashes
    return [f"reference={path_hash(ref)}" if ref.exists() else f"reference-missing={ref}"]


# --- export -------------------------------------------------------------------------------------


def _export(cfg: PipelineConfig, ctx: StageContext) -> StageResult:
    """Export reads a run-like directory: the sample SDF (+ the validate tables when validate ran)."""
    from pipeline.export import run_export

    source = ctx.out_dir / "source"
    source.mkdir()
    (source / "generated.sdf").symlink_to(ctx.upstream["sample"].path("sdf"))
    if "validate" in ctx.upstream:
        _link_validity_table(ctx.upstream["validate"].path("report_dir"), source)
    out = ctx.out_dir / (f"{cfg.name}_conformers" if cfg.export.per_molecule else f"{cfg.name}_conformers.sdf")
    return run_export(cfg.export, source, out)


def _link_validity_table(report_dir: Path, source: Path) -> None:
    """Link validate's per-conformer table (``conformers.parquet``, else ``.csv``; see pipeline.validate.report)."""
    for name in ("conformers.parquet", "conformers.csv"):
        if (report_dir / name).is_file():
            (source / name).symlink_to(report_dir / name)
            return


DEFAULT_SPECS: tuple[StageSpec, ...] = (
    StageSpec("ingest", (), _ingest, _ingest_key),
    StageSpec("prior", ("ingest",), _prior),
    StageSpec("train", ("ingest", "prior"), _train, registers_model=True),
    StageSpec("sample", ("train", "ingest"), _sample, _sample_key),
    StageSpec("validate", ("sample", "ingest"), _validate, _validate_key),
    StageSpec("export", ("sample", "validate"), _export),
)


def spec_for(name: str, specs: tuple[StageSpec, ...] = DEFAULT_SPECS) -> StageSpec:
    for s in specs:
        if s.name == name:
            return s
    raise KeyError(f"unknown stage {name!r}; known: {[s.name for s in specs]}")

"""``PipelineConfig``: one YAML file for ``bondiff run`` and the Airflow DAG.

It composes the stage configs (each section is exactly the stage's own config class, so a
section can be copied to/from ``configs/<stage>.yaml``) with what only the chain needs::

    name: quickstart                 # parent run name
    workdir: bondiff-work/quickstart # stage outputs: <workdir>/<stage>/<key>/ (+ pipeline_state.json)
    stages: [ingest, prior, train, sample, validate, export]   # a contiguous part of the chain
    tracking: {uri: null, experiment: bondiff}
    inputs: {paths: [data/qm9_sample]}          # what ingest reads
    targets: {smiles: [], input: null}          # what sample generates for (default: the dataset's sample.split)
    model: null                                 # model for sample when train is not in `stages`
    reference: null                             # validate reference when ingest is not in `stages`
    ingest: {...}  prior: {...}  train: {...}  sample: {...}  validate: {...}  export: {...}

Relative paths are resolved against a base directory (the current directory for ``bondiff run``,
the project root for the DAG) by :meth:`PipelineConfig.resolved`, so the same file works from
anywhere. ``tracking.uri: null`` means ``$MLFLOW_TRACKING_URI`` or ``<base>/mlflow.db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, model_validator

from pipeline.config import StrictModel, load_config
from pipeline.export.config import ExportConfig
from pipeline.ingest.config import IngestConfig
from pipeline.prior.config import PriorConfig
from pipeline.sample.config import SampleConfig
from pipeline.train.config import TrainConfig
from pipeline.validate.config import ValidateConfig

__all__ = [
    "STAGES",
    "StageName",
    "TrackingSection",
    "InputsSection",
    "TargetsSection",
    "PipelineConfig",
    "load_pipeline_config",
]

STAGES: tuple[str, ...] = ("ingest", "prior", "train", "sample", "validate", "export")
StageName = Literal["ingest", "prior", "train", "sample", "validate", "export"]


class TrackingSection(StrictModel):
    """Where runs go. ``uri: null``: ``$MLFLOW_TRACKING_URI``, else ``<base>/mlflow.db`` (+ ``<base>/mlartifacts``)."""

    uri: str | None = None
    experiment: str = "bondiff"


class InputsSection(StrictModel):
    """Files/directories the ingest stage reads (xyz, SDF, reference-set dirs); may be empty with ``ingest.qm9``."""

    paths: list[Path] = Field(default_factory=list)


class TargetsSection(StrictModel):
    """Molecules the sample stage generates conformers for.

    Empty (the default): the molecules of the ingested dataset's ``sample.split`` (then validate
    compares against their conformers). Otherwise SMILES (``"SMILES name"``) and/or one file
    (``.smi``, ``.sdf``, or a dataset dir).
    """

    smiles: list[str] = Field(default_factory=list)
    input: Path | None = None

    @property
    def empty(self) -> bool:
        return not self.smiles and self.input is None


class PipelineConfig(StrictModel):
    """The whole chain; every section is validated on load."""

    name: str = "bondiff"
    workdir: Path = Path("bondiff-work/run")
    stages: list[StageName] = Field(default_factory=lambda: list(STAGES))
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    inputs: InputsSection = Field(default_factory=InputsSection)
    targets: TargetsSection = Field(default_factory=TargetsSection)
    model: str | None = Field(
        None, description="model for sample when train is not run: a model dir, a checkpoint, models:/..., 'latest' (latest registered) or null (the shipped model)"
    )
    reference: Path | None = Field(None, description="reference conformers for validate (a dataset or reference-set dir)")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    prior: PriorConfig = Field(default_factory=PriorConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    export: ExportConfig = Field(default_factory=ExportConfig)

    model_config = StrictModel.model_config | {"validate_by_name": True, "validate_by_alias": True, "serialize_by_alias": True}

    @model_validator(mode="after")
    def _chain(self) -> "PipelineConfig":
        if not self.stages:
            raise ValueError("stages: give at least one stage")
        idx = [STAGES.index(s) for s in self.stages]
        if idx != list(range(idx[0], idx[0] + len(idx))):
            raise ValueError(f"stages must be a contiguous part of {list(STAGES)} in that order (got {self.stages})")
        if "ingest" in self.stages and not self.inputs.paths and not self.ingest.qm9:
            raise ValueError("inputs.paths is empty and ingest.qm9 is off: ingest has nothing to read")
        first = self.stages[0]
        if first in ("prior", "train"):
            raise ValueError(f"a chain starting at {first!r} needs a dataset: start at ingest")
        if first == "sample" and self.targets.empty:
            raise ValueError("a chain starting at sample needs targets.smiles or targets.input")
        if first in ("validate", "export"):
            raise ValueError(f"a chain starting at {first!r} needs a sample stage before it")
        return self

    def section(self, stage: str) -> StrictModel:
        """The config of ``stage`` (what its run logs and its cache key hashes)."""
        return self.validate_ if stage == "validate" else getattr(self, stage)

    def resolved(self, base_dir: str | Path) -> "PipelineConfig":
        """A copy with every relative path made absolute against ``base_dir``."""
        base = Path(base_dir).resolve()

        def fix(p: Path | None) -> Path | None:
            return None if p is None else (p if Path(p).is_absolute() else base / p)

        out = self.model_copy(deep=True)
        out.workdir = fix(out.workdir)
        out.inputs.paths = [fix(p) for p in out.inputs.paths]
        out.targets.input = fix(out.targets.input)
        out.reference = fix(out.reference)
        out.ingest.smiles_templates = fix(out.ingest.smiles_templates)
        out.prior.out_dir = fix(out.prior.out_dir)
        out.validate_.cache_dir = str(fix(Path(out.validate_.cache_dir)))
        if out.model and not out.model.startswith("models:/") and not Path(out.model).is_absolute():
            out.model = str(base / out.model)
        return out


def load_pipeline_config(
    path: str | Path | None, overrides: Sequence[str] = (), base_dir: str | Path | None = None
) -> PipelineConfig:
    """Load + validate a pipeline YAML (with ``a.b=v`` overrides) and resolve its paths against ``base_dir`` (default cwd)."""
    cfg = load_config(PipelineConfig, path, overrides)
    return cfg.resolved(base_dir if base_dir is not None else Path.cwd())

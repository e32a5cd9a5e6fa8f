"""Typed configuration of the drug-like training-data builder (``bondiff build-data``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import StrictModel

__all__ = [
    "SourceConfig",
    "SelectionConfig",
    "ConformerConfig",
    "XtbConfig",
    "ExclusionConfig",
    "SplitConfig",
    "BuildConfig",
]


class SourceConfig(StrictModel):
    """Where the drug-like SMILES come from: a data file carried by a PyPI package.

    The default is the MOSES training set shipped in the ``molsets`` wheel
    (``moses/dataset/data/train.csv.gz``, 1.58 M neutral, stereo-free SMILES).
    ``archive`` points at the downloaded wheel/sdist or the directory it was downloaded to
    (``pip download molsets==0.3.1 --no-deps -d ~/.cache/bondiff/sources``, the default place);
    when it is null the installed distribution is used. Nothing is downloaded at run time.
    """

    package: str = "molsets"
    version: str | None = "0.3.1"  # checked against the archive / installed distribution when set
    member: str = "moses/dataset/data/train.csv.gz"  # path of the data file inside the package
    column: str = "SMILES"  # CSV column holding the SMILES
    # the package archive (.whl / .tar.gz), or a directory holding <package>-<version>*.whl;
    # null: the installed distribution's file
    archive: str | None = "~/.cache/bondiff/sources"


class SelectionConfig(StrictModel):
    """Which molecules to build: a seeded, order-independent pick from the source plus cheap filters."""

    n_molecules: int = Field(1000, ge=1)
    seed: int = 0
    elements: list[str] = ["H", "C", "N", "O", "F", "S", "Cl", "Br"]
    min_heavy_atoms: int = Field(8, ge=1)
    max_heavy_atoms: int = Field(35, ge=1)
    max_rotatable_bonds: int = Field(10, ge=0)
    max_unassigned_stereo: int = Field(4, ge=0)  # more unassigned centres/bonds: skipped (too many isomers)
    analogue: str | None = Field(
        None, description="rewrite one group of each source molecule first (pipeline.builder.analogues; 'phosphorus'); unset: the source as it is"
    )

    @model_validator(mode="after")
    def _check_range(self) -> "SelectionConfig":
        if self.min_heavy_atoms > self.max_heavy_atoms:
            raise ValueError("min_heavy_atoms > max_heavy_atoms")
        if self.analogue is not None:
            from pipeline.builder.analogues import ANALOGUE_RULES

            if self.analogue not in ANALOGUE_RULES:
                raise ValueError(f"analogue {self.analogue!r}: known kinds are {', '.join(sorted(ANALOGUE_RULES))}")
        return self


class ConformerConfig(StrictModel):
    """ETKDGv3 embedding, MMFF94 relaxation, then pruning by energy window and heavy-atom RMSD.

    The number of embeddings is ``num_embed`` when ``embed_per_rotor`` is 0 (builder recipe v1);
    otherwise it scales with the molecule's rotatable bonds R (RDKit's strict definition, heavy
    atoms): ``min(num_embed, min_embed + embed_per_rotor * R)``, since a rigid molecule's ensemble
    saturates after a few embeddings (measured: docs/training-data.md).
    """

    num_embed: int = Field(30, ge=1)  # ETKDG attempts per molecule (the cap when embed_per_rotor > 0)
    embed_per_rotor: int = Field(0, ge=0)  # 0: always num_embed; else min_embed + this * rotatable bonds
    min_embed: int = Field(10, ge=1)  # embeddings of a molecule without rotatable bonds (embed_per_rotor > 0)
    embed_prune_rms: float = Field(0.1, ge=0.0)  # ETKDG's own pruning of near-duplicates (Å)
    threads: int = Field(1, ge=0)  # RDKit threads for embedding and MMFF (0: all cores); the result does not depend on it
    # A first single embedding within this many seconds probes the stereoisomer: impossible ones
    # (e.g. bridged bicycles with an infeasible bridgehead pair) fail fast and the next isomer is
    # tried, instead of ETKDG retrying for minutes. The full embedding gets num_embed times this.
    embed_timeout_s: int = Field(3, ge=1)
    mmff_variant: Literal["MMFF94", "MMFF94s"] = "MMFF94s"
    mmff_max_iters: int = Field(2000, ge=1)
    energy_window_kcal: float = Field(10.0, gt=0.0)  # keep conformers within this of the minimum
    rmsd_threshold: float = Field(0.5, ge=0.0)  # heavy-atom, symmetry-aware, no reflection (Å)
    max_conformers: int = Field(10, ge=1)  # keep at most this many, lowest energy first
    check_stereo: bool = True  # drop conformers whose 3D stereo differs from the assigned SMILES


class XtbConfig(StrictModel):
    """Optional GFN2-xTB refinement of the kept conformers with ``tblite`` (extra ``xtb``)."""

    enabled: bool = False
    method: Literal["GFN2-xTB", "GFN1-xTB"] = "GFN2-xTB"
    max_steps: int = Field(200, ge=0)  # L-BFGS steps per conformer (0: single point only)
    gtol: float = Field(5e-4, gt=0.0)  # max |gradient| in Hartree/Bohr at convergence
    accuracy: float = Field(1.0, gt=0.0)
    threads: int = Field(1, ge=1)  # OpenMP threads per worker (more than the free cores makes tblite crawl)


class ExclusionConfig(StrictModel):
    """Reference sets whose molecules (and anything identical to them) never enter the training data.

    Each directory holds ``molecules.smi`` (``SMILES NAME``) as in ``hutchison_dev``. Identity is
    the canonical isomeric SMILES *or* the first block of the InChIKey (skeleton: stereo-,
    isotope- and protonation-free), so a neutral MOSES amine matches a protonated reference.
    Directories that do not exist are reported and skipped; ``require_one`` makes it an error when
    none exists.
    """

    reference_dirs: list[str] = ["../shared/data/hutchison_dev", "data/hutchison_dev"]
    require_one: bool = True


class SplitConfig(StrictModel):
    """Deterministic split by a hash of the canonical SMILES (conformers never straddle splits)."""

    val_fraction: float = Field(0.05, ge=0.0, le=1.0)
    test_fraction: float = Field(0.05, ge=0.0, le=1.0)
    salt: str = "bondiff-build"

    @model_validator(mode="after")
    def _check_sum(self) -> "SplitConfig":
        if self.val_fraction + self.test_fraction > 1.0:
            raise ValueError("val_fraction + test_fraction > 1")
        return self


class BuildConfig(StrictModel):
    """Everything that defines a built dataset (its hash is recorded in the manifest recipe)."""

    name: str = "drugs"
    seed: int = 0  # per-molecule RNG seeds derive from (seed, canonical SMILES)
    source: SourceConfig = SourceConfig()
    selection: SelectionConfig = SelectionConfig()
    conformers: ConformerConfig = ConformerConfig()
    xtb: XtbConfig = XtbConfig()
    exclusion: ExclusionConfig = ExclusionConfig()
    split: SplitConfig = SplitConfig()
    workers: int = Field(2, ge=1, description="worker processes; each uses one core")
    chunk_size: int = Field(4, ge=1)  # molecules per task handed to a worker

"""Typed configuration of the export stage (``bondiff export``)."""

from __future__ import annotations

from pydantic import Field

from pipeline.config import StrictModel

__all__ = ["ExportConfig"]


class ExportConfig(StrictModel):
    """Which conformers to write and how."""

    only_valid: bool = Field(False, description="write only conformers that passed validation (their validation row says valid)")
    per_molecule: bool = Field(False, description="one SDF per molecule in the output (--out) directory")
    sdf_name: str | None = Field(None, description="which SDF of the source to export (when it holds several)")
    table_name: str | None = Field(None, description="which per-conformer validation table to use (when several)")
    add_validation: bool = Field(True, description="add a `valid` property (and `failed_checks`) when a table exists")

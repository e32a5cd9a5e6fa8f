"""Small config models with every kind of field a flag or a typed value can set (tests of pipeline.config
and of the command-line flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import StrictModel

__all__ = ["Section", "WithSection"]


class Section(StrictModel):
    delta: float = Field(0.75, gt=0, description="coverage threshold in Å")
    tags: list[str] = Field(default_factory=lambda: ["a", "b"], description="tags to keep")


class WithSection(StrictModel):
    steps: int = Field(10, ge=1, description="solver steps")
    mode: Literal["fast", "slow"] = Field("fast", description="how to run")
    progress: bool = Field(True, description="show a progress bar")
    window: float | None = Field(None, gt=0, description="energy window")
    inner: Section = Field(default_factory=Section)

    @model_validator(mode="after")
    def _window_needs_slow(self) -> "WithSection":
        if self.window is not None and self.mode == "fast":
            raise ValueError("window needs mode slow")
        return self

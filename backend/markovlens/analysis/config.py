"""Analysis configuration and its presets (quick / standard / full)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PresetName = Literal["quick", "standard", "full"]


class AnalysisConfig(BaseModel):
    """Every knob of one analysis job. Validated at the API boundary and in the worker."""

    model_config = ConfigDict(extra="forbid")

    preset: PresetName = "standard"
    seed: int = Field(default=0, ge=0)
    window_len: int = Field(default=256, ge=8, le=8192, description="Tokens per corpus window.")
    max_tokens: int = Field(default=16_384, ge=64, description="Tokens of corpus analysed.")
    batch_size: int | None = Field(default=None, ge=1, description="None: adapt to memory.")
    bootstrap_samples: int = Field(default=1000, ge=50, le=100_000)


_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"window_len": 128, "max_tokens": 4096, "bootstrap_samples": 200},
    "standard": {"window_len": 256, "max_tokens": 16_384},
    "full": {"window_len": 1024, "max_tokens": 262_144},
}


def preset_config(preset: PresetName = "standard", **overrides: Any) -> AnalysisConfig:
    """The preset's values with ``overrides`` on top (all validated)."""
    if preset not in _PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(_PRESETS)}")
    values: dict[str, Any] = {**_PRESETS[preset], **overrides, "preset": preset}
    return AnalysisConfig(**values)

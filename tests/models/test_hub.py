"""hf: sources against a loopback stand-in for the Hub: offline errors are fast and readable."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from markovlens.models import ModelLoadError, inspect_model, load_model
from markovlens.models.hub import HubUnreachableError, with_deadline

from tests.models.fake_hub import closed_port_endpoint, fake_hub, silent_hub


def timed_refusal(source: str, settings) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        load_model(source, settings)
    return str(info.value), time.monotonic() - start


def test_offline_flag_fails_at_once(monkeypatch, settings):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    message, seconds = timed_refusal("hf:HuggingFaceTB/SmolLM2-135M", settings)
    assert message.startswith("Hugging Face Hub unreachable (HF_HUB_OFFLINE is set)")
    assert "use local: or gguf:" in message
    assert seconds < 1.0


def test_connection_refused_is_fast_and_readable(hub_endpoint, settings):
    hub_endpoint(closed_port_endpoint())
    message, seconds = timed_refusal("hf:gpt2", settings)
    assert message.startswith("Hugging Face Hub unreachable")
    assert "use local: or gguf:" in message
    assert seconds < 5.0


def test_a_hung_hub_times_out(hub_endpoint, settings):
    with silent_hub() as url:
        hub_endpoint(url, timeout=1.0)
        start = time.monotonic()
        with pytest.raises(HubUnreachableError) as info:
            inspect_model("hf:gpt2@main", settings)
        seconds = time.monotonic() - start
    # The client's read timeout or the backstop deadline fires first; both say "unreachable".
    assert str(info.value).startswith("Hugging Face Hub unreachable (")
    assert "use local: or gguf:" in str(info.value)
    assert seconds < 5.0


def test_deadline_backstop_for_calls_that_ignore_timeouts():
    start = time.monotonic()
    with pytest.raises(HubUnreachableError, match=r"no answer within 0.3 s\) while probing"):
        with_deadline(lambda: time.sleep(3), "probing", timeout=0.3)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("hf:gated/repo", "the repository is gated; accept its licence"),
        ("hf:missing/repo", "repository not found, or private (set HF_TOKEN"),
        ("hf:pickle/only", "pickle weights are refused: convert to safetensors"),
        ("random-init:hf:gated/repo", "the repository is gated"),
    ],
)
def test_hub_answers_become_readable_errors(hub_endpoint, settings, source, expected):
    with fake_hub() as url:
        hub_endpoint(url)
        message, seconds = timed_refusal(source, settings)
    assert expected in message
    assert seconds < 5.0


@pytest.fixture
def served(monkeypatch, tiny_model_dirs, tmp_path):
    """Serve checkpoints through the fake Hub: repo id -> directory."""
    from tests.models import fake_hub

    monkeypatch.setattr(fake_hub, "REQUESTS", [])

    def serve(repo: str, directory: Path) -> list[str]:
        monkeypatch.setitem(fake_hub.SERVED, repo, directory)
        return fake_hub.REQUESTS

    return serve


def weight_downloads(requests: list[str]) -> list[str]:
    return [r for r in requests if r.startswith("GET") and r.endswith(".safetensors")]


def test_hf_model_loads_pinned_to_the_commit(hub_endpoint, served, settings, tiny_model_dirs):
    from tests.models.fake_hub import SHA
    from tests.models.test_loading import expected_hash, saved_tensors

    directory = tiny_model_dirs["gpt2"]
    requests = served("tiny/gpt2", directory)
    with fake_hub() as url:
        hub_endpoint(url)
        loaded = load_model("hf:tiny/gpt2", settings)
        inspected = inspect_model("hf:tiny/gpt2", settings)
    assert loaded.meta.revision == SHA  # "main" resolved to the commit sha
    assert loaded.meta.source == "hf:tiny/gpt2"
    assert loaded.meta.architecture == "GPT2LMHeadModel"
    # The hash from the Hub's LFS sha256s equals the hash of the same files on disk.
    assert loaded.meta.content_hash == expected_hash(directory)
    assert inspected == loaded.meta
    assert loaded.tokenizer is not None
    state, tensors = loaded.model.state_dict(), saved_tensors(directory)
    assert all(torch.equal(state[name], tensors[name]) for name in tensors if name in state)
    # Every file was fetched at the pinned commit, never at a moving branch.
    resolves = [r for r in requests if "/resolve/" in r]
    assert resolves and all(f"/resolve/{SHA}/" in r for r in resolves)


def test_hf_remote_code_refused_before_any_weights(
    hub_endpoint, served, settings, tiny_model_dirs, tmp_path
):
    directory = tmp_path / "remote"
    shutil.copytree(tiny_model_dirs["llama"], directory)
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (directory / "config.json").write_text(json.dumps(config))
    requests = served("evil/remote", directory)
    with fake_hub() as url:
        hub_endpoint(url)
        message, _ = timed_refusal("hf:evil/remote", settings)
    assert "hf:evil/remote needs remote code" in message
    assert weight_downloads(requests) == []


def test_random_init_hf_downloads_no_weights(hub_endpoint, served, settings, tiny_model_dirs):
    requests = served("tiny/neox", tiny_model_dirs["gpt_neox"])
    with fake_hub() as url:
        hub_endpoint(url)
        loaded = load_model("random-init:hf:tiny/neox", settings)
    assert loaded.meta.revision.startswith("random-init(seed=0)/")
    assert loaded.meta.architecture == "GPTNeoXForCausalLM"
    assert weight_downloads(requests) == []

"""hf: sources against a loopback stand-in for the Hub: offline errors are fast and readable."""

from __future__ import annotations

import time

import pytest
from huggingface_hub import constants
from markovlens.models import ModelLoadError, inspect_model, load_model
from markovlens.models.hub import HubUnreachableError

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
        with pytest.raises(HubUnreachableError) as info:
            start = time.monotonic()
            inspect_model("hf:gpt2@main", settings)
        seconds = time.monotonic() - start
    assert "no answer within 1 s" in str(info.value)
    assert "use local: or gguf:" in str(info.value)
    assert seconds < 5.0


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

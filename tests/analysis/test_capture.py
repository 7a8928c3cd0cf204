"""The capture pass: hooks copy the right rows, statistics match a direct computation, batching
adapts without changing a number, and contexts are sampled as promised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.analysis.architecture import introspect
from markovlens.analysis.capture import capture_pass, sample_contexts
from markovlens.analysis.entropy import token_stats
from transformers import AutoModelForCausalLM


def _load(path: Path) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def _windows(n: int = 6, t: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 384, (n, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox", "gemma2"])
def test_hooks_capture_the_sampled_rows_of_every_layer(
    tiny_model_dirs: dict[str, Path], arch: str
) -> None:
    model = _load(tiny_model_dirs[arch])
    found = introspect(model)
    windows = _windows()
    plan = sample_contexts(6, 40, 50, min_position=2, horizon=3, seed=1)
    out = capture_pass(model, windows, found, [0, 1, 2], plan, batch_size=4)
    with torch.no_grad():
        ref = model(input_ids=windows, output_hidden_states=True)
    w, t = plan.window_index, plan.position
    # transformers' hidden_states[ℓ] for ℓ < L is the residual stream after block ℓ; its last
    # entry has the final norm applied, so ℓ = L is checked through the head instead.
    for layer in (0, 1):
        assert torch.allclose(out.hidden[layer], ref.hidden_states[layer][w, t], atol=1e-5)
    assert torch.allclose(found.head.logits(out.hidden[2]), ref.logits[w, t], atol=1e-4)
    assert torch.allclose(out.fidelity_logits, ref.logits[w, t][: out.fidelity_logits.shape[0]])


def test_token_statistics_equal_a_direct_computation(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["llama"])
    windows = _windows()
    plan = sample_contexts(6, 40, 20, min_position=0, horizon=1, seed=0)
    out = capture_pass(model, windows, introspect(model), [2], plan, batch_size=2)
    with torch.no_grad():
        direct = token_stats(model(input_ids=windows).logits[:, :-1], windows[:, 1:])
    for name in ("nll", "entropy", "gini", "top1_hit", "top1_conf"):
        np.testing.assert_allclose(
            out.token_arrays[name], getattr(direct, name).numpy(), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_array_equal(out.token_arrays["argmax"], direct.argmax.numpy())


def test_batch_size_and_oom_retries_do_not_change_results(
    tiny_model_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _load(tiny_model_dirs["gpt2"])
    found = introspect(model)
    windows = _windows(n=7)
    plan = sample_contexts(7, 40, 60, min_position=1, horizon=2, seed=2)
    one = capture_pass(model, windows, found, [0, 1, 2], plan, batch_size=1)

    original = model.forward
    calls = {"oom": 0}

    def flaky(*args: object, **kwargs: object) -> object:
        ids = kwargs["input_ids"]
        assert isinstance(ids, torch.Tensor)
        if ids.shape[0] > 2:
            calls["oom"] += 1
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", flaky)
    adapted = capture_pass(model, windows, found, [0, 1, 2], plan, batch_size=7)
    assert (calls["oom"] == 2 and adapted.batch_size == 1) or adapted.batch_size == 2
    assert adapted.oom_retries == calls["oom"]
    for layer in (0, 1, 2):
        assert torch.allclose(one.hidden[layer], adapted.hidden[layer], atol=1e-5)
    np.testing.assert_allclose(one.token_arrays["nll"], adapted.token_arrays["nll"], atol=1e-5)


def test_a_non_oom_error_is_not_swallowed(
    tiny_model_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _load(tiny_model_dirs["gpt2"])

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(model, "forward", broken)
    plan = sample_contexts(3, 40, 10, min_position=1, horizon=2, seed=2)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        capture_pass(model, _windows(n=3), introspect(model), [2], plan, batch_size=3)


def test_progress_is_reported_during_the_pass(tiny_model_dirs: dict[str, Path]) -> None:
    model = _load(tiny_model_dirs["llama"])
    seen: list[float] = []
    plan = sample_contexts(6, 40, 20, min_position=0, horizon=1, seed=0)
    import markovlens.analysis.capture.corpus_pass as capture_mod

    # Every block tick reports when the rate limit is lifted.
    original = capture_mod.time.perf_counter
    clock = iter(range(0, 10_000))
    capture_mod.time.perf_counter = lambda: float(next(clock))  # type: ignore[assignment]
    try:
        capture_pass(
            model, _windows(), introspect(model), [2], plan, batch_size=2,
            progress=lambda f, s: seen.append(f),
        )  # fmt: skip
    finally:
        capture_mod.time.perf_counter = original  # type: ignore[assignment]
    assert len(seen) == 6  # 3 batches × 2 blocks
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_sampled_contexts_are_spread_bounded_and_split_by_window() -> None:
    plan = sample_contexts(10, 64, 203, min_position=8, horizon=4, seed=5)
    w, t = plan.window_index.numpy(), plan.position.numpy()
    assert len(w) == 203
    counts = np.bincount(w, minlength=10)
    assert counts.max() - counts.min() <= 1  # as even as possible
    assert t.min() >= 8 and t.max() + 4 <= 63  # every future token y_{t+3} = x_{t+4} exists
    pairs = set(zip(w.tolist(), t.tolist(), strict=True))
    assert len(pairs) == 203  # no context twice
    assert (np.diff(w) >= 0).all()
    split = plan.split.numpy()
    for window in range(10):
        assert len(set(split[w == window].tolist())) == 1  # a window sits in one split
    assert {0, 1, 2} <= set(split.tolist())
    again = sample_contexts(10, 64, 203, min_position=8, horizon=4, seed=5)
    assert torch.equal(again.position, plan.position)  # the seed fixes everything


def test_sampling_errors_are_readable() -> None:
    with pytest.raises(ValueError, match="larger than the corpus allows"):
        sample_contexts(4, 32, 1000, min_position=8, horizon=4, seed=0)
    with pytest.raises(ValueError, match="at least 3"):
        sample_contexts(2, 32, 10, min_position=0, horizon=1, seed=0)
    with pytest.raises(ValueError, match="no context position"):
        sample_contexts(4, 10, 1, min_position=8, horizon=4, seed=0)

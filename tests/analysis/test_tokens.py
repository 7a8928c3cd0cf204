"""The token view's data: top-k next tokens from the capture pass, the lens's top-1 by layer,
token ids and a vocabulary table in the arrays, and one window's view built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.analysis.head import HeadSpec
from markovlens.analysis.lens import check_fidelity, lens_suite
from markovlens.analysis.pipeline import run_analysis
from markovlens.analysis.tokens import (
    TOPK,
    TokenViewError,
    dequantize_probs,
    quantize_probs,
    symbol_name,
    token_storage_bytes,
    vocabulary_table,
    window_view,
)
from markovlens.schema.config import preset_config
from markovlens.schema.result import CorpusMeta, ModelMeta
from markovlens.store.arrays import pack_arrays, unpack_arrays
from torch import nn
from transformers import AutoModelForCausalLM

N_WIN, T = 6, 40


def _analyse(model_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    windows = torch.randint(3, 384, (N_WIN, T), generator=torch.Generator().manual_seed(0))
    values: dict[str, object] = {
        "window_len": T, "max_tokens": N_WIN * T, "n_contexts": 60, "min_position": 2,
        "bootstrap_samples": 50, "run_surplus": False, "run_spectral": False,
    }  # fmt: skip
    values.update(overrides)
    meta = CorpusMeta(source="test", hash="h", num_windows=N_WIN, window_len=T,
                      num_tokens=N_WIN * T)  # fmt: skip
    config = preset_config("quick", **values)
    out = run_analysis(model, windows, config, ModelMeta(source="m"), meta)
    return model, windows, out


def test_top_k_is_the_models_own_top_k_with_probabilities_rounded_down(
    tiny_model_dirs: dict[str, Path],
) -> None:
    model, windows, out = _analyse(tiny_model_dirs["llama"])
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=windows).logits[:, :-1].double(), -1)
    top_p, top_i = probs.topk(TOPK, -1)
    ids, stored = out.arrays["topk_ids"], out.arrays["topk_probs_q16"]
    assert ids.shape == (N_WIN, T - 1, TOPK) and stored.dtype == np.uint16
    np.testing.assert_array_equal(ids, top_i.numpy())
    p = dequantize_probs(stored)
    # Rounded down to the 1/65535 grid: never above the true value, never more than a step below.
    assert np.all(p <= top_p.numpy() + 1e-7)
    assert np.all(top_p.numpy() - p < 1 / 65535 + 1e-6)
    assert np.all(p.sum(-1) <= 1.0)
    np.testing.assert_array_equal(out.arrays["token_ids"], windows.numpy())


def test_rounding_down_keeps_every_top_k_at_most_one_where_rounding_to_nearest_does_not() -> None:
    # One token holds almost all the mass; four share the rest just above half a grid step.
    eps = 0.6 / 65535
    probs = torch.tensor([[1 - 4 * eps, eps, eps, eps, eps]], dtype=torch.float64)
    assert float(dequantize_probs(quantize_probs(probs).numpy()).sum()) <= 1.0
    nearest = torch.round(probs * 65535) / 65535  # the broken quantiser
    assert float(nearest.sum()) > 1.0


def test_lens_top1_by_layer_on_a_constructed_head() -> None:
    head = HeadSpec(norm=nn.Identity(), unembed=torch.eye(4))  # logits = hidden state
    last = torch.tensor([[4.0, 0, 0, 0], [0, 0, 3.0, 0]])
    early = torch.tensor([[0, 0, 0, 2.0], [0, 1.0, 0, 0]])
    fid = check_fidelity(head, last, last, 1e-4)
    _suite, arrays = lens_suite({0: early, 3: last}, head, torch.tensor([0, 2]), fid, h_y=1.0)
    np.testing.assert_array_equal(arrays["lens_top1"], [[3, 1], [0, 2]])
    expected = torch.softmax(torch.stack([early, last]), -1).amax(-1).numpy()
    np.testing.assert_allclose(arrays["lens_top1_prob"], expected, rtol=1e-6)


def test_window_view_puts_each_quantity_on_the_token_the_prediction_was_made_at(
    tiny_model_dirs: dict[str, Path],
) -> None:
    _model, windows, out = _analyse(tiny_model_dirs["gpt2"])
    arrays = dict(out.arrays)
    n, m = len(arrays["context_window"]), 60
    assert n == m
    arrays["surplus_gain_j1"] = np.linspace(-1, 1, n).astype(np.float32)
    arrays.update(vocabulary_table(arrays, lambda i: f"<{i}>"))
    arrays = unpack_arrays(pack_arrays(arrays))  # through the storage path
    w = int(arrays["context_window"][0])
    view = window_view(arrays, w)
    assert view.tokens == [f"<{i}>" for i in windows[w].tolist()] and view.decoded
    # Token t carries the prediction made after reading it (of token t+1); the last has none.
    assert view.values["nll"][:-1] == pytest.approx(arrays["nll"][w].tolist(), rel=1e-6)
    assert view.values["nll"][-1] is None and view.topk[-1][0].id == arrays["topk_ids"][w, -1, 0]
    gap = np.asarray(view.values["nll_minus_entropy"][:-1], dtype=float)
    np.testing.assert_allclose(gap, arrays["nll"][w] - arrays["entropy"][w], rtol=1e-5, atol=1e-6)
    assert len(view.topk) == T - 1 and all(sum(t.prob for t in row) <= 1.0 for row in view.topk)
    assert view.topk[3][0].text == f"<{view.topk[3][0].id}>"
    # Sampled contexts: lens KL per layer and the probe gain sit at their positions only.
    rows = np.flatnonzero(arrays["context_window"] == w)
    positions = arrays["context_position"][rows]
    assert [c.position for c in view.sampled] == positions.tolist()
    layers = arrays["lens_layers"].tolist()
    assert view.lens_layers == layers and len(view.sampled[0].lens_top1) == len(layers)
    key = f"lens_kl_l{layers[0]}"
    kl = view.values[key]
    assert [i for i, v in enumerate(kl) if v is not None] == sorted(positions.tolist())
    assert kl[positions[0]] == pytest.approx(float(arrays["lens_kl_to_last"][0, rows[0]]))
    gain = view.values["surplus_gain_j1"]
    assert gain[positions[0]] == pytest.approx(float(arrays["surplus_gain_j1"][rows[0]]))
    # Scales: shared by every window, the 1st–99th percentile for NLL (values beyond take the
    # end colours, and the scale says so), symmetric around 0 for differences.
    nll = arrays["nll"]
    scale = view.scales["nll"]
    assert (scale.low, scale.high) == pytest.approx(tuple(np.percentile(nll, [1, 99])), rel=1e-6)
    assert scale.clipped_low and scale.clipped_high
    assert view.scales["surplus_gain_j1"].low == -view.scales["surplus_gain_j1"].high
    assert window_view(arrays, (w + 1) % N_WIN).scales["nll"] == view.scales["nll"]


def test_window_view_refuses_old_results_and_windows_out_of_range(
    tiny_model_dirs: dict[str, Path],
) -> None:
    _model, _windows, out = _analyse(tiny_model_dirs["llama"])
    with pytest.raises(TokenViewError, match="out of range"):
        window_view(out.arrays, N_WIN)
    old = {k: v for k, v in out.arrays.items() if k != "token_ids"}
    with pytest.raises(TokenViewError, match="re-run"):
        window_view(old, 0)
    # Without a vocabulary table the ids are shown, and the view says so.
    view = window_view(out.arrays, 0)
    assert not view.decoded and view.tokens[0].startswith("#")
    assert any("by id" in note for note in view.notes)


def test_symbol_names_match_the_lab_tokenizer() -> None:
    from markovlens.lab.trainer import symbol_tokenizer

    tok = symbol_tokenizer(12)
    assert [symbol_name(i) for i in range(12)] == [tok.decode([i]) for i in range(12)]


def test_stored_size_per_token_is_bounded(tiny_model_dirs: dict[str, Path]) -> None:
    _model, _windows, out = _analyse(tiny_model_dirs["llama"])
    arrays = dict(out.arrays)
    arrays.update(vocabulary_table(arrays, str))
    tokens = N_WIN * T
    # top-k: 5 × (4 + 2) bytes per scored token; ids 4 bytes per token; lens 8 bytes per
    # (layer, context); the vocabulary table at most the ids in use.
    table = arrays["vocab_text"].nbytes + arrays["vocab_ids"].nbytes
    per_token = token_storage_bytes(arrays) - table
    layers = len(arrays["lens_layers"])
    assert per_token == N_WIN * (T - 1) * TOPK * 6 + tokens * 4 + layers * 60 * 8

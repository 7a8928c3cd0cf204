"""``markovlens analyze``: local analysis, no server, no database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from markovlens.cli import LIFT_LABEL, PROTO_LIFT_LABEL, app, provenance_line, summary_rows
from markovlens.corpora import resolve_corpus
from markovlens.schema.result import AnalysisResult
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

runner = CliRunner()
SMALL = [
    *("--set", "window_len=32", "--set", "max_tokens=512"),
    *("--set", "bootstrap_samples=50", "--set", "n_contexts=64"),
    # The CLI is under test here, not the surplus/spectral suites (tested in tests/analysis).
    *("--set", "run_surplus=false", "--set", "run_spectral=false"),
]


def test_analyze_tiny_model_writes_json_and_arrays(
    tiny_model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model_dir = tiny_model_dirs["llama"]
    out = tmp_path / "out" / "result.json"
    args = ["analyze", "--model", f"local:{model_dir}", "--corpus", "builtin:python-docs"]
    result = runner.invoke(app, [*args, "--preset", "quick", *SMALL, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for label in ("mean NLL", "mean entropy", "calibration gap", "perplexity", "top-1 accuracy"):
        assert label in result.stdout

    document = json.loads(out.read_text())
    summary = document["entropy"]["summary"]
    config = document["provenance"]["config"]
    assert (config["preset"], config["window_len"], config["max_tokens"]) == ("quick", 32, 512)
    assert summary["num_tokens"] == 16 * 31  # 512 // 32 windows, 31 predictions each
    arrays = np.load(out.with_suffix(".npz"))
    assert arrays["nll"].size == summary["num_tokens"]

    # Known answer: the mean NLL equals PyTorch's cross-entropy of the same model on the same
    # windows, computed here without any markovlens code in the loop.
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    windows = resolve_corpus(
        "builtin:python-docs", tokenizer, window_len=32, max_tokens=512, seed=0
    ).windows
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        logits = model(input_ids=windows).logits[:, :-1]
        expected = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), windows[:, 1:].reshape(-1)
        ).item()
    assert summary["mean_nll"]["estimate"] == pytest.approx(expected, rel=1e-4)
    assert summary["mean_nll"]["low"] <= expected <= summary["mean_nll"]["high"]
    # A random 384-token model is close to uniform: NLL near log(384).
    assert abs(expected - np.log(384)) < 0.5
    assert f"{summary['mean_nll']['estimate']:.4f}" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "ftp:x", "--corpus", "builtin:python-docs"], "unknown scheme 'ftp'"),
        (
            ["--model", "builtin:smollm2-135m", "--corpus", "builtin:python-docs", "--set", "x"],
            "key=value",
        ),
        (
            [
                "--model",
                "builtin:smollm2-135m",
                "--corpus",
                "builtin:python-docs",
                "--set",
                "window_len=1",
            ],
            "window_len",
        ),
        (
            [
                "--model",
                "builtin:smollm2-135m",
                "--corpus",
                "builtin:python-docs",
                "--preset",
                "huge",
            ],
            "unknown preset",
        ),
    ],
)
def test_analyze_bad_input_exits_2(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["analyze", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output


def test_analyze_bad_corpus_exits_2(tiny_model_dirs: dict[str, Path]) -> None:
    model = f"local:{tiny_model_dirs['gpt2']}"
    result = runner.invoke(app, ["analyze", "--model", model, "--corpus", "nope:thing"])
    assert result.exit_code == 2, result.output
    assert "nope" in result.stderr


def test_analyze_missing_local_dir_is_a_readable_failure(tmp_path: Path) -> None:
    model = f"local:{tmp_path / 'absent'}"
    result = runner.invoke(app, ["analyze", "--model", model, "--corpus", "builtin:python-docs"])
    assert result.exit_code in (1, 2), result.output
    assert "absent" in result.stderr and "Traceback" not in result.output


@pytest.mark.slow
def test_analyze_real_smollm2_quick(tmp_path: Path) -> None:
    out = tmp_path / "smollm2.json"
    args = ["analyze", "--model", "builtin:smollm2-135m", "--corpus", "builtin:python-docs"]
    result = runner.invoke(app, [*args, "--preset", "quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for label in ("mean NLL", "mean entropy", "calibration gap"):
        assert label in result.stdout
    document = json.loads(out.read_text())
    summary = document["entropy"]["summary"]
    assert summary["num_tokens"] == 32 * 127  # quick: 4096 tokens in 128-token windows
    # All three measurements are in the printed summary, with the same numbers as the JSON.
    for label in ("Surplus_2 (nats)", "Surplus_3 (nats)", "model-free", "own prototypes"):
        assert label in result.stdout
    surplus_2 = document["surplus"]["surplus"]["2"]
    rows = dict(summary_rows(AnalysisResult.model_validate(document)))
    if surplus_2["low"] > 0:
        assert rows["Surplus_2 (nats)"].startswith(f"{surplus_2['estimate']:.4f}")
    # An interval that does not clear 0 is "not detected" with its upper bound, never "0 [0, 0]".
    surplus_2.update(estimate=0.0, low=0.0, high=0.0)
    # Derived from the interval, as for old results (stored verdicts would win).
    document["surplus"].pop("detected", None)
    document["surplus"].pop("verdict", None)
    rows = dict(summary_rows(AnalysisResult.model_validate(document)))
    bound = document["surplus"]["bounds"]["2"]["high"]
    assert rows["Surplus_2 (nats)"] == f"not detected  (≤ {bound:.4f})"
    last = max(a["layer"] for a in document["spectral"]["alignment"])
    # The model-free same-next-token lift leads; the own-prototype one is labelled.
    for kernel, label in (("lin", LIFT_LABEL), ("proto", PROTO_LIFT_LABEL)):
        row = next(
            a
            for a in document["spectral"]["alignment"]
            if (a["layer"], a["kernel"], a["side"]) == (last, kernel, "data")
        )
        interval = row["lift_interval"]
        assert interval["low"] < row["lift"] < interval["high"]
        assert rows[label] == (
            f"{row['lift']:.4f}  [{interval['low']:.4f}, {interval['high']:.4f}]"
        )
    assert next(iter(rows)) == LIFT_LABEL
    line = provenance_line(AnalysisResult.model_validate(document).provenance)
    assert document["provenance"]["model"]["content_hash"][:19] in line
    assert document["provenance"]["corpus"]["hash"][:19] in line and "seed 0" in line
    # A trained 135M model on English prose: far below uniform (log 49152 ≈ 10.8 nats).
    assert 1.0 < summary["mean_nll"]["estimate"] < 5.0
    assert summary["mean_entropy"]["estimate"] < 6.0


def test_analyze_a_local_text_file(tiny_model_dirs: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "prose.txt"
    text.write_text("Hidden states carry information about future tokens. " * 200)
    out = tmp_path / "prose.json"
    model = f"local:{tiny_model_dirs['gpt_neox']}"
    args = ["analyze", "--model", model, "--text-file", str(text), *SMALL, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    corpus = json.loads(out.read_text())["provenance"]["corpus"]
    assert corpus["source"] == "upload:0" and corpus["num_tokens"] == 512


def test_analyze_needs_exactly_one_corpus(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", "--model", "builtin:smollm2-135m"])
    assert result.exit_code == 2 and "exactly one of --corpus" in result.stderr
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    args = ["analyze", "--model", "builtin:smollm2-135m", "--text-file", str(binary)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "UTF-8" in result.stderr

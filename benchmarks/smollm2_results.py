"""SmolLM2-135M trained versus its random-init twin, standard preset (numbers for docs/results.md).

    .venv/bin/python benchmarks/smollm2_results.py            # both models, standard preset
    .venv/bin/python benchmarks/smollm2_results.py --preset quick

Writes benchmarks/data/smollm2_<preset>_cpu.json (trained; the GPU check compares with it),
benchmarks/data/smollm2_<preset>_random_cpu.json, and prints the tables of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markovlens.analysis.pipeline import run_analysis
from markovlens.schema.config import preset_config

from benchmarks.common import load_workload
from benchmarks.summary import summarize

DATA = Path(__file__).resolve().parent / "data"


def run(source: str, preset: str, surplus: bool) -> dict:  # type: ignore[type-arg]
    cfg = preset_config(preset, run_surplus=surplus)  # type: ignore[arg-type]
    work = load_workload(source, window_len=cfg.window_len, max_tokens=cfg.max_tokens)
    last = [0.0]

    def progress(fraction: float, stage: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 30:
            last[0] = now
            print(f"  {source}: {fraction:.2f} {stage}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    result = run_analysis(work.model, work.windows, cfg, work.model_meta, work.corpus_meta,
                          progress=progress).result  # fmt: skip
    out = summarize(result)
    out["source"] = source
    out["seconds"] = time.perf_counter() - start
    out["stage_seconds"] = result.provenance.stage_seconds
    out["peak_memory_bytes"] = result.provenance.peak_memory_bytes
    out["corpus_hash"] = result.provenance.corpus.hash
    out["num_tokens"] = result.entropy.summary.num_tokens
    out["n_contexts"] = result.contexts.num_contexts if result.contexts else None
    out["json_bytes"] = len(result.model_dump_json())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--only", choices=["trained", "random"], default=None)
    parser.add_argument("--no-surplus", action="store_true", help="Skip the surplus probes.")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    sources = {"trained": "builtin:smollm2-135m", "random": "random-init:builtin:smollm2-135m"}
    for name, source in sources.items():
        if args.only and name != args.only:
            continue
        summary = run(source, args.preset, surplus=not args.no_surplus)
        suffix = "" if name == "trained" else "_random"
        path = DATA / f"smollm2_{args.preset}{suffix}_cpu.json"
        path.write_text(json.dumps(summary, indent=2, default=str))
        print(f"{source}: {summary['seconds']:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()

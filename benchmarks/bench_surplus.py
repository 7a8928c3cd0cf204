"""Surplus stage versus capture stage on the quick preset (SmolLM2-135M, CPU): ratios, one run.

    .venv/bin/python benchmarks/bench_surplus.py [--preset quick] [--source builtin:smollm2-135m]

The requirement (issue 15): surplus ≤ capture and the whole job ≤ 4 × capture, measured as
ratios of the stage times of one job (the machine is shared, so absolute seconds drift).
Writes benchmarks/data/bench_surplus.json with ``surplus_over_capture`` and ``job_over_capture``.
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

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--source", default="builtin:smollm2-135m")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cfg = preset_config(args.preset)
    work = load_workload(args.source, window_len=cfg.window_len, max_tokens=cfg.max_tokens)
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = run_analysis(
            work.model, work.windows, cfg, work.model_meta, work.corpus_meta
        ).result
        wall = time.perf_counter() - start
        sec = result.provenance.stage_seconds
        suite = result.surplus
        assert suite is not None
        runs.append(
            {
                "stage_seconds": {k: round(v, 2) for k, v in sec.items()},
                "wall_seconds": round(wall, 2),
                "surplus_over_capture": round(sec["surplus"] / sec["capture"], 3),
                "job_over_capture": round(sec["total"] / sec["capture"], 3),
                "capped": suite.capped,
                "num_windows_pooled": suite.num_windows_pooled,
                "vocab_train": suite.vocab_train,
                "surplus_k2": suite.surplus[2].model_dump(),
                "verdict_k2": suite.verdict[2],
                "probe_seconds": round(sum(p.seconds for p in suite.probes), 2),
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    out = {
        "preset": args.preset,
        "source": args.source,
        "runs": runs,
        "surplus_over_capture": max(r["surplus_over_capture"] for r in runs),
        "job_over_capture": max(r["job_over_capture"] for r in runs),
        "torch_threads": __import__("torch").get_num_threads(),
    }
    DATA.mkdir(exist_ok=True)
    (DATA / "bench_surplus.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}))


if __name__ == "__main__":
    main()

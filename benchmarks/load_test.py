"""Load test: 200 concurrent dashboard readers for 60 s against a loopback server.

    .venv/bin/python benchmarks/load_test.py [--users 200] [--seconds 60] [--jobs 1000]

1. Seeds a fresh database (SQLite in a temp dir, or ``--database-url``) with ``--jobs`` jobs
   through the store repositories: models x corpora x presets, most succeeded with a real
   AnalysisResult payload (from one quick analysis of a tiny model) and its array blob.
2. Starts ``markovlens serve --no-worker`` on 127.0.0.1 (a free port) and waits for health.
3. Runs locust headless (benchmarks/locustfile.py) for a bounded time, stops the server.
4. Prints p50/p95/p99 latency and throughput per endpoint and overall, and with ``--record``
   replaces the "Load test" section at the end of docs/benchmarks.md.

Exit status 1 if any request failed (the acceptance bar is zero errors).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- load-test:start -->", "<!-- load-test:end -->"
CORPORA = ("builtin:python-docs", "synthetic:mess3", "upload:notes")
PRESETS = ("quick", "standard")


def real_payload(workdir: Path) -> tuple[dict[str, Any], bytes]:
    """One AnalysisResult and its arrays from a real quick analysis of a tiny llama."""
    sys.path.insert(0, str(ROOT))
    from markovlens.schema.config import preset_config
    from markovlens.service.workflow import run_sources
    from markovlens.settings import Settings
    from markovlens.store.arrays import pack_arrays

    from tests.tiny_models import build_tiny_model

    directory = build_tiny_model("llama", workdir / "models" / "tiny-llama")
    settings = Settings(data_dir=workdir / "seed", model_roots=[workdir / "models"])
    config = preset_config(
        "quick", window_len=64, max_tokens=2048, bootstrap_samples=50, n_contexts=512
    )
    run = run_sources(
        f"local:{directory}", "builtin:python-docs", config, settings, device="cpu", dtype="float32"
    )
    output = run.output
    payload = output.result.model_dump(mode="json")
    payload["_model_meta"] = run.loaded.meta.model_dump(mode="json")  # for the seeded model rows
    return payload, pack_arrays(output.arrays)


def seed(database_url: str, jobs: int, payload: dict[str, Any], arrays: bytes) -> dict[str, Any]:
    """``jobs`` job rows (70 % succeeded with a result) through the store repositories."""
    from markovlens.store import (
        Job,
        JobStatus,
        open_database,
        repo_corpora,
        repo_models,
        repo_results,
    )

    database = open_database(database_url)
    meta = payload.pop("_model_meta")
    statuses = [JobStatus.SUCCEEDED] * 14 + [JobStatus.FAILED] * 2 + [JobStatus.CANCELLED] * 2
    statuses += [JobStatus.QUEUED, JobStatus.RUNNING]
    n_models = max(1, jobs // 40)
    model_ids: list[int] = []
    result_ids: list[int] = []
    start = datetime.now(UTC) - timedelta(days=30)
    with database.session() as session:
        corpora = []
        for source in CORPORA:
            if source.startswith("upload:"):
                corpus = repo_corpora.create_upload(session, "lab notes", "some uploaded text\n")
            else:
                corpus = repo_corpora.get_or_create_corpus(session, source)
            corpora.append(corpus)
        models = []
        for index in range(n_models):
            model = repo_models.get_or_create_model(session, f"local:/models/run-{index:03d}")
            repo_models.fill_model_meta(session, model.id, dict(meta, run_name=f"run-{index}"))
            models.append(model)
        session.commit()
        model_ids = [model.id for model in models]
        for index in range(jobs):
            model = models[index % n_models]
            corpus = corpora[(index // n_models) % len(corpora)]
            preset = PRESETS[(index // (n_models * len(corpora))) % len(PRESETS)]
            status = statuses[index % len(statuses)]
            created = start + timedelta(minutes=index)
            job = Job(
                model_id=model.id,
                corpus_id=corpus.id,
                model_source=model.source,
                corpus_source=corpus.source,
                preset=preset,
                config={"preset": preset, "seed": index},
                dedupe_key=f"{index:064d}",
                queue="cpu",
                status=status,
                progress=1.0 if status == JobStatus.SUCCEEDED else 0.3,
                stage=str(status),
                attempts=1,
                max_attempts=3,
                cancel_requested=status == JobStatus.CANCELLED,
                error="the analysis process was killed by SIGKILL" if status == "failed" else None,
                created_at=created,
                started_at=created,
                finished_at=created + timedelta(minutes=3),
            )
            session.add(job)
            session.flush()
            if status == JobStatus.SUCCEEDED:
                result = repo_results.add_result(session, job, payload, arrays)
                session.flush()
                result_ids.append(result.id)
            if index % 200 == 199:
                session.commit()
        session.commit()
    database.dispose()
    return {"model_ids": model_ids, "result_ids": result_ids, "models": n_models}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [str(VENV_BIN / "markovlens"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--no-worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"server did not become healthy within 60 s; see {log}")


def run_locust(url: str, args: argparse.Namespace, ids: dict[str, Any], prefix: Path) -> int:
    env = {
        **os.environ,
        "LOAD_MODEL_IDS": ",".join(map(str, ids["model_ids"])),
        "LOAD_RESULT_IDS": ",".join(map(str, ids["result_ids"])),
        "LOAD_THINK_SECONDS": str(args.think),
    }
    command = [
        str(VENV_BIN / "locust"),
        "-f", str(Path(__file__).with_name("locustfile.py")),
        "--headless", "--only-summary",
        "--users", str(args.users),
        "--spawn-rate", str(args.users),  # all clients within the first second
        "--run-time", f"{args.seconds}s",
        "--stop-timeout", "10",
        "--host", url,
        "--csv", str(prefix),
        "--loglevel", "WARNING",
    ]  # fmt: skip
    # Bounded: the run time plus spawn/stop margins.
    done = subprocess.run(command, env=env, timeout=args.seconds + 120, check=False)
    return done.returncode


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with Path(f"{prefix}_stats.csv").open() as handle:
        return list(csv.DictReader(handle))


def table(rows: list[dict[str, str]]) -> str:
    lines = [
        "| endpoint | requests | failures | p50 ms | p95 ms | p99 ms | max ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "**all**"
        lines.append(
            f"| {name} | {row['Request Count']} | {row['Failure Count']} | {row['50%']} | "
            f"{row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} | "
            f"{float(row['Requests/s']):.1f} |"
        )
    return "\n".join(lines)


def section(args: argparse.Namespace, rows: list[dict[str, str]], info: dict[str, Any]) -> str:
    total = next(row for row in rows if row["Name"] == "Aggregated")
    return f"""{START}
## Load test (API, read path)

`.venv/bin/python benchmarks/load_test.py --record` — {info["date"]}, {info["machine"]}.
Server: `markovlens serve --no-worker` on 127.0.0.1 (one uvicorn process, {info["database"]}),
database seeded with {args.jobs:,} jobs over {info["models"]} models, 3 corpora and 2 presets
({info["results"]} succeeded jobs with a real quick-preset AnalysisResult payload of
{info["payload_kib"]:.0f} KiB JSON + {info["arrays_kib"]:.0f} KiB arrays each). Load: locust,
{args.users} concurrent clients for {args.seconds} s, each a person browsing (think time
{args.think * 0.5:g}–{args.think * 1.5:g} s between requests): models overview, model
dashboards, result JSON, array index, CSV, job list pages, compare of 3 results. Locust ran on
the same machine (it shares the CPU with the server).

**Errors: {total["Failure Count"]} of {int(total["Request Count"]):,} requests.**
Overall p50 {total["50%"]} ms, p95 {total["95%"]} ms, p99 {total["99%"]} ms,
throughput {float(total["Requests/s"]):.1f} requests/s.

{table(rows)}
{END}
"""


def record(text: str) -> None:
    """Replace our section of docs/benchmarks.md (or append it); other sections stay as-is."""
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        current = head.rstrip() + "\n\n" + text + rest.split(END, 1)[1].lstrip("\n")
    else:
        current = current.rstrip() + "\n\n" + text
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--think", type=float, default=1.0, help="Mean think time (s); 0: none.")
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temp dir.")
    parser.add_argument("--record", action="store_true", help="Write docs/benchmarks.md.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="markovlens-load-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        payload, arrays = real_payload(workdir)
        database_url = args.database_url or f"sqlite:///{workdir / 'data' / 'markovlens.db'}"
        ids = seed(database_url, args.jobs, payload, arrays)
        print(
            f"seeded {args.jobs} jobs ({len(ids['result_ids'])} results) "
            f"in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        port = free_port()
        env = {
            **os.environ,
            "MARKOVLENS_DATA_DIR": str(workdir / "data"),
            "MARKOVLENS_DATABASE_URL": database_url,
            "MARKOVLENS_EMBEDDED_WORKER": "false",
            "MARKOVLENS_LOG_LEVEL": "WARNING",
        }
        env.pop("MARKOVLENS_API_TOKENS", None)
        server = start_server(env, port, workdir / "server.log")
        try:
            prefix = workdir / "locust"
            code = run_locust(f"http://127.0.0.1:{port}", args, ids, prefix)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        rows = read_stats(prefix)
        print(table(rows))
        info = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}, shared)",
            "database": "PostgreSQL" if "postgres" in database_url else "SQLite (WAL)",
            "models": ids["models"],
            "results": len(ids["result_ids"]),
            "payload_kib": len(json.dumps(payload)) / 1024,
            "arrays_kib": len(arrays) / 1024,
        }
        if args.record:
            record(section(args, rows, info))
            print(f"recorded in {DOC}")
        failures = int(next(row for row in rows if row["Name"] == "Aggregated")["Failure Count"])
        if failures or code not in (0, 1):
            print(f"FAILED: {failures} failed requests (locust exit {code})", file=sys.stderr)
            kept = Path(tempfile.gettempdir()) / "markovlens-load-server.log"
            kept.write_bytes((workdir / "server.log").read_bytes())
            print(f"server log kept at {kept}", file=sys.stderr)
            return 1
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

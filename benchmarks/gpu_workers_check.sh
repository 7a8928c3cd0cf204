#!/usr/bin/env bash
# Scale-out GPU check (not part of the test suite): two `markovlens worker` processes share
# one GPU machine, an API runs with --no-worker, and four SmolLM2 jobs (quick preset; trained
# and random-init, two seeds each) must all succeed exactly once, on CUDA, routed by memory.
#
# Backends: a private redis-server and PostgreSQL cluster started here when those binaries
# exist (PostgreSQL only when not root, since initdb refuses root), else the embedded mode
# (SQLite database and SQLite queue files shared by the processes).
#
# Usage: benchmarks/gpu_workers_check.sh [output.json]    (from the repository root)
# Dry run without a GPU (checks the orchestration only):
#   CHECK_ALLOW_CPU=1 CHECK_MODELS="local:/path/to/tiny" MARKOVLENS_MODEL_ROOTS=/path/to \
#   CHECK_CONFIG='{"window_len":64,"max_tokens":1024,"run_surplus":false,"run_spectral":false}' \
#   benchmarks/gpu_workers_check.sh
# Writes the summary JSON (jobs, workers, durations, /metrics excerpt) and leaves logs in
# $WORK (a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_FILE="${1:-${OUT:-.}/gpu_workers_check.json}"
WORK="$(mktemp -d -t markovlens-gpu-workers-XXXX)"
export WORK OUT_FILE
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 2
  if [[ -n "${PGDATA_DIR:-}" ]]; then pg_ctl -D "$PGDATA_DIR" -m fast stop >/dev/null 2>&1 || true; fi
  if [[ -n "${REDIS_PID:-}" ]]; then kill -TERM "$REDIS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export MARKOVLENS_DATA_DIR="$WORK/data"
export MARKOVLENS_LOG_FORMAT=json
export MARKOVLENS_LEASE_SECONDS=30 MARKOVLENS_HEARTBEAT_SECONDS=2 MARKOVLENS_REAPER_INTERVAL_SECONDS=2
export MARKOVLENS_DEVICE=auto MARKOVLENS_DTYPE=auto
MODE_QUEUE=sqlite; MODE_DB=sqlite

if command -v redis-server >/dev/null; then
  REDIS_PORT="$(free_port)"; mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
    --save "" >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  export MARKOVLENS_QUEUE_URL="redis://127.0.0.1:$REDIS_PORT/0"; MODE_QUEUE=redis
fi
if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && [[ "$(id -u)" != 0 ]]; then
  PG_PORT="$(free_port)"; PGDATA_DIR="$WORK/pg"
  initdb -D "$PGDATA_DIR" -U postgres --auth=trust >"$WORK/initdb.log" 2>&1
  pg_ctl -D "$PGDATA_DIR" -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1" \
    -l "$WORK/postgres.log" -w start >/dev/null
  createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres markovlens
  export MARKOVLENS_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/markovlens"
  MODE_DB=postgresql
fi
export MODE_QUEUE MODE_DB
echo "gpu_workers_check: database=$MODE_DB queue=$MODE_QUEUE work=$WORK"

# Routing class from the GPU's memory: jobs go to queue "gpu", which both workers consume.
if [[ "${CHECK_ALLOW_CPU:-0}" == 1 ]]; then
  export MARKOVLENS_DEVICE=cpu MARKOVLENS_DEVICE_CLASSES="gpu=cpu:8GiB"
else
  GPU_GIB="$("$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA"; print(int(torch.cuda.get_device_properties(0).total_memory / 2**30))')"
  export MARKOVLENS_DEVICE_CLASSES="gpu=cuda:${GPU_GIB}GiB"
fi
export CHECK_MODELS="${CHECK_MODELS:-builtin:smollm2-135m random-init:builtin:smollm2-135m}"
export CHECK_CONFIG="${CHECK_CONFIG:-{\}}"
"$PYTHON" -m markovlens.ops.run_migrations
API_PORT="$(free_port)"; export API_PORT
"$PYTHON" -m markovlens.cli serve --no-worker --port "$API_PORT" >"$WORK/api.log" 2>&1 &
PIDS+=($!)
for name in worker-a worker-b; do
  "$PYTHON" -m markovlens.cli worker --queue gpu >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
done

"$PYTHON" - <<'PY'
import json, os, time, urllib.error, urllib.request

api = f"http://127.0.0.1:{os.environ['API_PORT']}"

def call(path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read().decode()
            return json.loads(raw) if resp.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"gpu_workers_check: {path}: HTTP {exc.code}: {exc.read().decode()}")

deadline = time.time() + 120
while True:
    try:
        call("/api/v1/health"); break
    except Exception:
        if time.time() > deadline: raise SystemExit("gpu_workers_check: the API did not start")
        time.sleep(1)

started = time.time()
ids = []
config = json.loads(os.environ["CHECK_CONFIG"])
for model in os.environ["CHECK_MODELS"].split():
    for seed in (0, 1):
        job = call("/api/v1/jobs", {"model": model, "corpus": "builtin:python-docs",
                                    "preset": "quick", "config": {**config, "seed": seed},
                                    "force": True})
        ids.append(job["id"]); print("submitted", job["id"], model, "queue", job["queue"])
while True:
    jobs = [call(f"/api/v1/jobs/{i}") for i in ids]
    if all(j["status"] in ("succeeded", "failed", "cancelled") for j in jobs): break
    if time.time() - started > 540: raise SystemExit("gpu_workers_check: jobs did not finish in 9 min")
    time.sleep(2)
elapsed = time.time() - started
metrics = call("/metrics")
summary = {
    "database": os.environ["MODE_DB"], "queue": os.environ["MODE_QUEUE"],
    "wall_seconds": round(elapsed, 1),
    "jobs": [{k: j[k] for k in ("id", "model_source", "queue", "status", "attempts", "error",
                                "started_at", "finished_at", "result_id")} for j in jobs],
    "distinct_result_ids": len({j["result_id"] for j in jobs if j["result_id"]}),
    "metrics": [l for l in metrics.splitlines() if l.startswith(("markovlens_worker", "markovlens_jobs{"))],
}
results = [call(f"/api/v1/results/{j['result_id']}") for j in jobs if j["result_id"]]
summary["headline"] = [
    {"job": r["job_id"], "mean_nll": r["result"].get("entropy", {}).get("mean_nll")} for r in results
]
with open(os.environ["OUT_FILE"], "w") as fh:
    json.dump(summary, fh, indent=2, default=str)
ok = all(j["status"] == "succeeded" for j in jobs) and summary["distinct_result_ids"] == len(jobs)
print(json.dumps(summary, indent=2, default=str))
print("gpu_workers_check:", "OK" if ok else "FAILED", f"({elapsed:.0f} s)")
raise SystemExit(0 if ok else 1)
PY

"""Command line: serve, worker, analyze, submit, jobs, job, cancel, results, lab.

Exit codes: 0 ok, 1 a job (or the analysis) failed, 2 bad input. Errors are one readable line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from markovlens.lab.commands import lab_app
from markovlens.ops.logging import configure_logging
from markovlens.settings import Settings, get_settings

app = typer.Typer(
    name="markovlens",
    help="Measure information surplus, categorical entropy and spectral alignment of LMs.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEMO_MODELS = ("builtin:smollm2-135m", "random-init:builtin:smollm2-135m")
DEMO_CORPUS = "builtin:python-docs"
DEMO_PRESET: Literal["quick"] = "quick"
LOCAL_UPLOAD_SOURCE = "upload:0"

ServerOption = typer.Option(
    "http://127.0.0.1:8000",
    "--server",
    envvar="MARKOVLENS_SERVER",
    help="Base URL of a running markovlens server.",
)
TokenOption = typer.Option(
    None, "--token", envvar="MARKOVLENS_TOKEN", help="Bearer token for write endpoints."
)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one readable line to stderr and exit with ``code``."""
    err_console.print("error: ", style="bold red", end="")
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The process settings; a bad ``MARKOVLENS_*`` variable is bad input, not a traceback."""
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError or pydantic-settings' SettingsError
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        fail(f"invalid MARKOVLENS_* environment: {exc}{cause}".replace("\n", " "))


def say(line: str) -> None:
    """Print plain text: no markup (``[queued]`` is not a style tag), no highlighting."""
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def validation_message(exc: ValidationError) -> str:
    """Pydantic errors as one line: ``field: message; field: message``."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    return "; ".join(parts)


SET_HELP = "Config override key=value or section.key=value, e.g. surplus.max_k=2 (repeat)."


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parse as JSON when they can (``3``, ``true``, ``[1,2]``).

    A dotted key sets a nested section's knob (``surplus.max_k=2`` → ``{"surplus": {"max_k":
    2}}``), the same path the server's validation errors name; sections merge key by key.
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        parts = [part.strip() for part in key.split(".")]
        if not sep or not all(parts):
            raise ValueError(f"--set expects key=value or section.key=value, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = overrides
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {pair!r}: {part!r} was already set to a value")
            node = child
        if isinstance(node.get(parts[-1]), dict) and isinstance(value, dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return overrides


# ---------------------------------------------------------------------------------------------
# serve / worker
# ---------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Do not run the embedded worker."),
    demo: bool = typer.Option(False, "--demo", help="Submit the SmolLM2 demo jobs at start-up."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow a non-loopback bind without API tokens (open writes)."
    ),
) -> None:
    """Run the API and web UI (with an embedded worker unless --no-worker)."""
    import uvicorn

    from markovlens.api import create_app
    from markovlens.api.auth import bind_refusal, is_loopback

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    if no_worker:
        settings = settings.model_copy(update={"embedded_worker": False})
    # Write endpoints are open without tokens: only acceptable when nobody else can reach us.
    refusal = bind_refusal(host, settings, insecure=insecure)
    if refusal:
        fail(refusal)
    if insecure and not is_loopback(host) and not settings.api_tokens:
        say(f"warning: --insecure: anyone who reaches {host}:{port} can submit and cancel jobs")
    if demo:
        submitted = submit_demo_jobs(settings)
        for line in submitted:
            say(line)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    say(f"markovlens serving at {url} (API docs at {url}docs)")
    app_ = create_app(served_settings(settings, host))
    uvicorn.run(app_, **uvicorn_options(settings, host, port))


def served_settings(settings: Settings, host: str) -> Settings:
    """The bind address, when it is a name, is one the server answers to (Host check)."""
    from markovlens.api.origin import split_host

    name, _ = split_host(host)
    if name in ("0.0.0.0", "::", "") or name in settings.allowed_hosts:
        return settings
    return settings.model_copy(update={"allowed_hosts": [*settings.allowed_hosts, name]})


def uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """How ``serve`` runs uvicorn: bounded header time, no implicit proxy trust."""
    from markovlens.api.slowclients import header_timeout_protocol

    return {
        "host": host,
        "port": port,
        "log_level": "info",
        # Open progress streams (SSE) must not hold a shutdown hostage for a whole job.
        "timeout_graceful_shutdown": 5,
        "http": header_timeout_protocol(settings.header_timeout_seconds),
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default, which lets any local
        # client pick its address; proxies are trusted only via MARKOVLENS_TRUSTED_PROXIES.
        "proxy_headers": False,
        "server_header": False,
        # uvicorn's own log setup would format its lines (the access log holds the decoded
        # request path) without escaping: its records go through ours instead.
        "log_config": None,
    }


def submit_demo_jobs(settings: Settings) -> list[str]:
    """Queue the two demo jobs unless equivalent ones are queued, running or done already."""
    from sqlalchemy.exc import SQLAlchemyError

    from markovlens.service import submission
    from markovlens.service.errors import QueueUnavailableError, SubmitError
    from markovlens.service.schemas import SubmitRequest
    from markovlens.store import open_database

    lines = []
    try:
        db = open_database(settings.resolved_database_url)
    except SQLAlchemyError as exc:
        fail(f"cannot open the database {settings.resolved_database_url}: {exc}", EXIT_FAILED)
    try:
        with db.session() as session:
            for model in DEMO_MODELS:
                request = SubmitRequest(model=model, corpus=DEMO_CORPUS, preset=DEMO_PRESET)
                job = submission.submit_job(session, request, settings=settings)
                # An equal queued/running/succeeded job is reused: restarts add nothing.
                lines.append(f"demo job {job.id}: {model} on {DEMO_CORPUS} ({job.status})")
    except (SubmitError, QueueUnavailableError) as exc:
        fail(f"cannot submit the demo jobs: {exc}", EXIT_FAILED)
    finally:
        db.dispose()
    return lines


@app.command()
def worker(
    queue: list[str] = typer.Option(
        None, "--queue", "-q", help="Queue(s) to consume (repeat); default: settings."
    ),
) -> None:
    """Run a worker that consumes analysis jobs from the named queues."""
    from markovlens.worker.worker import run_worker

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    queues = list(queue) if queue else list(settings.worker_queues)
    say(f"markovlens worker on queues: {', '.join(queues)}")
    run_worker(settings, queues)


# ---------------------------------------------------------------------------------------------
# analyze (local: no server, no database)
# ---------------------------------------------------------------------------------------------


@app.command()
def analyze(
    model: str = typer.Option(..., "--model", "-m", help="Model source string."),
    corpus: str | None = typer.Option(
        None, "--corpus", "-c", help="Corpus source string (or use --text-file)."
    ),
    preset: str = typer.Option("quick", help="quick | standard | full"),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the result JSON here."),
    device: str | None = typer.Option(None, help="cpu, cuda, mps (default: settings)."),
    dtype: str | None = typer.Option(None, help="float32, bfloat16... (default: settings)."),
    text_file: Path | None = typer.Option(
        None, "--text-file", help="Analyse this UTF-8 text file (as corpus upload:0)."
    ),
) -> None:
    """Analyse a model on a corpus in this process and print the summary (no server needed)."""
    from markovlens.schema.config import preset_config

    try:
        config = preset_config(preset, **parse_overrides(set_ or []))  # type: ignore[arg-type]
    except ValidationError as exc:
        fail(f"invalid config: {validation_message(exc)}")
    except ValueError as exc:
        fail(str(exc))
    if (corpus is None) == (text_file is None):
        fail("give exactly one of --corpus SOURCE or --text-file PATH")
    upload_text = None
    if text_file is not None:
        # A local file is never stored: id 0 marks it in the provenance as "not from the DB".
        corpus, upload_text = LOCAL_UPLOAD_SOURCE, read_text_file(text_file)
    assert corpus is not None
    settings = settings_for_local_source(load_settings(), model)
    output = run_local_analysis(settings, model, corpus, config, device, dtype, upload_text)
    print_summary(output.result)
    if out is not None:
        write_output(output, out)
        say(f"wrote {out} and {out.with_suffix('.npz')}")


def read_text_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path} as UTF-8 text: {exc}")


def settings_for_local_source(settings: Settings, model: str) -> Settings:
    """Allow a ``local:``/``gguf:`` path typed at this shell.

    The ``model_roots`` allow-list protects a server from its users; a local ``analyze`` runs
    with the caller's own permissions, so the path they name is allowed.
    """
    base = model.removeprefix("random-init:")
    scheme, _, ref = base.partition(":")
    if scheme not in ("local", "gguf") or not ref:
        return settings
    path = Path(ref).expanduser().resolve()
    root = path if scheme == "local" else path.parent
    return settings.model_copy(update={"model_roots": [*settings.model_roots, root]})


def run_local_analysis(
    settings: Settings,
    model_source: str,
    corpus_source: str,
    config: Any,
    device: str | None,
    dtype: str | None,
    upload_text: str | None,
) -> Any:
    """``run_sources`` with a progress bar; bad sources exit 2, a failed run exits 1."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from markovlens.service.workflow import SourcesError, run_sources

    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def progress(fraction: float, stage: str) -> None:
            bar.update(task, completed=fraction, description=stage)

        try:
            run = run_sources(
                model_source,
                corpus_source,
                config,
                settings,
                device=device,
                dtype=dtype,
                upload_text=upload_text,
                progress=progress,
            )
        except SourcesError as exc:
            fail(str(exc), EXIT_BAD_INPUT if exc.bad_input else EXIT_FAILED)
    return run.output


def _interval_text(value: Any) -> str:
    return f"{value.estimate:.4f}  [{value.low:.4f}, {value.high:.4f}]"


def _surplus_rows(suite: Any) -> list[tuple[str, str]]:
    """Surplus_K by K with its verdict (docs/methods.md#surplus). "not detected": the
    interval does not clear 0, shown as the upper bound (a 0 [0, 0] would look like a precise
    measurement of none); "insufficient data": too few windows to decide, the interval is
    shown but decides nothing. A probe stopped at its cap adds a warning row."""
    from markovlens.schema.verdicts import read_verdict

    rows = []
    for k in sorted(suite.surplus):
        interval, bound = suite.surplus[k], suite.bounds.get(k)
        verdict = read_verdict(suite, k)
        bound_text = f"  (≤ {bound.high:.4f})" if bound is not None else ""
        if verdict == "detected":
            text = _interval_text(interval)
        elif verdict == "insufficient data":
            text = f"insufficient data  {_interval_text(interval)}{bound_text}"
        else:
            text = "not detected" + bound_text
        rows.append((f"Surplus_{k} (nats)", text))
    if getattr(suite, "capped", False):
        rows.append(
            (
                "warning",
                "a surplus probe stopped at its step/epoch cap while still improving: "
                "Surplus may be under-estimated (raise surplus.max_steps)",
            )
        )
    return rows


def _lift_text(value: float, low: float | None, high: float | None) -> str:
    text = f"{value:.4f}"
    if low is not None and high is not None:
        text += f"  [{low:.4f}, {high:.4f}]"
    return text


# Labels fit the 100-column table beside a "1.2345  [1.2000, 1.3000]" value without wrapping.
LIFT_LABEL = "alignment lift A/A_rand, last layer (model-free)"
PROTO_LIFT_LABEL = "lift with own prototypes, last layer (per model)"


def spectral_rows(card: Any) -> list[tuple[str, str]]:
    """The spectral headline: the model-free data-side lift first (comparable across models
    on the same contexts_key), then the lift under the model's own prototypes, labelled."""
    rows = []
    if card.alignment_lift_last is not None:
        rows.append(
            (
                LIFT_LABEL,
                _lift_text(
                    card.alignment_lift_last,
                    card.alignment_lift_last_low,
                    card.alignment_lift_last_high,
                ),
            )
        )
    if card.alignment_lift_proto_last is not None:
        rows.append(
            (
                PROTO_LIFT_LABEL,
                _lift_text(
                    card.alignment_lift_proto_last,
                    card.alignment_lift_proto_last_low,
                    card.alignment_lift_proto_last_high,
                ),
            )
        )
    if card.effective_rank_last is not None:
        rows.append(("effective rank, last layer", f"{card.effective_rank_last:.1f}"))
    return rows


def summary_rows(result: Any) -> list[tuple[str, str]]:
    """The headline numbers of an AnalysisResult as (label, text) rows: the same numbers the
    dashboard's model card shows (``schema.headline``), with their intervals or bounds. The
    model-free alignment lift leads (docs/methods.md#alignment)."""
    from markovlens.schema.headline import headline

    summary = result.entropy.summary
    card = headline(result.model_dump(mode="json"))
    rows = spectral_rows(card) if result.spectral is not None else []
    rows += [
        ("tokens", f"{summary.num_tokens:,}"),
        ("mean NLL (nats)", _interval_text(summary.mean_nll)),
        ("perplexity", f"{summary.perplexity:.3f}"),
        ("mean entropy (nats)", _interval_text(summary.mean_entropy)),
        ("calibration gap (nats)", _interval_text(summary.calibration_gap)),
        ("top-1 accuracy", f"{summary.top1_accuracy:.4f}"),
    ]
    if card.ece is not None:
        rows.append(("ECE (top-1 confidence)", f"{card.ece:.4f}"))
    if result.surplus is not None:
        rows += _surplus_rows(result.surplus)
    return rows


def provenance_line(provenance: Any) -> str:
    """What the numbers were computed from, in one line under the table."""
    model, corpus = provenance.model, provenance.corpus
    versions = ", ".join(
        f"{name} {provenance.versions[name]}"
        for name in ("markovlens", "torch", "transformers")
        if name in provenance.versions
    )
    return (
        f"model {model.source} @ {model.revision or '?'} ({(model.content_hash or '?')[:19]}); "
        f"corpus {corpus.hash[:19]}, {corpus.num_tokens:,} tokens; seed {provenance.seed}; "
        f"{provenance.device}/{provenance.dtype}; {versions}"
    )


def print_summary(result: Any) -> None:
    provenance = result.provenance
    table = Table(
        title=f"{provenance.model.source} on {provenance.corpus.source} "
        f"({provenance.config.preset})",
        caption=provenance_line(provenance),
        show_header=True,
    )
    table.add_column("metric")
    table.add_column("value (95% interval)", justify="right")
    for label, text in summary_rows(result):
        table.add_row(label, text)
    # Wide enough that numbers never wrap, whatever the terminal (tests capture at 80 columns).
    Console(width=max(console.width, 100)).print(table)


def write_output(output: Any, out: Path) -> None:
    """Result JSON at ``out``, per-token arrays beside it as ``.npz``."""
    import numpy as np

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(output.result.model_dump_json(indent=2), encoding="utf-8")
    np.savez_compressed(out.with_suffix(".npz"), **output.arrays)


# ---------------------------------------------------------------------------------------------
# Client commands (talk to a running server)
# ---------------------------------------------------------------------------------------------


def client(server: str, token: str | None) -> Any:
    from markovlens.http_client import ApiClient

    return ApiClient(server, token=token)


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one API call; an ApiError becomes a one-line message (exit 2 for 4xx, else 1)."""
    from markovlens.http_client import ApiError

    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        code = EXIT_BAD_INPUT if exc.status_code and 400 <= exc.status_code < 500 else EXIT_FAILED
        fail(str(exc), code)


def job_line(job: dict[str, Any]) -> str:
    progress = f"{100 * (job.get('progress') or 0):.0f}%"
    stage = f" {job['stage']}" if job.get("stage") else ""
    result = f" result {job['result_id']}" if job.get("result_id") else ""
    error = f" — {job['error']}" if job.get("error") else ""
    return (
        f"job {job['id']} [{job['status']}] {progress}{stage}: {job['model_source']} on "
        f"{job['corpus_source']} ({job['preset']}){result}{error}"
    )


def exit_for(job: dict[str, Any]) -> None:
    if job["status"] in ("failed", "cancelled"):
        raise typer.Exit(EXIT_FAILED)


@app.command()
def submit(
    model: str = typer.Option(..., "--model", "-m"),
    corpus: str = typer.Option(..., "--corpus", "-c"),
    preset: str = typer.Option("quick"),
    set_: list[str] = typer.Option(None, "--set", help=SET_HELP),
    queue: str | None = typer.Option(None, help="Queue (device class), e.g. cpu or gpu."),
    force: bool = typer.Option(False, help="Run again even if an identical job exists."),
    wait: bool = typer.Option(False, "--wait", help="Follow progress until the job ends."),
    server: str = ServerOption,
    token: str | None = TokenOption,
) -> None:
    """Submit an analysis job to a server."""
    try:
        overrides = parse_overrides(set_ or [])
    except ValueError as exc:
        fail(str(exc))
    with client(server, token) as api:
        job = call(api.submit, model, corpus, preset, config=overrides, queue=queue, force=force)
        if job.get("reused"):
            say(f"an equal job exists: job {job['id']} (--force runs it again)")
        say(job_line(job))
        if wait and job["status"] not in ("succeeded", "failed", "cancelled"):
            job = follow_job(api, job["id"])
        exit_for(job)


def follow_job(api: Any, job_id: int) -> dict[str, Any]:
    """Print progress lines from the SSE stream until the job ends; return its last state."""
    from markovlens.http_client import ApiError

    last: dict[str, Any] | None = None
    shown = ""
    try:
        for state in api.follow(job_id):
            line = job_line(state)
            if line != shown:
                say(line)
                shown = line
            last = state
    except ApiError as exc:
        fail(str(exc), EXIT_FAILED)
    return last if last is not None else call(api.job, job_id)


@app.command()
def jobs(
    status: str | None = typer.Option(None, help="queued | running | succeeded | failed"),
    limit: int = typer.Option(50, min=1, max=1000),
    server: str = ServerOption,
) -> None:
    """List jobs on a server, newest first."""
    with client(server, None) as api:
        page = call(api.jobs, status=status, limit=limit)
    for job in page["items"]:
        say(job_line(job))
    say(f"{len(page['items'])} of {page['total']} jobs")


@app.command()
def job(job_id: int = typer.Argument(...), server: str = ServerOption) -> None:
    """Show one job."""
    with client(server, None) as api:
        state = call(api.job, job_id)
    say(job_line(state))
    exit_for(state)


@app.command()
def cancel(
    job_id: int = typer.Argument(...), server: str = ServerOption, token: str | None = TokenOption
) -> None:
    """Ask a server to cancel a job."""
    with client(server, token) as api:
        state = call(api.cancel, job_id)
    say(job_line(state))


@app.command()
def results(
    result_id: int = typer.Argument(...),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the JSON (or .csv) here."),
    server: str = ServerOption,
) -> None:
    """Print a result's summary; with --out, save its JSON (or CSV if the name ends .csv)."""
    from markovlens.schema.result import AnalysisResult

    with client(server, None) as api:
        document = call(api.result, result_id)
        if out is not None and out.suffix.lower() == ".csv":
            out.write_text(call(api.result_csv, result_id), encoding="utf-8")
        elif out is not None:
            out.write_text(json.dumps(document["result"], indent=2), encoding="utf-8")
    try:
        print_summary(AnalysisResult.model_validate(document["result"]))
    except ValidationError:
        console.print_json(data=document["result"])
    if out is not None:
        say(f"wrote {out}")


app.add_typer(lab_app, name="lab", help="Synthetic sources with exact answers; tiny trainer.")


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

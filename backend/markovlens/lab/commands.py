"""``markovlens lab``: list sources, train tiny models on them, check estimators against exact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

lab_app = typer.Typer(no_args_is_help=True, add_completion=False)


def _parse_steps(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated steps, got {text!r}") from exc


@lab_app.command("sources")
def sources_cmd() -> None:
    """List the synthetic sources with their exact entropy rate and ideal surplus."""
    from markovlens.lab.synthetic_sources import get_source, source_names  # torch: only when used

    for name in source_names():
        src = get_source(name)
        rate, se = src.entropy_rate()
        rate_text = f"{rate:.4f}" + (f" ± {se:.1e} (MC)" if se else " (closed form)")
        typer.echo(
            f"synthetic:{name}  |V|={src.vocab_size}  states={src.process.num_states}  "
            f"entropy rate {rate_text} nats"
        )
        typer.echo(f"    {src.description}")


@lab_app.command("train")
def train_cmd(
    source: str = typer.Option(..., "--source", help="synthetic:<name> (see `lab sources`)."),
    steps: int = typer.Option(400, "--steps", min=1),
    checkpoints: str = typer.Option(
        "0,25,50,100,200,400",
        "--checkpoints",
        help="Comma-separated steps to save (the last is added).",
    ),
    out: Path | None = typer.Option(None, "--out", help="Default: <data dir>/lab."),
    run_name: str | None = typer.Option(None, "--run-name"),
    seed: int = typer.Option(0, "--seed", min=0),
    submit: bool = typer.Option(
        True, "--submit/--no-submit", help="Register each checkpoint and queue an analysis job."
    ),
    server: str | None = typer.Option(
        None, "--server", help="Submit through this server's API instead of the DB."
    ),
    token: str | None = typer.Option(None, "--token", envvar="MARKOVLENS_TOKEN"),
    preset: str = typer.Option("quick", "--preset"),
) -> None:
    """Train a tiny Llama on a synthetic source; save, register and analyse each checkpoint."""
    from markovlens.lab.trainer import TrainConfig, train
    from markovlens.lab.validate import LabScale, lab_overrides
    from markovlens.settings import get_settings

    settings = get_settings()
    out_dir = (out or Path(settings.data_dir) / "lab").resolve()
    try:
        cfg = TrainConfig(
            source=source,
            steps=steps,
            checkpoints=_parse_steps(checkpoints),
            out_dir=out_dir,
            run_name=run_name,
            seed=seed,
        )
    except (KeyError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    run = train(cfg, log=typer.echo)
    typer.echo(f"trained {run.run_name} in {run.seconds:.1f}s; entropy rate {run.entropy_rate:.4f}")
    scale = LabScale(window_len=64, num_windows=192, n_contexts=3072)
    overrides = lab_overrides(scale)
    corpus = cfg.source
    models = [f"local:{ck.path}" for ck in run.checkpoints]
    if not submit:
        typer.echo("checkpoints saved; submit them with, e.g.:")
        for model in models:
            typer.echo(f"  markovlens submit --model {model} --corpus {corpus} --preset {preset}")
        return
    if server:
        _submit_http(server, token, models, corpus, preset, overrides)
    else:
        labels = {f"local:{ck.path}": (run.run_name, ck.step) for ck in run.checkpoints}
        _submit_db(models, corpus, preset, overrides, out_dir, labels)


def _submit_http(
    server: str, token: str | None, models: list[str], corpus: str, preset: str, overrides: dict
) -> None:
    from markovlens.http_client import ApiClient, ApiError

    with ApiClient(server, token=token) as client:
        for model in models:
            try:
                job = client.submit(model=model, corpus=corpus, preset=preset, config=overrides)
            except ApiError as exc:
                typer.echo(f"error: submitting {model}: {exc}", err=True)
                raise typer.Exit(1) from exc
            typer.echo(f"job {job['id']}: {model} on {corpus} ({job['status']})")


def _submit_db(
    models: list[str],
    corpus: str,
    preset: str,
    overrides: dict,
    out_dir: Path,
    labels: dict[str, tuple[str, int]],
) -> None:
    from markovlens.service import submission
    from markovlens.service.errors import QueueUnavailableError, SubmitError
    from markovlens.service.schemas import SubmitRequest
    from markovlens.settings import get_settings
    from markovlens.store import open_database, repo_models

    settings = get_settings()
    if not any(_inside(out_dir, Path(root)) for root in settings.model_roots):
        typer.echo(
            f"note: {out_dir} is not under MARKOVLENS_MODEL_ROOTS; the worker will refuse "
            "local: sources there. Set MARKOVLENS_MODEL_ROOTS to include it.",
            err=True,
        )
    db = open_database(settings.resolved_database_url)
    try:
        with db.session() as session:
            for model in models:
                request = SubmitRequest(model=model, corpus=corpus, preset=preset, config=overrides)  # type: ignore[arg-type]
                job = submission.submit_job(session, request, settings=settings)
                # Register the checkpoint's place in its run now (the worker fills the rest).
                run_name, step = labels[model]
                meta = {"run_name": run_name, "training_step": step}
                repo_models.fill_model_meta(session, job.model_id, meta)
                repo_models.set_label(session, job.model_id, f"{run_name}@{step}")
                session.commit()
                typer.echo(f"job {job.id}: {model} on {corpus} ({job.status})")
    except (SubmitError, QueueUnavailableError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        db.dispose()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


@lab_app.command("validate")
def validate_cmd(
    source: list[str] = typer.Option(None, "--source", help="Only these sources (repeat)."),
    write: Path | None = typer.Option(None, "--write", help="Write the Markdown report here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full report as JSON."),
    out: Path = typer.Option(Path("data/lab-validate"), "--out", help="Checkpoint directory."),
    steps: int = typer.Option(400, "--steps", min=1),
    windows: int = typer.Option(192, "--windows", min=8),
    contexts: int = typer.Option(3072, "--contexts", min=64),
) -> None:
    """Estimate versus exact for every quantity and source (oracle and trained models)."""
    from markovlens.lab.synthetic_sources import source_names
    from markovlens.lab.validate import LabScale, render_markdown, run_lab, write_markdown_block

    names = [s.removeprefix("synthetic:") for s in source] if source else None
    for name in names or []:
        if name not in source_names():
            typer.echo(f"error: unknown source {name!r}; choose from {source_names()}", err=True)
            raise typer.Exit(2)
    checkpoints = sorted({0, steps // 16, steps // 8, steps // 4, steps // 2, steps})
    scale = LabScale(
        num_windows=windows, n_contexts=contexts, train_steps=steps, checkpoints=checkpoints
    )
    after = sys.argv[sys.argv.index("validate") + 1 :] if "validate" in sys.argv else []
    command = " ".join(["markovlens lab validate", *after])
    report = run_lab(scale, out, names, log=lambda m: typer.echo(m, err=True), command=command)
    text = render_markdown(report)
    typer.echo(text)
    if write:
        write_markdown_block(write, text)
    if json_out:
        json_out.write_text(json.dumps(report.model_dump(mode="json"), indent=1))
    failed = [r for s in report.sources for r in s.rows if r.passed is False]
    if failed:
        typer.echo(f"{len(failed)} check(s) failed", err=True)
        raise typer.Exit(1)

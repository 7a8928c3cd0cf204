"""Hugging Face Hub access for ``hf:`` models: resolve the commit, map errors to readable ones.

The machine may be offline (air-gapped installs are a supported mode), so every Hub call runs
with a hard deadline in a worker thread: a DNS lookup that hangs cannot hang a job.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from markovlens.models.errors import ModelLoadError

T = TypeVar("T")

# Seconds before the Hub counts as unreachable; module-level so tests (and slow links) can tune.
HUB_TIMEOUT_S = 4.0

UNREACHABLE_HINT = "use local: or gguf: (or builtin:smollm2-135m) on an offline machine"


class HubUnreachableError(ModelLoadError):
    """The Hub cannot be reached (offline mode, DNS failure, timeout)."""


@dataclass
class HubRepo:
    """What the Hub says of one repository at one commit."""

    repo: str
    sha: str
    files: list[str]
    lfs_sha256: dict[str, str] = field(default_factory=dict)
    gated: bool = False


def hub_offline_flag() -> bool:
    """True when the user asked huggingface_hub to stay offline (``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE) or env


def with_deadline(
    fn: Callable[[], T], what: str, timeout: float | None = None, hint: str = UNREACHABLE_HINT
) -> T:
    """Run ``fn`` with a wall-clock deadline; network failures become ``HubUnreachableError``
    (whose message ends with ``hint``)."""
    # The HTTP client times out at HUB_TIMEOUT_S itself; this deadline is the backstop for what
    # its timeout does not cover (a DNS lookup that hangs), so it fires a little later.
    limit = HUB_TIMEOUT_S + 1.0 if timeout is None else timeout
    if hub_offline_flag():
        raise HubUnreachableError(
            f"Hugging Face Hub unreachable (HF_HUB_OFFLINE is set) while {what}; " + hint
        )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-probe")
    future = pool.submit(fn)
    try:
        return future.result(timeout=limit)
    except concurrent.futures.TimeoutError as exc:
        raise HubUnreachableError(
            f"Hugging Face Hub unreachable (no answer within {limit:g} s) while {what}; " + hint
        ) from exc
    except ModelLoadError:
        raise
    except Exception as exc:
        raise map_hub_error(exc, what, hint) from exc
    finally:
        # Never wait for a hung thread: it finishes (or dies with the process) on its own.
        pool.shutdown(wait=False, cancel_futures=True)


def map_hub_error(exc: BaseException, what: str, hint: str = UNREACHABLE_HINT) -> ModelLoadError:
    """Turn a huggingface_hub / HTTP exception into a message a user can act on."""
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return ModelLoadError(
            f"{what}: the repository is gated; accept its licence on huggingface.co and set "
            "HF_TOKEN for the worker"
        )
    if isinstance(exc, errors.RevisionNotFoundError):
        return ModelLoadError(f"{what}: revision not found on the Hub")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return ModelLoadError(
            f"{what}: repository not found, or private (set HF_TOKEN if you have access)"
        )
    if isinstance(exc, errors.LocalEntryNotFoundError):  # the HEAD call failed: no network
        return HubUnreachableError(f"Hugging Face Hub unreachable while {what}; {hint}")
    if isinstance(exc, errors.EntryNotFoundError):
        return ModelLoadError(f"{what}: file not found in the repository")
    if isinstance(exc, errors.HfHubHTTPError):
        return ModelLoadError(f"{what}: the Hub answered with an error: {exc}")
    if not _is_network_error(exc):
        return ModelLoadError(
            f"{what}: unexpected answer from the Hub ({type(exc).__name__}: {exc})"
        )
    # Connection refused, DNS failure, TLS failure, proxy errors... all mean "no Hub".
    return HubUnreachableError(
        f"Hugging Face Hub unreachable ({type(exc).__name__}: {exc}) while {what}; " + hint
    )


_NETWORK_ERROR_NAMES = {"TransportError", "RequestError", "NetworkError", "TimeoutException"}


def _is_network_error(exc: BaseException) -> bool:
    """Transport-level failures (httpx's family, matched by name so a vendored copy counts)."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return any(cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(exc).__mro__)


def endpoint() -> str:
    """The Hub URL (``HF_ENDPOINT``), read at call time so tests can point it at loopback."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def resolve_repo(repo: str, revision: str | None) -> HubRepo:
    """Resolve ``repo@revision`` to a commit sha and its file list (with LFS hashes)."""
    from huggingface_hub import HfApi

    def call() -> Any:
        api = HfApi(endpoint=endpoint())
        return api.model_info(repo, revision=revision, files_metadata=True, timeout=HUB_TIMEOUT_S)

    info = with_deadline(call, f"resolving hf:{repo}@{revision or 'main'}")
    files: list[str] = []
    lfs: dict[str, str] = {}
    for sibling in info.siblings or []:
        files.append(sibling.rfilename)
        lfs_info = getattr(sibling, "lfs", None)
        sha = getattr(lfs_info, "sha256", None) if lfs_info is not None else None
        if sha:
            lfs[sibling.rfilename] = str(sha)
    return HubRepo(
        repo=repo,
        sha=str(info.sha),
        files=files,
        lfs_sha256=lfs,
        gated=bool(getattr(info, "gated", False)),
    )


def download_file(repo: str, filename: str, revision: str) -> str:
    """Download one small file (config.json) at a pinned commit; returns the local path."""
    from huggingface_hub import hf_hub_download

    return with_deadline(
        lambda: hf_hub_download(repo, filename, revision=revision, endpoint=endpoint()),
        f"downloading {filename} of hf:{repo}@{revision}",
        timeout=max(HUB_TIMEOUT_S, 30.0),
    )

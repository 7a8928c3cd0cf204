"""Content hashes of weight files: sha256 streamed, cached by (path, size, mtime)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

_CHUNK = 1 << 20
_LOCK = threading.Lock()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def cached_sha256(path: Path, cache_file: Path | None) -> str:
    """sha256 of ``path``; remembered in ``cache_file`` (JSON) when given.

    A changed file changes size or mtime, so a stale entry is never returned for it. The cache
    is best effort: an unreadable or unwritable cache only costs a re-hash.
    """
    if cache_file is None:
        return sha256_file(path)
    key = _cache_key(path)
    with _LOCK:
        try:
            cache = json.loads(cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
        if isinstance(cache, dict) and isinstance(cache.get(key), str):
            return str(cache[key])
        value = sha256_file(path)
        cache = cache if isinstance(cache, dict) else {}
        cache[key] = value
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=0, sort_keys=True), encoding="utf-8")
            tmp.replace(cache_file)
        except OSError:
            pass
        return value


def content_hash(files: Sequence[Path], cache_file: Path | None = None) -> str:
    """One hash for a set of weight files: sha256 over (name, file sha256) sorted by name.

    Names are included so that shards swapped between files give a different hash; parent
    directories are not, so a checkpoint moved elsewhere keeps its hash.
    """
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(f"{path.name}\0{cached_sha256(path, cache_file)}\n".encode())
    return "sha256:" + digest.hexdigest()

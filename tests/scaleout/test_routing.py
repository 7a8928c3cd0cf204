"""Routing: device classes, memory estimates per class, refusal with the estimate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from markovlens.service.errors import SubmitError
from markovlens.settings import Settings
from markovlens.store import open_database, repo_workers
from markovlens.store.tables import Model
from markovlens.worker.routing import (
    GIB,
    DeviceClass,
    NoCapacityError,
    choose_route,
    classes_from_workers,
    known_classes,
    parse_device_classes,
    parse_memory,
    route_job,
)

CLASSES = parse_device_classes(["gpu=cuda:24GiB", "gpu-80g=cuda:80GiB", "cpu=cpu:64GiB"])


def _need(params: float, bytes_per_param: int) -> int:
    """estimate_memory_bytes' formula: 1.25 × weights + 1 GiB workspace."""
    return int(params * bytes_per_param * 1.25) + GIB


def test_parse_memory_units() -> None:
    assert parse_memory("24GiB") == 24 * GIB
    assert parse_memory("24G") == 24 * GIB
    assert parse_memory("24") == 24 * GIB
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory("1.5 TiB") == int(1.5 * (1 << 40))
    with pytest.raises(ValueError, match="memory size"):
        parse_memory("lots")


def test_parse_device_classes() -> None:
    assert CLASSES[0] == DeviceClass(queue="gpu", device="cuda", memory_bytes=24 * GIB)
    assert [c.queue for c in CLASSES] == ["gpu", "gpu-80g", "cpu"]
    with pytest.raises(ValueError, match="queue=device:memory"):
        parse_device_classes(["gpu:24GiB"])
    with pytest.raises(ValueError, match="queue=device:memory"):
        parse_device_classes(["gpu=tpu:24GiB"])


def test_small_model_goes_to_the_smallest_gpu_in_bf16() -> None:
    route = choose_route(10**9, CLASSES)
    assert route.queue == "gpu"
    assert route.dtype == "bfloat16"
    assert route.estimate_bytes == _need(1e9, 2)


def test_model_too_big_for_24g_goes_to_80g() -> None:
    # 13e9 parameters in bf16: 32.5e9 + 1 GiB = 31.3 GiB > 24 GiB, < 80 GiB.
    route = choose_route(13 * 10**9, CLASSES)
    assert route.queue == "gpu-80g"
    assert route.estimate_bytes == _need(13e9, 2)


def test_cpu_only_deployment_routes_in_fp32() -> None:
    classes = parse_device_classes(["cpu=cpu:16GiB", "cpu-big=cpu:256GiB"])
    route = choose_route(3 * 10**9, classes)  # fp32: 15e9 + 1 GiB = 15.0 GiB < 16 GiB
    assert (route.queue, route.dtype, route.estimate_bytes) == ("cpu", "float32", _need(3e9, 4))
    assert choose_route(4 * 10**9, classes).queue == "cpu-big"  # 19.6 GiB


def test_model_no_class_can_hold_is_refused_with_the_estimate() -> None:
    with pytest.raises(NoCapacityError) as info:
        choose_route(40 * 10**9, CLASSES)
    message = str(info.value)
    gib = _need(40e9, 2) / GIB
    assert "40,000,000,000 parameters" in message
    assert f"gpu-80g (cuda, 80.0 GiB) needs {gib:.1f} GiB in bfloat16" in message
    assert f"cpu (cpu, 64.0 GiB) needs {_need(40e9, 4) / GIB:.1f} GiB in float32" in message
    assert isinstance(info.value, SubmitError)  # the API turns it into a 422


def test_explicit_queue_is_honoured_or_refused() -> None:
    route = choose_route(10**9, CLASSES, explicit="cpu")
    assert (route.queue, route.dtype, route.estimate_bytes) == ("cpu", "float32", _need(1e9, 4))
    with pytest.raises(NoCapacityError, match=r"queue 'gpu' cannot hold .* 31\.3 GiB"):
        choose_route(13 * 10**9, CLASSES, explicit="gpu")
    with pytest.raises(SubmitError, match="unknown queue 'tpu'"):
        choose_route(10**9, CLASSES, explicit="tpu")
    # Classes seen from live workers are not the whole list: an unknown queue may have
    # workers that are not up yet.
    assert choose_route(10**9, CLASSES, explicit="tpu", strict=False).queue == "tpu"


def test_dtype_setting_changes_the_estimate() -> None:
    route = choose_route(5 * 10**9, CLASSES, dtype_setting="float32")  # 24.3 GiB on GPU
    assert route.queue == "gpu-80g" and route.dtype == "float32"


def test_unknown_size_and_unknown_classes() -> None:
    assert choose_route(None, CLASSES).queue == "gpu-80g"  # the most likely to fit
    assert choose_route(None, CLASSES, explicit="cpu").queue == "cpu"
    assert choose_route(None, []).queue == "cpu"
    assert choose_route(10**12, [], explicit="gpu").queue == "gpu"  # nothing known: no check


def _register(db, worker_id: str, queues: list[str], device: str, memory_gib: int) -> None:
    with db.session() as session:
        repo_workers.register(
            session,
            worker_id,
            hostname="h",
            pid=1,
            queues=queues,
            device=device,
            device_name=None,
            gpu_count=1 if device == "cuda" else 0,
            memory_bytes=memory_gib * GIB,
            jobs_done=0,
            version="t",
        )


def test_classes_from_live_workers(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    settings = Settings(data_dir=tmp_path, worker_seen_seconds=60)
    try:
        _register(db, "a", ["gpu"], "cuda", 24)
        _register(db, "b", ["gpu"], "cuda", 16)  # the smaller worker bounds the class
        _register(db, "c", ["gpu-80g", "gpu"], "cuda", 80)
        _register(db, "d", ["cpu"], "cpu", 8)
        with db.session() as session:
            repo_workers.mark_stopped(session, "d")  # stopped: its class is gone
            classes = {c.queue: c for c in known_classes(session, settings)}
        assert classes["gpu"].memory_bytes == 16 * GIB
        assert classes["gpu-80g"] == DeviceClass(
            queue="gpu-80g", device="cuda", memory_bytes=80 * GIB
        )
        assert "cpu" not in classes
        configured = settings.model_copy(update={"device_classes": ["cpu=cpu:4GiB"]})
        with db.session() as session:
            assert [c.queue for c in known_classes(session, configured)] == ["cpu"]
            # Heartbeats older than the window do not count.
            stale = repo_workers.live_workers(session, timedelta(seconds=-1))
        assert stale == []
    finally:
        db.dispose()


def test_classes_from_workers_ignores_unknown_devices() -> None:
    row = repo_workers.WorkerRow(
        id="x", hostname="h", pid=1, queues=["q"], device="xpu", memory_bytes=GIB
    )
    assert classes_from_workers([row]) == [DeviceClass(queue="q", device="cpu", memory_bytes=GIB)]


def test_route_job_uses_the_model_row_then_weight_headers(
    tmp_path: Path, tiny_model_dirs: dict[str, Path]
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'm.db'}")
    directory = tiny_model_dirs["llama"]
    settings = Settings(
        data_dir=tmp_path, model_roots=[directory.parent], device_classes=["cpu=cpu:2GiB"]
    )
    try:
        with db.session() as session:
            known = Model(source="x", revision="", num_parameters=10**9)  # 6.7 GiB in fp32
            with pytest.raises(NoCapacityError, match="1,000,000,000 parameters"):
                route_job(session, settings, f"local:{directory}", known, None)
            route = route_job(session, settings, f"local:{directory}", None, None)
            assert route.queue == "cpu" and route.estimate_bytes is not None
            assert GIB < route.estimate_bytes < GIB + (1 << 20)  # ~100k parameters
            # A source that cannot be read routes anyway: the worker reports the real error.
            missing = route_job(session, settings, f"local:{tmp_path / 'nope'}", None, None)
            assert missing.estimate_bytes is None and missing.queue == "cpu"
    finally:
        db.dispose()

"""Device classes and job routing: which named queue can hold a job, or a refusal.

A device class is a named queue plus what every worker consuming it offers: a device kind
(cpu, cuda, mps) and memory in bytes (all GPUs of one machine together: the model is spread
over them with ``device_map``). Classes come from ``MARKOVLENS_DEVICE_CLASSES``
(``gpu=cuda:24GiB,gpu-80g=cuda:80GiB,cpu=cpu:64GiB``) or, when that is empty, from the
workers that advertised themselves recently (the ``workers`` table).

Routing estimates a job's peak memory from the model's parameter count and the dtype the
class would load it in (bf16 on a GPU, fp32 on CPU, unless ``MARKOVLENS_DTYPE`` says
otherwise), then picks the smallest accelerator class that holds it, else the smallest CPU
class; big machines stay free for big models. An explicit queue is honoured if it can hold
the job. A job that no class can hold is refused at submission with the estimate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Literal, NamedTuple, cast, get_args

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from markovlens.service.errors import SubmitError
from markovlens.settings import Settings
from markovlens.store import repo_workers
from markovlens.store.tables import Model

DeviceKind = Literal["cpu", "cuda", "mps"]
DEFAULT_QUEUE = "cpu"
GIB = 1 << 30
_UNITS = {"": GIB, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": GIB, "t": 1 << 40}
_MEMORY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_CLASS = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\s*=\s*(cpu|cuda|mps)\s*:\s*(.+)$")


class NoCapacityError(SubmitError):
    """No device class can hold the job (HTTP 422, like every bad submission)."""


class DeviceClass(BaseModel):
    """A named queue and what each of its workers can hold."""

    queue: str
    device: DeviceKind
    memory_bytes: int = Field(gt=0)

    @property
    def accelerated(self) -> bool:
        return self.device != "cpu"


class Route(BaseModel):
    """Where a job goes and why (logged at submission)."""

    queue: str
    estimate_bytes: int | None = None
    dtype: str | None = None
    reason: str


def parse_memory(text: str) -> int:
    """``24GiB``, ``24G``, ``512MiB``, ``24`` (GiB) → bytes."""
    match = _MEMORY.match(text)
    if match is None:
        raise ValueError(f"cannot read memory size {text!r} (e.g. 24GiB, 512MiB)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def _device_kind(name: str) -> DeviceKind:
    """``name`` as a device kind; anything unknown (an older worker's row) counts as the CPU."""
    return cast(DeviceKind, name) if name in get_args(DeviceKind) else "cpu"


def parse_device_classes(specs: Iterable[str]) -> list[DeviceClass]:
    """``queue=device:memory`` items (as in ``MARKOVLENS_DEVICE_CLASSES``) → classes."""
    classes: dict[str, DeviceClass] = {}
    for spec in specs:
        match = _CLASS.match(spec)
        if match is None:
            raise ValueError(
                f"cannot read device class {spec!r}: expected queue=device:memory, "
                "e.g. gpu=cuda:24GiB"
            )
        queue, device, memory = match.groups()
        classes[queue] = DeviceClass(
            queue=queue, device=_device_kind(device), memory_bytes=parse_memory(memory)
        )
    return list(classes.values())


def format_bytes(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


def class_dtype(device: str, dtype_setting: str) -> str:
    """The dtype a worker of ``device`` loads models in (models.device's ``auto`` rule)."""
    from markovlens.models.device import DTYPE_NAMES, resolve_dtype

    return DTYPE_NAMES[resolve_dtype(dtype_setting, device)]


def estimate_for(num_parameters: int, device: str, dtype_setting: str) -> tuple[int, str]:
    """(peak bytes, dtype name) of analysing ``num_parameters`` on a ``device`` worker."""
    from markovlens.models import estimate_memory_bytes

    dtype = class_dtype(device, dtype_setting)
    return estimate_memory_bytes(num_parameters, dtype), dtype


def choose_route(
    num_parameters: int | None,
    classes: list[DeviceClass],
    *,
    dtype_setting: str = "auto",
    explicit: str | None = None,
    strict: bool = True,
) -> Route:
    """The queue for a job; raises ``NoCapacityError`` (or SubmitError for an unknown queue).

    ``strict``: ``classes`` is the whole list (configured), so an explicit queue outside it is
    an error. With classes seen from live workers (not strict), an unknown explicit queue is
    accepted unchecked: its workers may simply not be up yet.
    """
    if not classes:
        # Nothing is known about the workers (none advertised yet, no classes configured).
        return Route(queue=explicit or DEFAULT_QUEUE, reason="no device classes known")
    if explicit is not None and explicit not in {c.queue for c in classes}:
        return _unknown_queue(explicit, classes, strict)
    if num_parameters is None:
        queue = explicit or _fallback(classes).queue
        return Route(queue=queue, reason="parameter count unknown until a worker loads the model")
    estimates = [_Estimate.of(c, num_parameters, dtype_setting) for c in classes]
    if explicit is not None:
        return _explicit_route([e for e in estimates if e.cls.queue == explicit], num_parameters)
    return _smallest_fit(estimates, num_parameters)


class _Estimate(NamedTuple):
    """One class's estimate for a job: peak bytes in the dtype the class loads it in."""

    cls: DeviceClass
    need: int
    dtype: str

    @classmethod
    def of(cls, device_class: DeviceClass, num_parameters: int, dtype_setting: str) -> _Estimate:
        need, dtype = estimate_for(num_parameters, device_class.device, dtype_setting)
        return cls(device_class, need, dtype)

    @property
    def fits(self) -> bool:
        return self.need <= self.cls.memory_bytes

    def describe(self) -> str:
        has = format_bytes(self.cls.memory_bytes)
        return (
            f"{self.cls.queue} ({self.cls.device}, {has}) needs "
            f"{format_bytes(self.need)} in {self.dtype}"
        )


def _unknown_queue(explicit: str, classes: list[DeviceClass], strict: bool) -> Route:
    """An explicit queue outside ``classes``: accepted unchecked if not strict, else refused."""
    if not strict:
        return Route(queue=explicit, reason="explicit queue with no live worker yet")
    queues = sorted({c.queue for c in classes})
    raise SubmitError(f"unknown queue {explicit!r}; the device classes are {', '.join(queues)}")


def _explicit_route(named: list[_Estimate], num_parameters: int) -> Route:
    """The named queue if its workers can hold the job, else NoCapacityError."""
    estimate = next((e for e in named if e.fits), named[-1])
    if not estimate.fits:
        raise NoCapacityError(
            f"queue {estimate.cls.queue!r} cannot hold this model: {num_parameters:,} parameters "
            f"need about {format_bytes(estimate.need)} in {estimate.dtype}, its workers have "
            f"{format_bytes(estimate.cls.memory_bytes)}"
        )
    return Route(
        queue=estimate.cls.queue,
        estimate_bytes=estimate.need,
        dtype=estimate.dtype,
        reason="explicit queue",
    )


def _smallest_fit(estimates: list[_Estimate], num_parameters: int) -> Route:
    """Accelerators first, then the smallest memory that fits (big machines stay free)."""
    fits = [e for e in estimates if e.fits]
    if not fits:
        raise NoCapacityError(
            f"no worker class can hold this model: {num_parameters:,} parameters; "
            + "; ".join(e.describe() for e in estimates)
        )
    best = min(fits, key=lambda e: (not e.cls.accelerated, e.cls.memory_bytes))
    kind = "accelerator" if best.cls.accelerated else "CPU"
    return Route(
        queue=best.cls.queue,
        estimate_bytes=best.need,
        dtype=best.dtype,
        reason=f"smallest {kind} class that fits",
    )


def _fallback(classes: list[DeviceClass]) -> DeviceClass:
    """Unknown size: the largest accelerator class, else the largest class (most likely to fit)."""
    return max(classes, key=lambda c: (c.accelerated, c.memory_bytes))


def classes_from_workers(rows: Iterable[repo_workers.WorkerRow]) -> list[DeviceClass]:
    """Classes as live workers advertise them: per queue, its smallest worker (any may claim)."""
    classes: dict[str, DeviceClass] = {}
    for row in rows:
        for queue in row.queues:
            current = classes.get(queue)
            if current is None or row.memory_bytes < current.memory_bytes:
                classes[queue] = DeviceClass(
                    queue=queue,
                    device=_device_kind(row.device),
                    memory_bytes=max(1, row.memory_bytes),
                )
    return list(classes.values())


def known_classes(session: Session, settings: Settings) -> list[DeviceClass]:
    """Configured classes, else those of the workers seen within ``worker_seen_seconds``."""
    if settings.device_classes:
        return parse_device_classes(settings.device_classes)
    window = timedelta(seconds=settings.worker_seen_seconds)
    return classes_from_workers(repo_workers.live_workers(session, window))


def route_job(
    session: Session,
    settings: Settings,
    model_source: str,
    model: Model | None,
    explicit: str | None,
) -> Route:
    """Route a submission: parameter count from the model row (a worker loaded it before) or
    from the weight headers, then ``choose_route`` over the known classes."""
    classes = known_classes(session, settings)
    if not classes:
        return choose_route(None, [], explicit=explicit)
    num_parameters = model.num_parameters if model is not None else None
    if num_parameters is None:
        from markovlens.models.weights import parameter_count_hint

        num_parameters = parameter_count_hint(model_source, settings)
    return choose_route(
        num_parameters,
        classes,
        dtype_setting=settings.dtype,
        explicit=explicit,
        strict=bool(settings.device_classes),
    )

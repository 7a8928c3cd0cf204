"""Placement of one model on the GPUs of one machine: a single device when one GPU holds the
job, else ``device_map="auto"`` with a per-GPU memory cap so accelerate spreads the layers.

``placement_kwargs`` is a pure function of sizes (testable without GPUs); ``plan_placement``
reads this machine's GPUs and the model's size from its config.
"""

from __future__ import annotations

from typing import Any

import torch

GIB = 1 << 30
# accelerate's max_memory is for weights only; leave room for activations and the
# analysis workspace on every GPU (the estimate's 1 GiB workspace sits on the first one).
WEIGHT_SHARE = 0.8


class PlacementError(RuntimeError):
    """The GPUs of this machine together cannot hold the model."""


def placement_kwargs(
    estimate_bytes: int, weight_bytes: int, gpu_memory: list[int], device: str = "cuda"
) -> dict[str, Any]:
    """``from_pretrained`` kwargs for a job of peak ``estimate_bytes`` with ``weight_bytes``
    of weights on GPUs of ``gpu_memory`` bytes each ({} = one device, the caller's ``.to``)."""
    if not device.startswith("cuda") or ":" in device or len(gpu_memory) <= 1:
        return {}
    if estimate_bytes <= gpu_memory[0]:
        return {}
    caps = [int(memory * WEIGHT_SHARE) for memory in gpu_memory]
    if weight_bytes > sum(caps):
        raise PlacementError(
            f"the model's weights ({weight_bytes / GIB:.1f} GiB) do not fit in "
            f"{len(gpu_memory)} GPUs of {sum(gpu_memory) / GIB:.1f} GiB together"
        )
    return {"device_map": "auto", "max_memory": dict(enumerate(caps))}


def gpu_memory_bytes() -> list[int]:
    """Free memory of each visible CUDA device now (what this process can still use)."""
    if not torch.cuda.is_available():
        return []
    return [int(torch.cuda.mem_get_info(i)[0]) for i in range(torch.cuda.device_count())]

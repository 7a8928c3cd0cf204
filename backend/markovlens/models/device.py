"""Device and dtype resolution: ``auto`` means cuda > mps > cpu, and bf16 on GPU, fp32 on CPU."""

from __future__ import annotations

import torch

from markovlens.models.errors import ModelLoadError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float32: "float32",
    torch.bfloat16: "bfloat16",
    torch.float16: "float16",
}


def resolve_device(requested: str | None) -> str:
    """``auto``/None → the best available accelerator; an explicit name must be available."""
    name = (requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = name.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {requested!r} requested but CUDA is not available")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {requested!r} requested but MPS is not available")
    if kind not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"unknown device {requested!r} (auto, cpu, cuda[:N], mps)")
    return name


def resolve_dtype(requested: str | None, device: str) -> torch.dtype:
    """``auto``/None → bf16 on a GPU (half the memory, native speed), fp32 on CPU (bf16
    matmuls are slow on most CPUs and the fidelity checks are specified in fp32)."""
    name = (requested or "auto").strip().lower()
    if name == "auto":
        return torch.float32 if device.startswith("cpu") else torch.bfloat16
    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {requested!r} ({', '.join(sorted(DTYPES))}, auto)")
    return DTYPES[name]


def bytes_per_parameter(dtype: str | torch.dtype) -> int:
    """Bytes of one parameter; ``auto`` counts as fp32 (the larger: routing never under-counts)."""
    if isinstance(dtype, torch.dtype):
        return torch.empty((), dtype=dtype).element_size()
    name = dtype.strip().lower()
    return 4 if name == "auto" else torch.empty((), dtype=resolve_dtype(name, "cpu")).element_size()

"""Lab tests run torch on one thread: tiny matrices, and a shared 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from markovlens.lab.trainer import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with torch_threads(1):
        yield

"""The hand-off from the capture pass to the surplus and spectral suites."""

from __future__ import annotations

import torch

from markovlens.analysis.architecture import ModelArchitecture
from markovlens.analysis.capture.corpus_pass import CaptureOutput
from markovlens.analysis.capture.plan import ContextPlan
from markovlens.analysis.contexts import SampledContexts


def build_sampled_contexts(
    windows: torch.Tensor,
    plan: ContextPlan,
    capture: CaptureOutput,
    arch: ModelArchitecture,
    seed: int,
) -> SampledContexts:
    """The hand-off to the surplus and spectral suites (fp32, CPU, frozen head and embedding)."""
    w, t = plan.window_index, plan.position
    offsets = torch.arange(plan.horizon)
    future = windows[w.unsqueeze(1), t.unsqueeze(1) + 1 + offsets]
    greedy = torch.from_numpy(capture.token_arrays["argmax"]).long()
    greedy_future = greedy[w.unsqueeze(1), t.unsqueeze(1) + offsets]
    return SampledContexts(
        hidden=capture.hidden,
        window_index=w.clone(),
        position=t.clone(),
        future_tokens=future.long(),
        greedy_future=greedy_future,
        embed=arch.embedding_matrix().detach().to("cpu", torch.float32),
        head=arch.head.to("cpu", torch.float32),
        split=plan.split.clone(),
        current_tokens=windows[w, t].long(),
        seed=seed,
    )

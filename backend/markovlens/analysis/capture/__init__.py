"""The capture layer: one forward pass of the model over the corpus.

- ``plan``: which (window, position) contexts to record, split into probe-train / val / test.
- ``recorder``: forward hooks that copy those contexts' hidden states (a context manager).
- ``corpus_pass``: the batched pass itself (batch sizing, out-of-memory halving, progress).
- ``logits``: the model's logits reduced to per-token statistics, chunk by chunk.
- ``handoff``: the ``SampledContexts`` the surplus and spectral suites read.
"""

from markovlens.analysis.capture.corpus_pass import CaptureOutput, capture_pass, default_batch_size
from markovlens.analysis.capture.handoff import build_sampled_contexts
from markovlens.analysis.capture.logits import EXACT_ARRAYS, TOKEN_FLOAT_ARRAYS, exact_token_terms
from markovlens.analysis.capture.plan import ContextPlan, sample_contexts
from markovlens.analysis.capture.recorder import Recorder

__all__ = [
    "EXACT_ARRAYS",
    "TOKEN_FLOAT_ARRAYS",
    "CaptureOutput",
    "ContextPlan",
    "Recorder",
    "build_sampled_contexts",
    "capture_pass",
    "default_batch_size",
    "exact_token_terms",
    "sample_contexts",
]

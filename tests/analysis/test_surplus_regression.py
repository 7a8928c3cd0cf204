"""Regressions from SmolLM2-135M (quick preset), where every probe ended at its start.

Two faults hid the state's information there: (1) early stopping compared a validation CE
that left out the OOV charge with a test CE that included it, so ``best_val_ce`` (≈ 4.1 nats)
and ``test_ce`` (≈ 7.6 nats) of one probe were different quantities; (2) the with-state readout
was nested on a neural n-gram that never reached the count bigram, so the state's gain sat
under that misfit. Each check below is paired with the broken behaviour it rejects.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from markovlens.analysis.probes import (
    ModelFreeReadout,
    ProbeInputs,
    ProbeSettings,
    Vocab,
    class_losses,
    full_vocab_losses,
    train_readout,
)
from markovlens.analysis.surplus import surplus_suite

from tests.analysis.test_surplus_known import (
    CONFIG,
    Source,
    _quiet,
    embedding_model,
    exact_term1,
    source,  # noqa: F401  (the module-scoped fixture)
)

VOCAB = 500


def _split_with_oov() -> tuple[Vocab, ProbeInputs, ProbeInputs]:
    """Train targets from 40 tokens; a third of validation targets are tokens never seen."""
    gen = torch.Generator().manual_seed(0)
    seen = torch.arange(40)
    y_train = seen[torch.randint(0, 40, (600,), generator=gen)]
    vocab = Vocab(y_train, VOCAB)
    y_val = torch.cat([seen[torch.randint(0, 40, (200,), generator=gen)],
                       torch.randint(100, VOCAB, (100,), generator=gen)])  # fmt: skip

    def rows(y: torch.Tensor) -> ProbeInputs:
        return ProbeInputs(torch.zeros(y.numel(), 0), torch.zeros(y.numel(), 0, dtype=torch.long),
                           vocab.classes(y))  # fmt: skip

    return vocab, rows(y_train), rows(y_val)


def test_probe_validation_ce_is_the_full_vocabulary_test_quantity() -> None:
    vocab, train, val = _split_with_oov()
    assert bool((val.y == vocab.size).any())  # OOV targets present
    prior = torch.full((vocab.num_classes,), -math.log(vocab.num_classes))
    probe = ModelFreeReadout(0, 0, vocab.num_classes, 8, prior, torch.Generator().manual_seed(1))
    settings = ProbeSettings(batch_size=64, max_epochs=30, max_steps=400, patience=4, lr=1e-2,
                             weight_decay=0.0, eval_batch_size=256)  # fmt: skip
    fit = train_readout(probe, train, val, settings, torch.Generator().manual_seed(2), vocab=vocab)
    full, _ = full_vocab_losses(probe, val, vocab, 256)
    cls, _ = class_losses(probe, val, 256)
    # The kept parameters' validation CE is exactly what test CE measures on those rows …
    assert fit.best_val_ce == pytest.approx(float(full.mean()), abs=1e-5)
    # … and not the class CE, which leaves out the OOV charge (the broken comparison).
    oov_share = float((val.y == vocab.size).float().mean())
    assert float(full.mean()) - float(cls.mean()) == pytest.approx(
        oov_share * vocab.oov_penalty, rel=1e-4
    )
    assert abs(fit.best_val_ce - float(cls.mean())) > 1.0


def test_informative_state_is_used_on_top_of_the_count_ngram(source: Source) -> None:  # noqa: F811
    """h_t = E[x_t] carries x_t, which the source's y_{t+1} depends on beyond y_t: the
    with-state readout nested on the count n-gram must use h_t and beat that n-gram on
    validation (the old suite's with-state side never beat its own start)."""
    table, windows = source
    contexts, data = embedding_model(windows, seed=2)
    suite = surplus_suite(contexts, CONFIG, np.random.default_rng(0), _quiet, windows=data)
    t1 = suite.terms[1]
    residual = t1.with_state_candidates["n-gram + state"]
    assert residual < t1.no_state_candidates["n-gram"] - 0.1
    assert t1.state_used and t1.term.low > 0 and suite.verdict[2] == "detected"
    # Every probe's best validation CE is on the test CE's scale (same quantity, held out).
    for p in suite.probes:
        assert abs(p.best_val_ce - p.test_ce) < 0.5, p
    assert exact_term1(table) > 0.2


def test_shuffled_states_give_the_residual_readout_nothing(source: Source) -> None:  # noqa: F811
    """Broken: states shuffled across positions; the residual readout cannot beat the
    n-gram by the margin required above."""
    _, windows = source
    contexts, data = embedding_model(windows, seed=2)
    perm = torch.randperm(data.states.shape[1], generator=torch.Generator().manual_seed(0))
    data.states = data.states[:, perm]
    suite = surplus_suite(contexts, CONFIG, np.random.default_rng(0), _quiet, windows=data)
    t1 = suite.terms[1]
    assert t1.with_state_candidates["n-gram + state"] > t1.no_state_candidates["n-gram"] - 0.1

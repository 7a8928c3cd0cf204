"""Compare says when alignment lifts are not comparable (different corpus, contexts or N)."""

from __future__ import annotations

from markovlens.api.routers.compare import lift_comparability
from markovlens.service.schemas import Headline


def card(key: str | None, corpus: str = "abc", n: int = 2000, lift: float = 1.3) -> Headline:
    return Headline(alignment_lift_last=lift, contexts_key=key, corpus_hash=corpus, num_contexts=n)


def test_same_contexts_are_comparable() -> None:
    out = lift_comparability([(1, card("k1")), (2, card("k1", lift=1.1))])
    assert out.comparable and out.message is None and out.groups == {"k1": [1, 2]}
    # Results without a lift do not count.
    out = lift_comparability([(1, card("k1")), (2, Headline(contexts_key="k2"))])
    assert out.comparable


def test_different_corpus_or_n_or_settings_are_flagged() -> None:
    out = lift_comparability([(1, card("k1")), (2, card("k2", corpus="xyz"))])
    assert not out.comparable and out.message is not None
    assert "corpus" in out.message and out.groups == {"k1": [1], "k2": [2]}
    out = lift_comparability([(1, card("k1")), (2, card("k2", n=1000))])
    assert not out.comparable and "N (1000, 2000)" in (out.message or "")
    out = lift_comparability([(1, card("k1")), (2, card("k2"))])
    assert not out.comparable and "seed or split" in (out.message or "")
    out = lift_comparability([(1, card("k1")), (2, card(None))])
    assert not out.comparable and "without stored context settings" in (out.message or "")

"""The Tokens tab: every token coloured as the legend says, the hover's top-5 and lens picks."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from transformers import AutoTokenizer

from tests.browser.conftest import SMALL, UI, Service

pytestmark = pytest.mark.browser

BINS = 8


def open_tokens(ui: UI, service: Service, name: str) -> Any:
    job = service.jobs[name]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}&tab=tokens")
    page.wait_for_selector("#panel-tokens[data-ready='true']")
    return page


def expected_bin(value: float | None, kind: str, scale: dict[str, float]) -> int:
    """The bin a person should find a value in, computed here from the API's numbers."""
    if value is None:
        return -1
    if kind == "binary":
        return 1 if value >= 0.5 else 0
    span = scale["high"] - scale["low"]
    return min(BINS - 1, max(0, math.floor((value - scale["low"]) / span * BINS)))


def shown_colours(page: Any) -> list[tuple[int, str]]:
    """(bin, computed background colour) of every token span, as drawn."""
    return [
        (int(b), c)
        for b, c in page.eval_on_selector_all(
            "#token-text .tok",
            "els => els.map(e => [e.dataset.bin, getComputedStyle(e).backgroundColor])",
        )
    ]


def legend_colours(page: Any) -> dict[int, str]:
    pairs = page.eval_on_selector_all(
        "#tokens-legend li[data-bin]",
        "els => els.map(e => [e.dataset.bin, "
        "getComputedStyle(e.querySelector('.swatch')).backgroundColor])",
    )
    return {int(b): c for b, c in pairs}


def test_every_token_has_the_legend_colour_of_its_value(ui: UI, service: Service) -> None:
    page = open_tokens(ui, service, "full")
    rid = service.jobs["full"]["result_id"]
    view = service.api.get(f"/api/v1/results/{rid}/tokens", params={"window": 0}).json()
    assert page.locator("#token-text .tok").count() == SMALL["window_len"] == len(view["tokens"])
    # The job decoded each id with the model's own tokenizer.
    tokenizer = AutoTokenizer.from_pretrained(service.models["llama"])
    decoded = [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in view["token_ids"]]
    assert view["tokens"] == decoded and view["decoded"]
    keys = [q["key"] for q in view["quantities"]]
    lens = [k for k in keys if k.startswith("lens_kl_l")]
    assert lens, keys  # lens KL by layer is offered at the sampled contexts
    for key in ["nll", "entropy", "nll_minus_entropy", "top1_hit", lens[0]]:
        page.select_option("#tokens-quantity", key)
        page.wait_for_selector(f"#panel-tokens[data-quantity='{key}']")
        quantity = next(q for q in view["quantities"] if q["key"] == key)
        legend = legend_colours(page)
        drawn = shown_colours(page)
        want = [expected_bin(v, quantity["kind"], view["scales"][key]) for v in view["values"][key]]
        assert [b for b, _ in drawn] == want, key
        for b, colour in drawn:
            if b >= 0:
                assert colour == legend[b], (key, b, colour, legend[b])
            else:  # undefined here (last token, or not a sampled context): no fill
                assert colour == "rgba(0, 0, 0, 0)"
        if quantity["kind"] == "binary":  # hits and misses: two distinct legend colours
            assert legend[0] != legend[1]
        elif not quantity["sampled_only"]:  # a scale set by the data spreads the tokens
            distinct = {c for b, c in drawn if b >= 0}
            assert len(distinct) >= 3, f"{key}: the tokens take {len(distinct)} colour(s)"
        # The legend states the scale in the quantity's unit.
        assert quantity["label"] in page.locator("#tokens-legend").inner_text()
    sampled = page.locator("#token-text .tok.sampled").count()
    assert sampled == len(view["sampled"]) > 0


def test_hover_shows_the_top5_with_probabilities_and_the_lens_by_layer(
    ui: UI, service: Service
) -> None:
    page = open_tokens(ui, service, "full")
    rid = service.jobs["full"]["result_id"]
    view = service.api.get(f"/api/v1/results/{rid}/tokens", params={"window": 0}).json()
    page.hover("#token-text .tok[data-position='3']")
    tip = page.locator("#token-tip")
    tip.wait_for(state="visible")
    assert "position 3" in tip.inner_text()
    probs = [float(t) for t in tip.locator(".tt-top td.num").all_inner_texts()]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True)
    assert 0 < sum(probs) <= 1.0
    assert probs == pytest.approx([t["prob"] for t in view["topk"][3]], abs=1e-4)
    texts = tip.locator(".tt-top code").all_inner_texts()
    assert texts == [json.dumps(t["text"], ensure_ascii=False) for t in view["topk"][3]]
    # A sampled context: the lens's top-1 at every captured layer.
    position = view["sampled"][0]["position"]
    page.hover(f"#token-text .tok[data-position='{position}']")
    page.wait_for_selector(f"#token-tip[data-position='{position}'] .tt-lens")
    rows = tip.locator(".tt-lens tr").all_inner_texts()
    assert [r.split()[1] for r in rows] == [str(x) for x in view["lens_layers"]]
    assert "split" in tip.inner_text()
    # The keyboard reaches the same card: one tab stop, arrow keys move token by token.
    page.focus("#token-text .tok[data-position='0']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#token-tip[data-position='2']")
    assert page.locator("#token-text .tok[tabindex='0']").count() == 1
    # Changing the colouring redraws an open card with the new quantity (it went stale).
    assert "NLL of the next token" in tip.inner_text()
    page.select_option("#tokens-quantity", "entropy")
    assert "Entropy of the prediction" in tip.inner_text()
    assert "NLL of the next token:" not in tip.inner_text()
    # The last token predicts nothing inside the window, and says so.
    page.hover(f"#token-text .tok[data-position='{len(view['tokens']) - 1}']")
    assert "Last token of the window" in tip.inner_text()


def test_windows_page_through_and_synthetic_sources_show_their_symbols(
    ui: UI, service: Service
) -> None:
    page = open_tokens(ui, service, "step100")
    rid = service.jobs["step100"]["result_id"]
    first = page.locator("#token-text").inner_text()
    assert re.fullmatch(r"(s\d+)+", first.replace("\n", "")), first[:80]
    page.click("#panel-tokens button:has-text('Next')")
    page.wait_for_selector("#panel-tokens[data-window='1']")
    second = service.api.get(f"/api/v1/results/{rid}/tokens", params={"window": 1}).json()
    assert page.locator("#token-text").inner_text() == "".join(second["tokens"])
    assert page.input_value("#tokens-window") == "1"
    # Per-context surplus gains are offered exactly when the result stores them.
    offered = page.eval_on_selector_all("#tokens-quantity option", "os => os.map(o => o.value)")
    gains = [q["key"] for q in second["quantities"] if q["key"].startswith("surplus_gain_j")]
    assert [k for k in offered if k.startswith("surplus_gain_j")] == gains
    if not gains:
        assert "gains were not stored" in page.locator("#panel-tokens .notes").inner_text()

"""The frontend's pure functions, run as the ES modules the browser loads (known answers)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import UI

pytestmark = pytest.mark.browser


MODULES = """
    const m = {
      walker: await import('/js/sections/walker.js'),
      surplus: await import('/js/sections/surplus.js'),
      sections: await import('/js/sections/index.js'), units: await import('/js/units.js'),
      charts: await import('/js/charts.js'), submit: await import('/js/pages/submit.js'),
      compare: await import('/js/pages/compare.js'),
      models: await import('/js/pages/models.js'), app: await import('/js/app.js'),
    };
"""


def run(ui: UI, body: str) -> Any:
    """Evaluate ``body`` (an async function body; ``m`` holds the imported modules) in the page.

    Playwright evaluates through DevTools, so the page's CSP (no eval) does not apply to it.
    """
    page = ui.goto("#/jobs")
    return page.evaluate(f"async () => {{ {MODULES} {body} }}")


def test_form_validation_known_cases(ui: UI) -> None:
    out = run(
        ui,
        """
        const ok = {model: 'builtin:smollm2-135m', corpus: 'builtin:python-docs',
                    corpusMode: 'choose', advanced: {window_len: '64', seed: ''}};
        return [
          m.submit.validate(ok),
          Object.keys(m.submit.validate({...ok, model: ''})),
          Object.keys(m.submit.validate({...ok, model: 'ftp:x'})),
          Object.keys(m.submit.validate({...ok, model: 'local:'})),
          Object.keys(m.submit.validate({...ok, corpus: 'nope:x'})),
          Object.keys(m.submit.validate({...ok, advanced: {window_len: '7'}})),
          Object.keys(m.submit.validate({...ok, advanced: {seed: '1.5'}})),
          Object.keys(m.submit.validate({...ok, corpusMode: 'upload', file: undefined})),
        ];
        """,
    )
    assert out == [
        {},
        ["model"],
        ["model"],
        ["model"],
        ["corpus"],
        ["window_len"],
        ["seed"],
        ["file"],
    ]


def test_generic_walk_charts_unknown_per_layer_sections(ui: UI) -> None:
    specs, scalars = run(
        ui,
        """
        // Units come from the server's schema (x-unit), here a stand-in for a new section.
        const field = (unit) => ({type: 'array', items: {type: 'number'}, 'x-unit': unit});
        m.units.setSchemaDocument({components: {schemas: {
          AnalysisResult: {properties: {future: {$ref: '#/components/schemas/Future'}}},
          Future: {properties: {layers: field('index'), mean_entropy: field('nats'),
            mutual_information: field('nats'), agreement: field('probability'),
            ratio: {$ref: '#/components/schemas/Interval', 'x-unit': 'ratio'}}}}}});
        const specs = [], scalars = [];
        m.walker.autoSpecs({layers: [0, 1, 2], mean_entropy: [3, 2, 1],
                           mutual_information: [0.1, 0.2, 0.3], agreement: [0.5, 0.6, 0.7],
                           ratio: {estimate: 1, low: 0.5, high: 2}, name: 'x'},
                          'future', specs, scalars);
        return [specs.map(s => [s.x.title, s.y.title, s.traces.map(t => t.name)]), scalars];
        """,
    )
    assert ["layer ℓ (0 = embeddings)", "nats", ["Mean entropy", "Mutual information"]] in specs
    assert ["layer ℓ (0 = embeddings)", "fraction (0–1)", ["Agreement"]] in specs
    assert ["future.ratio", {"estimate": 1, "low": 0.5, "high": 2}] in scalars


def test_surplus_specs_draw_bounds_and_exact_values(ui: UI) -> None:
    spec = run(
        ui,
        """
        const iv = (e) => ({estimate: e, low: e - 0.1, high: e + 0.1});
        const s = {surplus: {'3': iv(0.5), '2': iv(0.3)},
                   bounds: {'2': {low: 0, high: 1.2, trivial_high: 5}, '3': {low: 0, high: 2,
                   trivial_high: 10}}};
        const [first] = m.surplus.specs(s, {exact: {ideal_surplus: {'2': 0.35, '3': 0.6}}});
        return first;
        """,
    )
    assert spec["id"] == "surplus.by_k"
    by_name = {t["name"]: t for t in spec["traces"]}
    est = by_name["Surplus_K estimate (95% interval)"]
    assert (est["x"], est["y"]) == ([2, 3], [0.3, 0.5])
    assert est["low"] == pytest.approx([0.2, 0.4])
    assert by_name["upper bound H(Y_{t+1:t+K−1} | Y_t)"]["y"] == [1.2, 2]
    assert by_name["exact (ideal sufficient statistic)"]["y"] == [0.35, 0.6]


def test_surplus_not_detected_is_labelled_with_its_upper_bound(ui: UI) -> None:
    out = run(
        ui,
        """
        const zero = {estimate: 0, low: 0, high: 0}, found = {estimate: 0.3, low: 0.2, high: 0.4};
        const bounds = {'2': {low: 0, high: 1.234, trivial_high: 5},
                        '3': {low: 0, high: 2, trivial_high: 10}};
        const older = {surplus: {'2': zero, '3': found}, bounds};  // no 'detected' stored
        const stored = {...older, detected: {'2': true, '3': false}};
        const scalars = (s) => m.surplus.scalars(s).filter(r => r[0].includes('Surplus K'));
        const [byK] = m.surplus.specs(older);
        return {
          older: scalars(older), stored: scalars(stored),
          hollow: byK.traces[0].hollow, hover: byK.traces[0].hover.map(t => t.slice(0, 12)),
        };
        """,
    )
    # An older result (no stored flag): detected from the interval's low > 0.
    assert out["older"] == [
        ["surplus.Surplus K=2", "not detected (≤ 1.234)", "nats"],
        ["surplus.Surplus K=3", {"estimate": 0.3, "low": 0.2, "high": 0.4}],
    ]
    # A stored flag is what the analysis decided.
    assert out["stored"] == [
        ["surplus.Surplus K=2", {"estimate": 0, "low": 0, "high": 0}],
        ["surplus.Surplus K=3", "not detected (≤ 2)", "nats"],
    ]
    assert out["hollow"] == [True, False]
    assert out["hover"] == ["not detected", "detected: 95"]
    # (Headline text — models list, compare, cards — is headlines.js's: test_headlines.py.)


def test_plotly_text_escaping_overlay_and_checkpoints(ui: UI) -> None:
    out = run(
        ui,
        """
        const r = (v) => ({result: {entropy: {nll_by_position: {positions: [1, 2],
                           mean: [v, v], low: [v, v], high: [v, v]}}}});
        const items = [
          {label: 'a', model: {run_name: 'run', training_step: 10}, result: r(1)},
          {label: 'b', model: {run_name: 'run', training_step: 20}, result: r(2)},
        ];
        const merged = m.compare.overlaySpecs(items);
        return {
          text: m.charts.plotlyText('<b>x</b> & y'),
          ids: merged.map(s => s.id), names: merged[0].traces.map(t => t.name),
          ck: m.compare.isCheckpointSeries(items),
          notCk: m.compare.isCheckpointSeries([items[0], {...items[1], model: {run_name: 'o',
                                                                     training_step: 1}}]),
          hash: m.app.parseHash('#/model/3?result=7&tab=surplus'),
        };
        """,
    )
    assert out["text"] == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert out["ids"] == ["entropy.by_position"] and out["names"] == ["a", "b"]
    assert out["ck"] is True and out["notCk"] is False
    assert out["hash"]["name"] == "model" and out["hash"]["args"] == ["3"]


def test_alignment_lift_carries_its_interval(ui: UI) -> None:
    out = run(
        ui,
        """
        const iv = (e) => ({estimate: e, low: e - 0.1, high: e + 0.1});
        const row = (layer, kernel, side, lift, withInterval) => ({layer, kernel, side, lift,
          alignment: 0.5, alignment_random: 0.5 / lift, d_eff: 4, capture: [],
          lift_interval: withInterval ? iv(lift) : null});
        const sp = {num_contexts: 100, layers: [0, 2], spectra: [], heldout: [],
          representation: [{layer: 2, effective_rank: 3}],
          alignment: [row(0, 'proto', 'data', 1.2, true), row(2, 'proto', 'data', 1.8, true),
                      row(0, 'proto', 'model', 3, false), row(2, 'proto', 'model', 4, false)]};
        const { specs, scalars } = m.sections.sectionView({spectral: sp}, 'spectral', 'Spectrum');
        const lift = specs.find(s => s.id === 'spectral.lift');
        return {
          traces: lift.traces.map(t => [t.name, t.y, t.low ?? null, t.high ?? null]),
          scalar: scalars.find(r => String(r[0]).includes('Lift proto data side')),
        };
        """,
    )
    data = next(t for t in out["traces"] if t[0].endswith("(95% interval)"))
    assert data[1] == [1.2, 1.8]
    assert data[2] == pytest.approx([1.1, 1.7]) and data[3] == pytest.approx([1.3, 1.9])
    model = next(t for t in out["traces"] if "model" in t[0])
    assert model[1] == [3, 4] and model[2] is None  # model side: no interval
    assert out["scalar"][1] == pytest.approx({"estimate": 1.8, "low": 1.7, "high": 1.9})


def test_chart_scaling_known_answers(ui: UI) -> None:
    out = run(
        ui,
        """
        const c = m.charts;
        const lens = {y: {rangeFrom: 'estimates', focusX: [1, 3]}, traces: [
          {name: 'nll', x: [0, 1, 2, 3], y: [108, 4, 3, 2], role: 'estimate'},
          {name: 'H(Y)', x: [0, 3], y: [9, 9], role: 'bound'}]};
        const r = c.estimateRange(lens);
        const noFocus = c.estimateRange({...lens, y: {rangeFrom: 'estimates'}});
        return {
          range: r.range, off: r.offscale.map(o => [o.name, o.x, o.y]),
          text: c.offscaleText(r.offscale, 'layer ℓ'),
          noFocusHi: noFocus.range[1],
          auto: c.estimateRange({...lens, y: {}}),
          floor: c.applyFloor({x: [0, 1], y: [-98, 0.5], floor: {value: 0, label: 'vacuous'}}),
          msgs: [c.chartMessage({traces: [{x: [1, 2], y: [0, 0]}]}),
                 c.chartMessage({traces: [{x: [1], y: [null]}]}),
                 c.chartMessage({traces: [{x: [1, 2], y: [0, 0]}, {x: [0, 1], y: [0, 1],
                                 role: 'bound'}]}),
                 c.chartMessage({traces: [{x: [1, 2], y: [1, 1], low: [0, 0], high: [2, 2]}]})],
          dticks: [c.logDtick([1, 1e-6]), c.logDtick([1, 1e-20]), c.logDtick([0.3, 0.9])],
          same: c.coincidentTraces([{name: 'a', x: [1], y: [1]}, {name: 'b', x: [1], y: [1]},
                                    {name: 'c', x: [1], y: [2]}]),
          styles: c.assignStyles([{colorIndex: 0}, {colorIndex: 0}, {colorIndex: 1}])
            .map(s => [s.color, s.dash, s.symbol]),
          fig: c.figureLayout({title: 'T', note: 'N'}, {margin: {t: 10, b: 50}},
                              {model: 'M', corpus: 'C', provenance: 'P'}, ['off'])
            .annotations.map(a => a.text),
        };
        """,
    )
    lo, hi = out["range"]
    assert (lo, hi) == (pytest.approx(2 - 0.16), pytest.approx(4 + 0.16))  # layers 1–3 only
    assert out["off"] == [["nll", 0, 108], ["H(Y)", 0, 9], ["H(Y)", 3, 9]]
    assert out["text"].endswith("nll 108 at layer 0; H(Y) 9.")
    assert out["noFocusHi"] > 108  # the check can fail: without focusX layer 0 sets the axis
    assert out["auto"] is None
    assert out["floor"]["y"] == [0, 0.5] and out["floor"]["hollow"] == [True, False]
    assert out["floor"]["hover"][0] == "vacuous (bound -98)"
    assert out["msgs"][0] == "Every value is 0: nothing to chart."
    assert out["msgs"][1].startswith("No values to chart")
    assert out["msgs"][2] is None and out["msgs"][3] is None
    assert out["dticks"] == [1, 3, "D2"]
    assert out["same"] == [["a", "b"]]
    first, second, third = out["styles"]
    assert first[0] == second[0] and (first[1], first[2]) != (second[1], second[2])
    assert third == ["#d9480f", "solid", "circle"]
    assert out["fig"] == ["model: M · corpus: C", "P", "N", "off"]

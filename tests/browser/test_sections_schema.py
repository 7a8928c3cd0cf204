"""The dashboard's section modules against the server's result schema (GET /openapi.json).

Drift: a section module that names a field the schema does not have (renamed, removed), or a
schema field that nobody draws (claimed by a module that never reads it, or left to the generic
walker, which draws nothing for it), fails here. Units and help texts of the numbers come from
the same schema (x-unit, x-direction, description).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import UI, Service

pytestmark = pytest.mark.browser

IMPORTS = """
    const units = await import('/js/units.js');
    const sections = await import('/js/sections/index.js');
    const walker = await import('/js/sections/walker.js');
    await units.loadUnits();
"""


def evaluate(ui: UI, body: str, arg: Any = None) -> Any:
    page = ui.goto("#/jobs")
    return page.evaluate(f"async (arg) => {{ {IMPORTS} {body} }}", arg)


def test_every_section_field_is_in_the_servers_schema(ui: UI) -> None:
    out = evaluate(
        ui,
        """
        const top = units.propertiesOf('AnalysisResult');
        const bySection = {};
        for (const [key, mod] of Object.entries(sections.SECTIONS)) {
          const component = units.componentOf(key);
          bySection[key] = {schema: mod.SCHEMA, component,
            properties: component ? units.propertiesOf(component) : null,
            fields: mod.FIELDS, hidden: mod.HIDDEN};
        }
        return {top, pageFields: sections.PAGE_FIELDS, bySection};
        """,
    )
    assert out["top"], "the OpenAPI document has no AnalysisResult schema"
    for key in [*out["bySection"], *out["pageFields"]]:
        assert key in out["top"], f"AnalysisResult has no field {key!r}"
    for key, section in out["bySection"].items():
        assert section["component"] == section["schema"], key
        properties = set(section["properties"] or [])
        claimed = [*section["fields"], *section["hidden"]]
        unknown = [f for f in claimed if f not in properties]
        assert unknown == [], f"{key}: fields not in {section['schema']}: {unknown}"
        assert len(claimed) == len(set(claimed)), f"{key}: a field listed twice"
        for name, reason in section["hidden"].items():
            assert isinstance(reason, str) and len(reason) > 10, (key, name)


# The reads of each section module on a real result: a claimed field it never reads is drawn
# by nobody; an unclaimed field present in the result must come out of the generic walker.
COVERAGE = """
    const result = arg;
    const report = {};
    for (const [key, mod] of Object.entries(sections.SECTIONS)) {
      const section = result[key];
      if (!section || typeof section !== 'object') continue;
      const reads = new Set();
      const proxy = new Proxy(section, {get(target, name, receiver) {
        if (typeof name === 'string') reads.add(name);
        return Reflect.get(target, name, receiver);
      }});
      const wrapped = {...result, [key]: proxy};
      // Any module may draw a field of another section (the entropy chart draws the exact
      // section's KL curve): every module reads the wrapped result.
      let own = null;
      for (const [other, m] of Object.entries(sections.SECTIONS)) {
        if (!wrapped[other] || typeof wrapped[other] !== 'object') continue;
        const view = sections.ownView(m, wrapped[other], wrapped);
        if (other === key) own = view;
        if (m.cards) m.cards(wrapped);
        if (m.description) m.description(wrapped[other]);
      }
      const claimed = new Set([...mod.FIELDS, ...Object.keys(mod.HIDDEN)]);
      const properties = units.propertiesOf(mod.SCHEMA) || [];
      const walked = [];
      for (const field of properties) {
        if (claimed.has(field) || !(field in section)) continue;
        const specs = [], scalars = [];
        walker.autoSpecs(section[field], `${key}.${field}`, specs, scalars);
        const empty = section[field] === null || (typeof section[field] === 'object'
          && Object.keys(section[field]).length === 0);
        walked.push([field, specs.length + scalars.length, empty]);
      }
      report[key] = {
        unread: mod.FIELDS.filter((f) => f in section && !reads.has(f)),
        walked,
        rowPaths: own.scalars.map((r) => [r[0], r.path, units.fieldAt(r.path || '').known]),
      };
    }
    return report;
"""


@pytest.mark.parametrize("job", ["full", "step100"])
def test_every_schema_field_of_a_real_result_is_drawn(ui: UI, service: Service, job: str) -> None:
    result = service.api.get(f"/api/v1/results/{service.jobs[job]['result_id']}").json()["result"]
    report = evaluate(ui, COVERAGE, result)
    expected = {"entropy", "lens", "surplus", "spectral"}
    assert expected | ({"exact"} if result.get("exact") else set()) <= set(report)
    for key, section in report.items():
        assert section["unread"] == [], f"{key}: claimed but drawn by nobody: {section['unread']}"
        for field, drawn, empty in section["walked"]:
            assert drawn > 0 or empty, f"{key}.{field}: left to the walker, which draws nothing"
        unknown = [(label, path) for label, path, known in section["rowPaths"] if not known]
        assert unknown == [], f"{key}: table rows whose path is not in the schema: {unknown}"


def test_units_and_help_come_from_the_schema(ui: UI) -> None:
    out = evaluate(
        ui,
        """
        const at = (p) => units.fieldAt(p);
        return {
          nll: at('entropy.summary.mean_nll'), nllEstimate: at('entropy.summary.mean_nll.estimate'),
          surplus2: at('surplus.surplus.2'), lift: at('spectral.alignment.0.lift'),
          seconds: at('surplus.seconds'), nowhere: at('entropy.no_such_field'),
          label: units.unitLabel(at('spectral.fisher.eigenvalues').unit),
        };
        """,
    )
    assert out["nll"]["unit"] == "nats" and out["nll"]["direction"] == "lower"
    assert out["nll"]["help"], "mean_nll has no help text"
    # Numbers inside a field (an Interval's estimate, a dict by K) carry the field's unit.
    assert out["nllEstimate"]["unit"] == "nats"
    assert out["surplus2"]["unit"] == "nats" and out["surplus2"]["known"] is True
    assert out["lift"]["unit"] == "ratio" and out["lift"]["direction"] == "higher"
    assert out["seconds"]["unit"] == "seconds"
    assert out["nowhere"] == {"unit": "", "direction": "", "help": "", "known": False}
    assert out["label"] == "eigenvalue"


def test_dashboard_rows_show_the_servers_unit_and_help(ui: UI, service: Service) -> None:
    schema = service.api.get("/openapi.json").json()["components"]["schemas"]
    field = schema["SurplusSuite"]["properties"]["marginal_entropy"]
    job = service.jobs["full"]
    page = ui.goto(f"#/model/{job['model_id']}?result={job['result_id']}&tab=surplus")
    row = page.locator("#panel-surplus table.scalars tr", has_text="H(Y) held-out marginal").first
    assert row.locator("td").nth(1).inner_text() == "nats"
    assert field["description"] in (row.get_attribute("title") or "")


def test_units_walk_refs_optionals_lists_and_dicts(ui: UI) -> None:
    """Known answers on a small document shaped like pydantic's output."""
    out = evaluate(
        ui,
        """
        const ref = (n) => ({$ref: `#/components/schemas/${n}`});
        units.setSchemaDocument({components: {schemas: {
          AnalysisResult: {properties: {s: ref('Suite')}},
          Interval: {properties: {estimate: {type: 'number'}, low: {type: 'number'}}},
          Row: {properties: {layer: {type: 'integer', 'x-unit': 'index'},
                             lift: {type: 'number', 'x-unit': 'ratio', 'x-direction': 'higher',
                                    description: 'A / A_rand.'}}},
          Suite: {properties: {
            by_k: {type: 'object', additionalProperties: ref('Interval'), 'x-unit': 'nats',
                   description: 'By K.'},
            rows: {type: 'array', items: ref('Row')},
            maybe: {anyOf: [ref('Interval'), {type: 'null'}], 'x-unit': 'bits',
                    'x-direction': 'lower', description: 'Optional.'},
            wrapped: {allOf: [ref('Interval')], 'x-unit': 'probability'},
            plain: {type: 'number', description: 'No unit.'}}}}}});
        const at = (p) => units.fieldAt(p);
        return [at('s.by_k.3.estimate'), at('s.rows.0.lift'), at('s.rows.kernel a.layer'),
                at('s.maybe.low'), at('s.wrapped.estimate'), at('s.plain'), at('s.nope.x'),
                units.unitLabel('probability'), units.unitLabel('dimensionless'),
                units.propertiesOf('Suite'), units.componentOf('s'),
                units.tooltipAt('s.rows.1.lift')];
        """,
    )
    assert out[0] == {"unit": "nats", "direction": "", "help": "By K.", "known": True}
    assert out[1] == {"unit": "ratio", "direction": "higher", "help": "A / A_rand.", "known": True}
    assert out[2]["unit"] == "index"
    assert out[3] == {"unit": "bits", "direction": "lower", "help": "Optional.", "known": True}
    assert out[4]["unit"] == "probability"
    assert out[5] == {"unit": "", "direction": "", "help": "No unit.", "known": True}
    assert out[6]["known"] is False and out[6]["unit"] == ""
    assert out[7:9] == ["fraction (0–1)", ""]
    assert out[9] == ["by_k", "rows", "maybe", "wrapped", "plain"]
    assert out[10] == "Suite"
    assert out[11] == "A / A_rand. higher is better"

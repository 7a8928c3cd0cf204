// Model dashboard: one result of one model in three tabs (Entropy, Surplus, Spectrum), with
// provenance and exports (JSON, CSV, PNG/SVG per chart).

import { api } from "../api.js";
import { renderCharts, setChartContext } from "../charts.js";
import {
  download, fmt, fmtBytes, fmtCount, fmtDate, fmtInterval, h, message, modelName, replace,
} from "../dom.js";
import {
  headlineOf, helpLink, metricCell, METRICS, methodsUrl, metricUnit, serverHeadline, tooltip,
} from "../headlines.js";
import * as entropySection from "../sections/entropy.js";
import * as exactSection from "../sections/exact.js";
import * as lensSection from "../sections/lens.js";
import { humanize, isInterval } from "../sections/common.js";
import { sectionView, unclaimedKeys } from "../sections/index.js";
import { tabView } from "../tabs.js";
import { renderTokens } from "../tokens.js";
import { loadUnits, tooltipAt, unitLabelAt } from "../units.js";

/**
 * Rows [label, value, unit?] (row.path: the result path): the unit is the row's own where it
 * gives one (display text), else the server schema's for its path; the help text of the field
 * is the row's tooltip.
 */
function scalarTable(rows, caption) {
  if (rows.length === 0) return null;
  const unitText = (r) => (r.length > 2 ? r[2] : typeof r[1] === "string" || !r.path ? ""
    : unitLabelAt(r.path));
  return h("table", { class: "data scalars" },
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Quantity" }),
      h("th", { scope: "col", text: "Value [95% interval]" }),
      h("th", { scope: "col", text: "Unit" }))),
    h("tbody", {}, rows.map((r) => {
      const [label, v] = r;
      const help = r.path ? tooltipAt(r.path) : "";
      return h("tr", { title: help || null, dataset: { path: r.path || "" } },
        h("th", { scope: "row", text: label.split(".").slice(1).map(humanize).join(" › ")
          || humanize(label) }),
        h("td", { class: "num", text: isInterval(v) ? fmtInterval(v) : fmt(v) }),
        h("td", { class: "muted", text: unitText(r) }));
    })));
}

/** A labelled number whose tooltip and "?" say what it is, which way is good and what chance
 * gives (the same definitions as the models list). */
function headlineCard(m, head, model) {
  return h("div", { class: "stat", title: tooltip(m, model), dataset: { metric: m.key } },
    h("div", { class: "stat-label" }, `${m.label} ${m.arrow} `, helpLink(m, model)),
    h("div", { class: "stat-value" }, metricCell(m, head, model)),
    h("div", { class: "stat-unit", text: metricUnit(m) }));
}

/** The result's headline numbers, each with its interval and its explanation. */
function headlineCards(result, head, model) {
  return h("section", { "aria-label": "Headline numbers" },
    h("div", { class: "stats", id: "headline-cards" },
      METRICS.filter((m) => head[m.key] !== undefined && head[m.key] !== null)
        .map((m) => headlineCard(m, head, model))));
}

function probesTable(probes) {
  if (!Array.isArray(probes) || probes.length === 0) return null;
  const cols = ["name", "steps", "epochs", "best_val_ce", "test_ce", "seconds"];
  return h("details", { class: "probes" }, h("summary", { text: `Probe fits (${probes.length})` }),
    h("div", { class: "table-wrap" }, h("table", { class: "data" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", text: humanize(c) })))),
      h("tbody", {}, probes.map((p) => h("tr", {}, cols.map((c) =>
        h("td", { class: c === "name" ? "" : "num", text: fmt(p?.[c]) }))))))));
}

function sectionPanel(panel, result, key, title, intro) {
  const { specs, scalars, present, notes, probes } = sectionView(result, key, title);
  panel.append(h("p", { class: "lede", text: intro }));
  if (!present) {
    panel.append(message(`${title}: not computed in this result.`, "info"));
    return;
  }
  const table = scalarTable(scalars, `${title}: numbers`);
  if (table) panel.append(table);
  if (specs.length) renderCharts(panel, specs);
  else if (!table) panel.append(message(`${title}: no numbers in this result.`, "info"));
  panel.append(probesTable(probes) || "");
  if (notes.length) {
    panel.append(h("h4", { text: "Estimator notes" }),
      h("ul", { class: "notes" }, notes.map((n) => h("li", { text: n }))));
  }
}

function entropyPanel(panel, result) {
  panel.append(entropySection.cards(result));
  const exactRows = exactSection.scalars(result.exact);
  if (exactRows.length) {
    panel.append(scalarTable(exactRows, "Exact comparison (synthetic source: true p* known)"));
    const about = exactSection.description(result.exact);
    if (about) panel.append(h("p", { class: "muted", text: about }));
  }
  const ent = sectionView(result, "entropy");
  const lens = sectionView(result, "lens");
  const table = scalarTable([...ent.scalars, ...lens.scalars], "Entropy suite: further numbers");
  if (table) panel.append(table);
  renderCharts(panel, [...ent.specs, ...lens.specs]);
  if (!lensSection.present(result.lens)) {
    panel.append(message(`${humanize("per-layer lens")}: not computed in this result.`));
  }
  // Sections of the result no module draws yet (e.g. how the contexts were drawn).
  for (const key of unclaimedKeys(result)) {
    const view = sectionView(result, key, humanize(key));
    const more = scalarTable(view.scalars, `${humanize(key)}: numbers`);
    if (more) panel.append(more);
    if (view.specs.length) renderCharts(panel, view.specs);
  }
}

function provenancePanel(result, job) {
  const p = result.provenance || {};
  const dl = (pairs) => h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [
    h("dt", { text: k }), h("dd", { text: v === null || v === undefined || v === "" ? "—" : v })]));
  const stageRows = Object.entries(p.stage_seconds || {}).map(([k, v]) => [k, `${fmt(v)} s`]);
  return h("details", { class: "provenance", id: "provenance", open: true },
    h("summary", {}, "Provenance ", h("a", { class: "help", href: methodsUrl("provenance"),
      title: "What each provenance field records", text: "?" })),
    h("div", { class: "prov-grid" },
      h("div", {}, h("h4", { text: "Model" }), dl([
        ["source", p.model?.source], ["revision", p.model?.revision],
        ["content hash", p.model?.content_hash], ["architecture", p.model?.architecture],
        ["layers", p.model?.num_layers], ["width", p.model?.hidden_size],
        ["vocabulary", p.model?.vocab_size], ["parameters", fmtCount(p.model?.num_parameters)],
      ])),
      h("div", {}, h("h4", { text: "Corpus" }), dl([
        ["source", p.corpus?.source], ["hash", p.corpus?.hash],
        ["windows", p.corpus?.num_windows], ["window length", p.corpus?.window_len],
        ["tokens", p.corpus?.num_tokens],
      ])),
      h("div", {}, h("h4", { text: "Run" }), dl([
        ["seed", p.seed], ["device", p.device], ["dtype", p.dtype],
        ["peak memory", fmtBytes(p.peak_memory_bytes)],
        ["job", job ? `#${job}` : null], ["schema", result.schema_version],
        ...Object.entries(p.versions || {}).map(([k, v]) => [`${k} version`, v]),
      ])),
      h("div", {}, h("h4", { text: "Timings" }), dl(stageRows.length ? stageRows
        : [["stages", "not recorded"]])),
      h("details", { class: "wide" }, h("summary", { text: "Config (all knobs of this job)" }),
        h("pre", { class: "config", text: JSON.stringify(p.config ?? {}, null, 2) })),
      (p.notes || []).length ? h("div", { class: "wide" }, h("h4", { text: "Estimator notes" }),
        h("ul", {}, p.notes.map((n) => h("li", { text: n })))) : null));
}

export async function render(main, { args, params }) {
  const modelId = args[0];
  const [model] = await Promise.all([api.model(modelId), loadUnits()]);
  const latest = Array.isArray(model.latest) ? model.latest : [];
  const title = h("h1", { text: modelName(model) });
  const sub = h("p", { class: "muted", text: [model.source, model.revision ? `@ ${model.revision}`
    : null, model.architecture, model.num_layers ? `${model.num_layers} layers` : null,
  model.hidden_size ? `width ${model.hidden_size}` : null,
  model.num_parameters ? `${fmtCount(model.num_parameters)} parameters` : null]
    .filter(Boolean).join(" · ") });
  if (latest.length === 0) {
    replace(main, title, sub, message("No succeeded analysis for this model yet.", "info"),
      h("p", {}, h("a", { href: "#/jobs", text: "See the job queue" })));
    return null;
  }
  const wanted = Number(params.get("result")) || latest[0].result_id;
  const resultId = wanted; // any result id may be opened, not only the latest ones
  const res = await api.result(resultId);
  const result = res.result || {};
  const prov = result.provenance || {};
  setChartContext({ // exported figures carry these lines (charts.js figureLayout)
    model: modelName(model), corpus: prov.corpus?.source,
    provenance: [`markovlens result #${resultId}`, res.job_id ? `job #${res.job_id}` : null,
      prov.seed !== undefined ? `seed ${prov.seed}` : null,
      prov.corpus?.hash ? `corpus hash ${String(prov.corpus.hash).slice(0, 12)}` : null,
      result.schema_version ? `schema ${result.schema_version}` : null]
      .filter(Boolean).join(" · "),
  });

  const picker = h("select", {
    id: "result-picker", "aria-label": "Result (corpus and preset)",
    onchange: (e) => { location.hash = `#/model/${modelId}?result=${e.target.value}`; },
  }, latest.map((e) => h("option", {
    value: e.result_id, selected: e.result_id === resultId,
    text: `${e.corpus_source} · ${e.preset} · ${fmtDate(e.created_at)}`,
  })));
  const exports = h("div", { class: "exports" },
    h("button", { type: "button", id: "export-json", text: "Export JSON",
      onclick: () => download(`markovlens-result-${resultId}.json`,
        JSON.stringify(res, null, 2), "application/json") }),
    // The server makes the one CSV format (also GET /results/{id}/csv): fetched with the
    // page's token, then saved.
    h("button", { type: "button", id: "export-csv", text: "Export CSV",
      onclick: async () => download(`markovlens-result-${resultId}.csv`,
        await api.resultCsv(resultId), "text/csv") }));

  const tab = params.get("tab") || "entropy";
  const view = tabView([
    { id: "entropy", label: "Entropy", render: (p) => entropyPanel(p, result) },
    { id: "surplus", label: "Surplus", render: (p) => sectionPanel(p, result, "surplus",
      "Information surplus", "Surplus_K = I(H_t; Y_{t+1:t+K−1} | Y_t): future information in the "
      + "hidden state beyond the next token, from held-out probes (nats, 95% intervals). Bounds: "
      + "0 ≤ Surplus_K ≤ H(Y_{t+1:t+K−1} | Y_t). “Not detected”: the 95% interval does not lie "
      + "above 0, so no surplus was found at this sample size (not a measured zero); the upper "
      + "bound still holds.") },
    { id: "spectrum", label: "Spectrum", render: (p) => sectionPanel(p, result, "spectral",
      "Spectral alignment", "Eigenspectra of the predictive-similarity kernels (log–log), "
      + "representation spectra, and the alignment A of whitened hidden states with the kernel's "
      + "top eigenspace against its chance baseline A_rand.") },
    { id: "tokens", label: "Tokens", render: (p) => renderTokens(p, resultId) },
  ], tab, (id) => history.replaceState(null, "",
    `#/model/${modelId}?result=${resultId}&tab=${id}`));

  const head = headlineOf(result, serverHeadline(model, resultId));
  replace(main, title, sub,
    h("div", { class: "toolbar" }, h("label", { for: "result-picker", text: "Result" }), picker,
      exports),
    headlineCards(result, head, model), view, provenancePanel(result, res.job_id));
  main.dataset.resultId = String(resultId);
  view.open();
  return null;
}

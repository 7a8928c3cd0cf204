// Model dashboard: one result of one model in three tabs (Entropy, Surplus, Spectrum), with
// provenance and exports (JSON, CSV, PNG/SVG per chart).

import { api } from "../api.js";
import { renderCharts, setChartContext } from "../charts.js";
import {
  download, fmt, fmtBytes, fmtCount, fmtDate, fmtInterval, h, message, modelName, replace,
} from "../dom.js";
import {
  headlineOf, helpLink, metricCell, METRICS, methodsUrl, serverHeadline, tooltip,
} from "../headlines.js";
import { entropySpecs, exactScalars, get, humanize, isInterval, unitOf } from "../specs.js";
import { sectionSpecs } from "../suites.js";
import { tabView } from "../tabs.js";
import { renderTokens } from "../tokens.js";

function scalarTable(rows, caption) {
  if (rows.length === 0) return null;
  return h("table", { class: "data scalars" },
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Quantity" }),
      h("th", { scope: "col", text: "Value [95% interval]" }),
      h("th", { scope: "col", text: "Unit" }))),
    h("tbody", {}, rows.map(([path, v, unit]) => h("tr", {},
      h("th", { scope: "row", text: path.split(".").slice(1).map(humanize).join(" › ")
        || humanize(path) }),
      h("td", { class: "num", text: isInterval(v) ? fmtInterval(v) : fmt(v) }),
      h("td", { class: "muted", text: unit ?? (typeof v === "string" ? "" : unitOf(path)) })))));
}

/** A labelled number whose tooltip and "?" say what it is, which way is good and what chance
 * gives (the same definitions as the models list). */
function headlineCard(m, head, model) {
  return h("div", { class: "stat", title: tooltip(m, model), dataset: { metric: m.key } },
    h("div", { class: "stat-label" }, `${m.label} ${m.arrow} `, helpLink(m, model)),
    h("div", { class: "stat-value" }, metricCell(m, head, model)),
    h("div", { class: "stat-unit", text: m.unit }));
}

/** The result's headline numbers, each with its interval and its explanation. */
function headlineCards(result, head, model) {
  return h("section", { "aria-label": "Headline numbers" },
    h("div", { class: "stats", id: "headline-cards" },
      METRICS.filter((m) => head[m.key] !== undefined && head[m.key] !== null)
        .map((m) => headlineCard(m, head, model))));
}

function summaryCards(result) {
  const s = get(result, "entropy.summary");
  if (!s) return message("Entropy summary not computed in this result.", "info");
  const card = (label, value, unit, hint, anchor) => h("div", { class: "stat" },
    h("div", { class: "stat-label" }, `${label} `, anchor ? h("a", { class: "help",
      href: methodsUrl(anchor), title: `${label}: see the methods`, text: "?" }) : null),
    h("div", { class: "stat-value", text: value }),
    h("div", { class: "stat-unit", text: unit }),
    hint ? h("div", { class: "stat-hint", text: hint }) : null);
  return h("div", { class: "stats", id: "summary" },
    card("Perplexity", fmt(s.perplexity), "exp(mean NLL)", null, "nll"),
    card("Mean Gini (TV entropy)", fmt(s.mean_gini), "1 − Σp²", null, "entropy"),
    card("Tokens", fmtCount(s.num_tokens), "scored"));
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
  const { specs, scalars, present, notes } = sectionSpecs(result, key, title);
  panel.append(h("p", { class: "lede", text: intro }));
  if (!present) {
    panel.append(message(`${title}: not computed in this result.`, "info"));
    return;
  }
  const table = scalarTable(scalars, `${title}: numbers`);
  if (table) panel.append(table);
  if (specs.length) renderCharts(panel, specs);
  else if (!table) panel.append(message(`${title}: no numbers in this result.`, "info"));
  panel.append(probesTable(result[key]?.probes) || "");
  if (notes.length) {
    panel.append(h("h4", { text: "Estimator notes" }),
      h("ul", { class: "notes" }, notes.map((n) => h("li", { text: n }))));
  }
}

function entropyPanel(panel, result) {
  panel.append(summaryCards(result));
  const { specs, scalars, missing } = entropySpecs(result);
  const exactRows = exactScalars(result);
  if (exactRows.length) {
    panel.append(scalarTable(exactRows, "Exact comparison (synthetic source: true p* known)"));
    if (result.exact?.description) panel.append(h("p", { class: "muted", text:
      result.exact.description }));
  }
  const table = scalarTable(scalars, "Entropy suite: further numbers");
  if (table) panel.append(table);
  renderCharts(panel, specs);
  for (const m of missing) panel.append(message(`${humanize(m)}: not computed in this result.`));
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
  const model = await api.model(modelId);
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

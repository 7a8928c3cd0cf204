// Compare: several results (models, or checkpoints of one run) read at a glance. One colour per
// model on every chart with one shared key; line style says which quantity; crowded charts split
// into small multiples; the numbers in a table with differences; models added and removed here
// (the URL keeps the list, so it can be shared).

import { api, ApiError } from "../api.js";
import { PALETTE, renderCharts, setChartContext } from "../charts.js";
import { download, h, message, modelName, replace } from "../dom.js";
import {
  difference, estimateOf, fmtDifference, headlineOf, helpLink, METRICS, metricCell, metricText,
  metricUnit, serverHeadline, surplusVerdict, tooltip,
} from "../headlines.js";
import { allSpecs } from "../sections/index.js";
import { loadUnits } from "../units.js";

/** Checkpoints of one run: every model has a training step and they share one run name. */
export function isCheckpointSeries(items) {
  if (items.length < 2) return false;
  const runs = new Set(items.map((it) => it.model?.run_name));
  return runs.size === 1 && !runs.has(null) && !runs.has(undefined)
    && items.every((it) => Number.isFinite(it.model?.training_step));
}

const specsOf = (result) => allSpecs(result);

export const colorOf = (m) => PALETTE[m % PALETTE.length];
const SHARED = "#868e96"; // reference lines identical for every model
const DASHES = [["solid", "solid"], ["dash", "dashed"], ["dot", "dotted"],
  ["dashdot", "dash-dotted"]];
const MAX_LINES = 8; // per chart: more quantities × models than this become small multiples

/** "Top-1 calibration (ECE 0.0372)" → "Top-1 calibration": per-model numbers go to the table. */
const neutralTitle = (title) => String(title).replace(/\s*\(\w+ [-−\d.e+]+\)$/, "");

const sameData = (a, b) => JSON.stringify([a.x, a.y, a.low, a.high])
  === JSON.stringify([b.x, b.y, b.low, b.high]);
const isDiagonal = (t) => t.role === "bound" && t.x.length === 2
  && t.x.every((v, i) => v === t.y[i]);

/**
 * One quantity of one chart across models: the traces in the models' colours, or one grey
 * reference when every model has the same reference line (chance, bound, y = x).
 */
function quantityTraces(name, perModel, dash, alone, nModels) {
  const refs = perModel.filter(({ trace }) => trace.role && trace.role !== "estimate");
  // Shared only when every model has it (one model's exact values stay in its colour).
  if (refs.length === perModel.length && perModel.length === nModels && nModels > 1) {
    if (perModel.every(({ trace }) => isDiagonal(trace))) {
      const xs = perModel.flatMap(({ trace }) => trace.x);
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      return [{ ...perModel[0].trace, name, x: [lo, hi], y: [lo, hi], color: SHARED, dash }];
    }
    if (perModel.every(({ trace }) => sameData(trace, perModel[0].trace))) {
      return [{ ...perModel[0].trace, name, color: SHARED, dash }];
    }
  }
  return perModel.map(({ trace, m, label }) => ({
    ...trace, name: alone ? label : `${label} — ${name}`, color: colorOf(m), dash,
    colorIndex: undefined,
  }));
}

/**
 * Compare specs: for each chart id, each quantity (trace name) is drawn once per model in the
 * model's colour, with one line style per quantity. A chart that would hold more than
 * MAX_LINES lines is split into small multiples (a few quantities each). No Plotly legend: the page's shared key names the
 * colours, the caption names the line styles.
 */
export function overlaySpecs(items) {
  const byId = new Map();
  items.forEach((item, m) => {
    for (const spec of specsOf(item.result?.result || {})) {
      if (!byId.has(spec.id)) byId.set(spec.id, { spec, quantities: new Map(), facts: [] });
      const { quantities, facts } = byId.get(spec.id);
      if (spec.facts) facts.push({ label: item.label, facts: spec.facts });
      for (const trace of spec.traces) {
        if (!quantities.has(trace.name)) quantities.set(trace.name, []);
        quantities.get(trace.name).push({ trace, m, label: item.label });
      }
    }
  });
  // Quantities per chart: one line style each, and at most MAX_LINES lines in all.
  const perChart = Math.max(1, Math.min(DASHES.length,
    Math.floor(MAX_LINES / Math.max(1, items.length))));
  const out = [];
  for (const [id, { spec, quantities, facts }] of byId) {
    const names = [...quantities.keys()];
    const chunks = [];
    for (let i = 0; i < names.length; i += perChart) chunks.push(names.slice(i, i + perChart));
    chunks.forEach((chunk, c) => {
      const title = neutralTitle(spec.title);
      const key = chunk.map((n, q) => `${DASHES[q][1]}: ${n}`).join(" · ");
      out.push({
        ...spec, id: chunks.length > 1 ? `${id}~${c + 1}` : id, legend: false,
        title: chunks.length === 1 ? title : chunk.length <= 2
          ? `${title}: ${chunk.join(" · ")}` : `${title} (${c + 1} of ${chunks.length})`,
        note: [chunk.length > 1 ? `Line style — ${key}.` : `Line: ${chunk[0]}.`,
          "Colour: the model (key above).", noteOf(spec, facts)].filter(Boolean).join(" "),
        traces: chunk.flatMap((n, q) => quantityTraces(n, quantities.get(n), DASHES[q][0],
          chunk.length === 1, items.length)),
      });
    });
  }
  return out;
}

/**
 * The caption of an overlaid chart: a chart whose note carries one result's own numbers
 * (`facts`, e.g. the Fisher spectrum's retained mass) gets its shared text and every model's
 * numbers, not the first model's alone.
 */
function noteOf(spec, facts) {
  if (!facts.length) return spec.note;
  const names = facts[0].facts.map(([name]) => name);
  const perModel = names.map((name, i) => `${name[0].toUpperCase()}${name.slice(1)}: `
    + `${facts.map(({ label, facts: f }) => `${label} ${f[i]?.[1] ?? "—"}`).join(", ")}.`);
  return [spec.sharedNote, ...perModel].filter(Boolean).join(" ");
}

/** Rows of the numbers table: the headline metrics any of the results has. */
function tableRows(heads) {
  return METRICS.filter((m) => heads.some((hd) => typeof hd[m.key] === "number"
    || (m.key === "surplus_k2" && hd.surplus_k2_verdict)));
}

/** Whether the results' lifts were computed on the same corpus and contexts. */
export function liftsComparable(heads) {
  const keys = heads.map((hd) => hd.contexts_key ?? null);
  if (keys.some((k) => k === null)) return null; // unknown: said so, not assumed
  return new Set(keys).size === 1;
}

/** Whether the results were computed on one corpus (null: a result does not say). */
export function sameCorpus(heads) {
  const hashes = heads.map((hd) => hd.corpus_hash ?? null);
  if (hashes.some((k) => k === null)) return null;
  return new Set(hashes).size === 1;
}

// Names of the PALETTE colours, for exported figures (which carry no on-page key).
const COLOUR_NAMES = ["blue", "orange", "green", "purple", "pink", "teal", "amber", "olive",
  "indigo", "crimson"];

const CONTEXT_DEPENDENT = new Set(["alignment_lift_last", "alignment_lift_proto_last",
  "effective_rank_last"]);

function numbersTable(items, heads, comparable, corpus) {
  const ref = 0; // differences are against the first result (the URL's first id)
  const others = items.map((_, m) => m).filter((m) => m !== ref);
  return h("table", { class: "data", id: "compare-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Quantity" }),
      items.map((it, m) => h("th", { scope: "col", class: "num", dataset: { model: m } },
        h("span", { class: `swatch c${m % PALETTE.length}` }), it.label)),
      others.map((m) => h("th", { scope: "col", class: "num diff",
        title: "Difference of estimates; its 95% interval treats the two results' intervals "
          + "as independent (half-widths added in quadrature).",
        text: `Δ ${items[m].label} − ${items[ref].label}` })))),
    h("tbody", {}, tableRows(heads).map((mt) => h("tr", { dataset: { metric: mt.key } },
      h("th", { scope: "row", title: tooltip(mt, items[0].model) },
        `${mt.label} ${mt.arrow} `, helpLink(mt, items[0].model),
        h("div", { class: "muted small", text: metricUnit(mt) })),
      items.map((it, m) => h("td", { class: "num", dataset: { model: m },
        title: `${it.label}: ${metricText(mt, heads[m], it.model)}` },
      metricCell(mt, heads[m], it.model))),
      others.map((m) => {
        // Every number depends on the corpus; lifts and ranks also on the sampled contexts.
        const blocked = corpus === false
          || (CONTEXT_DEPENDENT.has(mt.key) && comparable !== true);
        return h("td", { class: "num diff", dataset: { model: m } }, blocked
          ? h("span", { class: "muted", text: "not comparable",
            title: "Different (or unknown) corpus or contexts: see the note above." })
          : fmtDifference(difference(estimateOf(heads[ref], mt.key),
            estimateOf(heads[m], mt.key))));
      })))));
}

function comparabilityNote(items, heads, comparable, corpus) {
  if (comparable === true || items.length < 2) return null;
  const what = (it) => {
    const p = it.result?.result?.provenance || {};
    const c = p.config || {};
    return `${it.label}: corpus ${p.corpus?.source ?? "?"} (hash ${String(p.corpus?.hash ?? "?")
      .slice(0, 12)}), N = ${it.result?.result?.spectral?.num_contexts ?? c.n_contexts ?? "?"} `
      + `contexts, window ${c.window_len ?? p.corpus?.window_len ?? "?"}, seed ${p.seed ?? "?"}`;
  };
  const lead = corpus === false
    ? "These results were computed on different corpora: no difference is computed for any "
      + "number (NLL, entropy and surplus are properties of a model on a corpus). "
    : comparable === false
    ? "Alignment lifts are not comparable here: these results were computed on different "
      + "corpora or contexts (corpus hash, number of contexts, window, seed or split differ). "
    : "Whether these alignment lifts are comparable is unknown: a result does not record "
      + "its contexts. ";
  return h("div", { class: "msg msg-warn", id: "compare-comparability", role: "status" },
    h("p", { text: `${lead}Lifts and spectra are shown per model, not on one axis, and no `
      + "difference is computed for them." }),
    h("ul", {}, items.map((it) => h("li", { text: what(it) }))));
}

/** The shared key: one colour per model, with remove buttons and an "add a result" picker. */
function modelKey(items, ids, candidates) {
  const go = (next) => { location.hash = `#/compare?results=${next.join(",")}`; };
  const add = h("select", { id: "compare-add", "aria-label": "Add a result to the comparison",
    onchange: (e) => { if (e.target.value) go([...ids, Number(e.target.value)]); } },
  h("option", { value: "", text: "Add a result…" }),
  candidates.filter((c) => !ids.includes(c.resultId)).map((c) => h("option", {
    value: c.resultId, text: c.text })));
  return h("div", { class: "compare-key", id: "compare-key", role: "group",
    "aria-label": "Models compared (colour key)" },
  items.map((it, m) => h("span", { class: "key-item", dataset: { model: m,
    color: colorOf(m) } },
  h("span", { class: `swatch c${m % PALETTE.length}` }),
  h("a", { href: `#/model/${it.model.id}?result=${it.resultId}`, text: it.label }),
  h("button", { type: "button", class: "small remove", text: "×",
    "aria-label": `Remove ${it.label} from the comparison`,
    onclick: () => go(ids.filter((id) => id !== it.resultId)) }))),
  candidates.length ? add : null);
}

function trainingSpecs(items, heads) {
  const order = items.map((_, i) => i)
    .sort((a, b) => items[a].model.training_step - items[b].model.training_step);
  const x = order.map((i) => items[i].model.training_step);
  const specs = [];
  for (const mt of METRICS) {
    const ests = order.map((i) => estimateOf(heads[i], mt.key));
    if (ests.every((e) => e === null)) continue;
    // Surplus not detected at a checkpoint: a hollow marker (the value is a floor).
    const hollow = mt.key === "surplus_k2"
      ? order.map((i) => surplusVerdict(heads[i]))
        .map((v) => v !== null && v !== "detected") : undefined;
    const banded = ests.some((e) => e && "low" in e);
    specs.push({
      id: `training.${mt.key}`, title: `${mt.label} over training`, legend: false,
      help: mt.anchor,
      x: { title: "training step" }, y: { title: metricUnit(mt) },
      traces: [{ name: items[0].model.run_name, x, y: ests.map((e) => e?.estimate ?? null),
        ...(banded ? { low: ests.map((e) => e?.low ?? null), high: ests.map((e) => e?.high
          ?? null) } : {}), role: "estimate", hollow, color: PALETTE[0],
        hover: hollow?.map((open) => (open ? "not detected (95% interval not above 0)" : "")) }],
    });
  }
  return specs;
}

/** Results that can be added: every model's latest result per corpus and preset. */
async function candidatesOf() {
  try {
    const models = await api.models();
    return models.flatMap((model) => (model.latest || []).map((e) => ({
      resultId: e.result_id, text: `${modelName(model)} · ${e.corpus_source} · ${e.preset}`,
    })));
  } catch {
    return []; // the page still works without the picker
  }
}

/**
 * The compare response for the ids that exist: one missing result (deleted, mistyped in a
 * link) is left out and named, instead of failing the whole page. `data` null: none exists.
 */
async function compareFound(requested) {
  try {
    return { data: await api.compare(requested), missing: [] };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  const exists = await Promise.all(requested.map((id) => api.result(id).then(() => true,
    (err) => (err instanceof ApiError && err.status === 404 ? false : Promise.reject(err)))));
  const found = requested.filter((_, i) => exists[i]);
  const missing = requested.filter((_, i) => !exists[i]);
  return { data: found.length ? await api.compare(found) : null, missing };
}

/** The compared results, each with its display label (same model twice: corpus and preset). */
function itemsOf(data) {
  const items = (data.items || []).map((it) => ({
    ...it, resultId: it.result?.id, label: modelName(it.model),
  }));
  const counts = new Map();
  for (const it of items) counts.set(it.label, (counts.get(it.label) || 0) + 1);
  for (const it of items) {
    if (counts.get(it.label) > 1) {
      const prov = it.result?.result?.provenance;
      it.label = `${it.label} (${prov?.corpus?.source ?? "?"}, ${prov?.config?.preset ?? "?"})`;
    }
  }
  return items;
}

/** Exported figures carry no on-page key: name each model's colour in their caption. */
function setCompareContext(items, ids) {
  const corpora = [...new Set(items.map((it) => it.result?.result?.provenance?.corpus?.source))];
  setChartContext({
    model: items.map((it, m) => `${it.label} (${COLOUR_NAMES[m % COLOUR_NAMES.length]})`)
      .join(", "),
    corpus: corpora.filter(Boolean).join(", "),
    provenance: `results ${ids.join(", ")}; each model's provenance: Export JSON`,
  });
}

function exportButtons(data, ids) {
  const stem = `markovlens-compare-${ids.join("-")}`;
  return h("div", { class: "exports" },
    h("button", { type: "button", id: "export-json", text: "Export JSON",
      onclick: () => download(`${stem}.json`, JSON.stringify(data, null, 2),
        "application/json") }),
    // The server's CSV (api/csvexport.py): result_id,path,value, the per-result rows.
    h("button", { type: "button", id: "export-csv", text: "Export CSV",
      onclick: async () => download(`${stem}.csv`, await api.compareCsv(ids), "text/csv") }));
}

/** The charts: over training (checkpoints), then overlays; spectral ones only on one axis. */
function appendCharts(main, items, heads, comparable, checkpoints) {
  if (checkpoints) {
    main.append(h("h2", { text: "Over training" }));
    renderCharts(main, trainingSpecs(items, heads));
  }
  const specs = overlaySpecs(items);
  const onOneAxis = comparable === true || items.length < 2;
  main.append(h("h2", { text: "Charts" }));
  renderCharts(main, onOneAxis ? specs : specs.filter((s) => !s.id.startsWith("spectral.")));
  if (!onOneAxis) {
    main.append(h("h3", { text: "Spectral charts" }), message("Not drawn on one axis: the "
      + "kernels were built on different (or unrecorded) contexts. Open each model's Spectrum "
      + "tab:", "info"), h("ul", {}, items.map((it) => h("li", {}, h("a", {
      href: `#/model/${it.model.id}?result=${it.resultId}&tab=spectrum`, text: it.label })))));
  }
}

/** Nothing (left) to compare: say so, with the way to the Models page. */
function renderEmpty(main, note, candidates, ids) {
  replace(main, h("h1", { text: "Compare" }), note,
    h("p", {}, h("a", { href: "#/models", text: "Go to Models" })),
    modelKey([], ids, candidates));
  return null;
}

export async function render(main, { params }) {
  let ids = [...new Set((params.get("results") || "").split(",").map(Number)
    .filter((n) => n > 0))];
  const [candidates] = await Promise.all([candidatesOf(), loadUnits()]);
  if (ids.length === 0) {
    return renderEmpty(main, message("Choose two or more results on the Models page to compare "
      + "them.", "info"), candidates, ids);
  }
  const { data, missing } = await compareFound(ids);
  const notFound = missing.length ? message(`${missing.length === 1 ? "Result" : "Results"} `
    + `${missing.join(", ")} not found (deleted, or a wrong id in the link): left out of the `
    + "comparison.", "info") : null;
  if (!data) return renderEmpty(main, notFound, candidates, []);
  ids = ids.filter((id) => !missing.includes(id)); // links, CSV and the key use what exists
  const items = itemsOf(data);
  const heads = items.map((it) => headlineOf(it.result?.result || {},
    serverHeadline(it.model, it.resultId)));
  const comparable = liftsComparable(heads);
  const corpus = sameCorpus(heads);
  setCompareContext(items, ids);
  const checkpoints = isCheckpointSeries(items);
  replace(main, h("div", { class: "toolbar" }, h("h1", { text: "Compare" }),
    exportButtons(data, ids)), notFound,
    h("p", { class: "lede", text: `${items.length} results. Each model keeps its colour on every `
      + "chart; the line style says which quantity. Differences are against the first result. "
      + (checkpoints ? "These are checkpoints of one run: headline numbers are also drawn "
        + "against the training step." : "") }),
    modelKey(items, ids, candidates),
    comparabilityNote(items, heads, comparable, corpus),
    h("div", { class: "table-wrap" }, numbersTable(items, heads, comparable, corpus)));
  appendCharts(main, items, heads, comparable, checkpoints);
  return null;
}

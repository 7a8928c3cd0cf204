// Compare: results of several models (or checkpoints of one run) overlaid on the same charts.

import { api } from "../api.js";
import { PALETTE, renderCharts } from "../charts.js";
import { download, fmt, h, message, modelName, replace } from "../dom.js";
import { entropySpecs, flatten, headline, toCsv } from "../specs.js";
import { fmtLiftHeadline, fmtSurplusHeadline, sectionSpecs, surplusHeadline } from "../suites.js";

/** Checkpoints of one run: every model has a training step and they share one run name. */
export function isCheckpointSeries(items) {
  if (items.length < 2) return false;
  const runs = new Set(items.map((it) => it.model?.run_name));
  return runs.size === 1 && !runs.has(null) && !runs.has(undefined)
    && items.every((it) => Number.isFinite(it.model?.training_step));
}

function specsOf(result) {
  const e = entropySpecs(result).specs;
  const s = sectionSpecs(result, "surplus", "Surplus").specs;
  const p = sectionSpecs(result, "spectral", "Spectral").specs;
  return [...e, ...s, ...p];
}

const DASHES = ["solid", "dash", "dot", "longdash", "dashdot"];

/**
 * Overlay: the same chart id from each result, traces named by model, one colour per model.
 * Reference lines (bounds, chance, calibrated diagonal) are drawn once, from the first result
 * that has the chart, so legends stay readable with many models.
 */
export function overlaySpecs(items) {
  const merged = new Map();
  items.forEach((item, m) => {
    for (const spec of specsOf(item.result.result || item.result)) {
      const first = !merged.has(spec.id);
      if (first) merged.set(spec.id, { ...spec, traces: [], note: spec.note });
      const name = item.label;
      for (const [i, t] of spec.traces.entries()) {
        if (!first && t.role === "bound") continue;
        merged.get(spec.id).traces.push({
          ...t, name: spec.traces.length > 1 ? `${name} — ${t.name}` : name,
          color: PALETTE[m % PALETTE.length],
          // Colour says which model; the dash says which quantity within it.
          dash: t.role && t.role !== "estimate" ? undefined : DASHES[i % DASHES.length],
        });
      }
    }
  });
  return [...merged.values()];
}

const METRICS = [
  ["mean_nll", "Mean NLL (nats)"], ["mean_entropy", "Mean entropy (nats)"],
  ["calibration_gap", "Calibration gap (nats)"], ["top1_accuracy", "Top-1 accuracy"],
  ["surplus_k2", "Surplus K=2 (nats)"], ["alignment_lift_last", "Alignment lift (last layer)"],
  ["effective_rank_last", "Effective rank (last layer)"],
];

/** Headline numbers of one compared result: from its own JSON, else the model's card. */
function headlineOf(item) {
  const fromModel = (item.model?.latest || []).find((e) => e.result_id === item.resultId);
  const result = item.result?.result || {};
  const own = { ...headline(result), ...surplusHeadline(result.surplus) };
  return { ...(fromModel?.headline || {}), ...Object.fromEntries(
    Object.entries(own).filter(([, v]) => v !== null)) };
}

const CELL_TEXT = { surplus_k2: fmtSurplusHeadline, alignment_lift_last: fmtLiftHeadline };
const cellText = (head, key) => (CELL_TEXT[key] ? CELL_TEXT[key](head) : fmt(head[key]));

function trainingSpecs(items) {
  const sorted = [...items].sort((a, b) => a.model.training_step - b.model.training_step);
  const x = sorted.map((it) => it.model.training_step);
  const specs = [];
  for (const [key, label] of METRICS) {
    const heads = sorted.map(headlineOf);
    const y = heads.map((hd) => hd[key] ?? null);
    if (y.every((v) => v === null)) continue;
    // Surplus not detected at a checkpoint: a hollow marker (the value is a floor).
    const hollow = key === "surplus_k2" ? heads.map((hd) => hd.surplus_k2_detected === false)
      : undefined;
    specs.push({
      id: `training.${key}`, title: `${label} over training`,
      x: { title: "training step" }, y: { title: label.match(/\((.*)\)/)?.[1] || "value" },
      traces: [{ name: sorted[0].model.run_name, x, y, role: "estimate", hollow,
        hover: hollow?.map((open) => (open ? "not detected (95% interval not above 0)" : "")) }],
    });
  }
  return specs;
}

export async function render(main, { params }) {
  const ids = (params.get("results") || "").split(",").map(Number).filter((n) => n > 0);
  if (ids.length === 0) {
    replace(main, h("h1", { text: "Compare" }),
      message("Choose two or more results on the Models page to compare them.", "info"),
      h("p", {}, h("a", { href: "#/models", text: "Go to Models" })));
    return null;
  }
  const data = await api.compare(ids);
  const items = (data.items || []).map((it) => ({
    ...it, resultId: it.result?.id, label: modelName(it.model),
  }));
  // Same model twice (different corpora / presets): say which.
  const counts = new Map();
  for (const it of items) counts.set(it.label, (counts.get(it.label) || 0) + 1);
  for (const it of items) {
    if (counts.get(it.label) > 1) {
      const prov = it.result?.result?.provenance;
      it.label = `${it.label} (${prov?.corpus?.source ?? "?"}, ${prov?.config?.preset ?? "?"})`;
    }
  }
  const table = h("table", { class: "data", id: "compare-table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Model" }),
      METRICS.map(([, label]) => h("th", { scope: "col", class: "num", text: label })))),
    h("tbody", {}, items.map((it, m) => {
      const head = headlineOf(it);
      return h("tr", {},
        h("th", { scope: "row" }, h("span", { class: `swatch c${m % PALETTE.length}` }),
          h("a", { href: `#/model/${it.model.id}?result=${it.resultId}`, text: it.label })),
        METRICS.map(([key]) => h("td", { class: "num", text: cellText(head, key) })));
    })));
  const checkpoints = isCheckpointSeries(items);
  const stem = `markovlens-compare-${ids.join("-")}`;
  const exports = h("div", { class: "exports" },
    h("button", { type: "button", id: "export-json", text: "Export JSON",
      onclick: () => download(`${stem}.json`, JSON.stringify(data, null, 2),
        "application/json") }),
    h("button", { type: "button", id: "export-csv", text: "Export CSV",
      onclick: () => download(`${stem}.csv`, toCsv(items.flatMap((it) =>
        flatten(it.result?.result || {}).map(([p, v]) => [`result${it.resultId}.${p}`, v]))),
      "text/csv") }));
  replace(main, h("div", { class: "toolbar" }, h("h1", { text: "Compare" }), exports),
    h("p", { class: "lede", text: `${items.length} results overlaid. `
      + (checkpoints ? "These are checkpoints of one run: headline numbers are also drawn "
        + "against the training step." : "") }),
    h("div", { class: "table-wrap" }, table));
  if (checkpoints) {
    main.append(h("h2", { text: "Over training" }));
    renderCharts(main, trainingSpecs(items));
  }
  main.append(h("h2", { text: "Overlaid charts" }));
  renderCharts(main, overlaySpecs(items));
  return null;
}

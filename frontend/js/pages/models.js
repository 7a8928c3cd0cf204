// Models: every analysed model with its headline numbers; sortable, filterable; pick to compare.

import { api } from "../api.js";
import { fmt, fmtCount, fmtDate, h, message, modelName, replace } from "../dom.js";
import { fmtLiftHeadline, fmtSurplusHeadline } from "../suites.js";

const COLUMNS = [
  { key: "name", label: "Model", get: (r) => modelName(r.model) },
  { key: "revision", label: "Revision", get: (r) => r.model.revision || r.model.content_hash,
    f: shortRevision },
  { key: "arch", label: "Architecture", get: (r) => r.model.architecture },
  { key: "params", label: "Params", get: (r) => r.model.num_parameters, num: true, f: fmtCount },
  { key: "corpus", label: "Corpus", get: (r) => r.entry?.corpus_source },
  { key: "preset", label: "Preset", get: (r) => r.entry?.preset },
  { key: "nll", label: "NLL (nats)", get: (r) => r.entry?.headline?.mean_nll, num: true },
  { key: "gap", label: "Calib. gap (nats)", get: (r) => r.entry?.headline?.calibration_gap,
    num: true },
  { key: "surplus", label: "Surplus K=2 (nats)", get: (r) => r.entry?.headline?.surplus_k2,
    num: true, show: (r) => fmtSurplusHeadline(r.entry?.headline),
    tip: (r) => (r.entry?.headline?.surplus_k2_detected === false
      ? `95% interval not above 0: no surplus detected at this sample size (estimate ${
        fmt(r.entry.headline.surplus_k2)}, a floor)` : null) },
  { key: "lift", label: "Align. lift (last)", get: (r) => r.entry?.headline?.alignment_lift_last,
    num: true, show: (r) => fmtLiftHeadline(r.entry?.headline),
    tip: (r) => (typeof r.entry?.headline?.alignment_lift_last_low === "number"
      ? "data-side kernel, last layer; 95% interval: ±1.96 jackknife SE over windows" : null) },
  { key: "erank", label: "Eff. rank (last)", get: (r) => r.entry?.headline?.effective_rank_last,
    num: true },
  { key: "date", label: "Analysed", get: (r) => r.entry?.created_at, f: fmtDate },
];

/** Hashes are long: show the scheme and 12 hex digits (the full value is in the tooltip). */
function shortRevision(value) {
  if (!value) return "—";
  const match = /^(\w+:)?([0-9a-f]{16,})$/i.exec(value);
  return match ? `${match[1] || ""}${match[2].slice(0, 12)}…` : value;
}

/** One row per (model, latest result per corpus and preset); models without results get one. */
export function rowsOf(models) {
  const rows = [];
  for (const model of models) {
    const latest = Array.isArray(model.latest) ? model.latest : [];
    if (latest.length === 0) rows.push({ model, entry: null });
    for (const entry of latest) rows.push({ model, entry });
  }
  return rows;
}

function compareValues(a, b, num) {
  const missingA = a === null || a === undefined;
  const missingB = b === null || b === undefined;
  if (missingA || missingB) return missingA - missingB; // missing values sort last
  return num ? a - b : String(a).localeCompare(String(b));
}

export async function render(main) {
  const models = await api.models();
  const rows = rowsOf(models);
  const state = { sort: "name", dir: 1, filter: "", selected: new Set() };

  const filterInput = h("input", {
    type: "search", id: "model-filter", placeholder: "source, architecture, corpus…",
    oninput: (e) => { state.filter = e.target.value.toLowerCase(); draw(); },
  });
  const compareBtn = h("button", {
    type: "button", id: "compare-selected", disabled: true,
    onclick: () => { location.hash = `#/compare?results=${[...state.selected].join(",")}`; },
  }, "Compare selected");
  const count = h("span", { class: "muted", "aria-live": "polite" });
  const tbody = h("tbody");
  const headRow = h("tr", {}, h("th", { scope: "col" }, h("span", { class: "sr-only",
    text: "Select" })));
  const headButtons = {};
  for (const col of COLUMNS) {
    const btn = h("button", { type: "button", class: "sort", text: col.label,
      onclick: () => {
        state.dir = state.sort === col.key ? -state.dir : 1;
        state.sort = col.key;
        draw();
      } });
    headButtons[col.key] = btn;
    headRow.append(h("th", { scope: "col", class: col.num ? "num" : "", dataset: { col: col.key } },
      btn));
  }

  function draw() {
    const col = COLUMNS.find((c) => c.key === state.sort);
    const visible = rows.filter((r) => {
      if (!state.filter) return true;
      const hay = [modelName(r.model), r.model.source, r.model.architecture, r.model.revision,
        r.model.run_name, r.entry?.corpus_source, r.entry?.preset].join(" ").toLowerCase();
      return hay.includes(state.filter);
    });
    visible.sort((a, b) => state.dir * compareValues(col.get(a), col.get(b), col.num));
    for (const c of COLUMNS) {
      const th = headButtons[c.key].parentElement;
      th.setAttribute("aria-sort", c.key === state.sort
        ? (state.dir > 0 ? "ascending" : "descending") : "none");
    }
    replace(tbody, visible.map((r) => {
      const rid = r.entry?.result_id;
      const box = h("input", {
        type: "checkbox", disabled: !rid, checked: rid && state.selected.has(rid),
        "aria-label": `Select ${modelName(r.model)} for comparison`,
        onchange: (e) => {
          if (e.target.checked) state.selected.add(rid);
          else state.selected.delete(rid);
          compareBtn.disabled = state.selected.size < 2;
        },
      });
      const link = `#/model/${r.model.id}${rid ? `?result=${rid}` : ""}`;
      return h("tr", { dataset: { modelId: r.model.id, resultId: rid || "" } },
        h("td", {}, box),
        COLUMNS.map((c) => {
          const v = c.get(r);
          const text = c.show ? c.show(r) : c.f ? c.f(v) : c.num ? fmt(v) : (v ?? "—");
          if (c.key === "name") {
            return h("td", { class: "name" }, h("a", { href: link, text }),
              h("div", { class: "muted small", text: r.model.source }));
          }
          return h("td", { class: c.num ? "num" : "", text,
            title: c.tip ? c.tip(r) : c.key === "revision" && v ? v : null });
        }));
    }));
    count.textContent = `${visible.length} of ${rows.length} rows`;
  }

  replace(main,
    h("h1", { text: "Models" }),
    h("p", { class: "lede", text: "Every analysed model, one row per corpus and preset (its "
      + "latest succeeded job). Entropies in nats. Select two or more rows to compare." }),
    h("div", { class: "toolbar" },
      h("label", { for: "model-filter", text: "Filter" }), filterInput, count, compareBtn),
    rows.length === 0
      ? message("No models yet. Submit a job to analyse one.", "info")
      : h("div", { class: "table-wrap" },
        h("table", { class: "data", id: "models-table" }, h("thead", {}, headRow), tbody)));
  draw();
  return null;
}

// Models: every analysed model with its headline numbers; sortable, filterable; pick to compare.

import { api } from "../api.js";
import { fmt, fmtCount, fmtDate, h, message, modelName, replace } from "../dom.js";
import {
  headlineOf, helpLink, metric, metricCell, metricText, methodsUrl, tooltip,
} from "../headlines.js";

/** A headline metric as a column: tooltip and "?" link in the header, interval in the cell. */
const metricColumn = (key, colKey) => {
  const m = metric(key);
  return { key: colKey, label: `${m.label} ${m.arrow}`, metric: m, num: true,
    get: (r) => r.head?.[key] ?? null };
};

const COLUMNS = [
  { key: "name", label: "Model", get: (r) => modelName(r.model) },
  { key: "revision", label: "Revision", get: revisionText, tip: revisionTip,
    help: "The model revision the weights were resolved to (a Hub commit or tag); local and "
      + "checkpoint files have none. The content hash of the weights is in the tooltip." },
  { key: "arch", label: "Architecture", get: (r) => r.model.architecture },
  { key: "params", label: "Params", get: (r) => r.model.num_parameters, num: true, f: fmtCount },
  { key: "corpus", label: "Corpus", get: (r) => r.entry?.corpus_source },
  { key: "preset", label: "Preset", get: (r) => r.entry?.preset },
  metricColumn("mean_nll", "nll"),
  metricColumn("calibration_gap", "gap"),
  metricColumn("surplus_k2", "surplus"),
  metricColumn("alignment_lift_last", "lift"),
  metricColumn("alignment_lift_proto_last", "lift_proto"),
  metricColumn("effective_rank_last", "erank"),
  { key: "date", label: "Analysed", get: (r) => r.entry?.created_at, f: fmtDate },
];

/** Hashes and commits are long: 12 hex digits each (the full value is in the tooltip). */
function shortHash(value) {
  return value ? value.replace(/[0-9a-f]{16,}/gi, (hex) => `${hex.slice(0, 12)}…`) : null;
}

/** The revision the weights resolved to for this result (a commit, "local"), never a hash. */
function revisionText(row) {
  const rev = row.entry?.resolved_revision || row.model.revision;
  if (rev) return shortHash(rev);
  return row.model.source?.startsWith("hf:") ? "default branch" : "local files";
}

function revisionTip(row) {
  const rev = row.entry?.resolved_revision || row.model.revision;
  return [rev ? `revision ${rev}` : "no revision recorded",
    row.model.content_hash ? `content hash ${shortHash(row.model.content_hash)}` : null]
    .filter(Boolean).join("\n");
}

/** One row per (model, latest result per corpus and preset); models without results get one. */
export function rowsOf(models) {
  const rows = [];
  for (const model of models) {
    const latest = Array.isArray(model.latest) ? model.latest : [];
    if (latest.length === 0) rows.push({ model, entry: null, head: null });
    for (const entry of latest) {
      rows.push({ model, entry, head: headlineOf(null, entry.headline) });
    }
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
    const tip = col.metric ? tooltip(col.metric) : col.help;
    headRow.append(h("th", { scope: "col", class: col.num ? "num" : "", title: tip,
      dataset: { col: col.key } }, btn, col.metric ? helpLink(col.metric) : null));
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
          if (c.metric) {
            const tip = `${c.metric.label}: ${metricText(c.metric, r.head || {}, r.model)}\n`
              + tooltip(c.metric, r.model);
            return h("td", { class: "num", title: tip, dataset: { col: c.key } },
              r.head ? metricCell(c.metric, r.head, r.model) : "—");
          }
          const text = c.f ? c.f(v) : c.num ? fmt(v) : (v ?? "—");
          if (c.key === "name") {
            return h("td", { class: "name" }, h("a", { href: link, text }),
              h("div", { class: "muted small", text: r.model.source }));
          }
          return h("td", { class: c.num ? "num" : "", text, dataset: { col: c.key },
            title: c.tip ? c.tip(r) : null });
        }));
    }));
    count.textContent = `${visible.length} of ${rows.length} rows`;
  }

  replace(main,
    h("h1", { text: "Models" }),
    h("p", { class: "lede", text: "Every analysed model, one row per corpus and preset (its "
      + "latest succeeded job). Entropies in nats; the arrow by a column says which way is "
      + "better; hover a header or a value, or follow its “?”, for its definition and chance "
      + "level. Select two or more rows to compare." }),
    h("p", { class: "muted small" }, "Lifts: 1 = chance. The model-free lift is comparable "
      + "between rows on the same corpus and contexts; the own-prototype lift uses each "
      + "model's own kernel. ", h("a", { href: methodsUrl("alignment"), text: "Methods" })),
    h("div", { class: "toolbar" },
      h("label", { for: "model-filter", text: "Filter" }), filterInput, count, compareBtn),
    rows.length === 0
      ? message("No models yet. Submit a job to analyse one.", "info")
      : h("div", { class: "table-wrap" },
        h("table", { class: "data", id: "models-table" }, h("thead", {}, headRow), tbody)));
  draw();
  return null;
}

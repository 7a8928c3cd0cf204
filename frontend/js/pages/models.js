// Models: every analysed model with its headline numbers; sortable, filterable; pick to compare.

import { api } from "../api.js";
import { fmt, fmtCount, fmtDate, h, message, modelName, replace } from "../dom.js";
import {
  headlineOf, helpLink, metric, metricCell, metricText, methodsUrl, tooltip,
} from "../headlines.js";
import { loadUnits } from "../units.js";

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
    if (latest.length === 0) rows.push({ model, entry: null, head: null, lastJob: null });
    for (const entry of latest) {
      rows.push({ model, entry, head: headlineOf(null, entry.headline) });
    }
  }
  return rows;
}

/** A model without a result: its newest job says why (failed, still queued…); null if none. */
async function attachLastJobs(rows) {
  await Promise.all(rows.filter((r) => !r.entry).map(async (r) => {
    try {
      const list = await api.jobs({ model_id: r.model.id, limit: 1 });
      r.lastJob = list?.items?.[0] || null;
    } catch {
      r.lastJob = null; // the row still says "no result yet", without the reason
    }
  }));
}

/** The first line of a job's error, shortened for a table cell (the whole one is in the title). */
function shortReason(error) {
  const line = String(error || "").split("\n").find((l) => l.trim()) || "no reason recorded";
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

/** What a row without a result says, e.g. "No result yet — last job failed: <reason>". */
export function noResultText(job) {
  if (!job) return "No result yet — no job has been run for this model.";
  if (job.status === "failed") return `No result yet — last job failed: ${shortReason(job.error)}`;
  if (job.status === "cancelled") return "No result yet — last job was cancelled.";
  return `No result yet — job #${job.id} is ${job.status}.`;
}

function compareValues(a, b, num) {
  const missingA = a === null || a === undefined;
  const missingB = b === null || b === undefined;
  if (missingA || missingB) return missingA - missingB; // missing values sort last
  return num ? a - b : String(a).localeCompare(String(b));
}

/** The header row: sort buttons, metric tooltips and "?" links. */
function headerRow(state, draw) {
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
  return { headRow, headButtons };
}

/** The rows the filter keeps, in the chosen order. */
function visibleRows(rows, state) {
  const col = COLUMNS.find((c) => c.key === state.sort);
  const visible = rows.filter((r) => {
    if (!state.filter) return true;
    const hay = [modelName(r.model), r.model.source, r.model.architecture, r.model.revision,
      r.model.run_name, r.entry?.corpus_source, r.entry?.preset].join(" ").toLowerCase();
    return hay.includes(state.filter);
  });
  return visible.sort((a, b) => state.dir * compareValues(col.get(a), col.get(b), col.num));
}

/** One cell of a row with a result. */
function cellOf(c, r) {
  const v = c.get(r);
  if (c.metric) {
    const tip = `${c.metric.label}: ${metricText(c.metric, r.head || {}, r.model)}\n`
      + tooltip(c.metric, r.model);
    return h("td", { class: "num", title: tip, dataset: { col: c.key } },
      r.head ? metricCell(c.metric, r.head, r.model) : "—");
  }
  const text = c.f ? c.f(v) : c.num ? fmt(v) : (v ?? "—");
  if (c.key === "name") {
    const rid = r.entry?.result_id;
    const link = `#/model/${r.model.id}${rid ? `?result=${rid}` : ""}`;
    return h("td", { class: "name" }, h("a", { href: link, text }),
      h("div", { class: "muted small", text: r.model.source }));
  }
  return h("td", { class: c.num ? "num" : "", text, dataset: { col: c.key },
    title: c.tip ? c.tip(r) : null });
}

/** A model without a result: its name, then one cell saying why there is none. */
function noResultCells(r) {
  const job = r.lastJob;
  const failed = job?.status === "failed";
  return [cellOf(COLUMNS[0], r),
    h("td", { colspan: COLUMNS.length - 1, class: `no-result${failed ? " msg-error" : " muted"}`,
      dataset: { col: "status" }, title: failed ? job.error || "" : null },
    noResultText(job), job ? " " : null,
    job ? h("a", { href: `#/job/${job.id}`, text: `job #${job.id}` }) : null)];
}

/** One table row, with its compare checkbox (disabled without a result). */
function rowOf(r, state, onSelect) {
  const rid = r.entry?.result_id;
  const box = h("input", {
    type: "checkbox", disabled: !rid, checked: rid && state.selected.has(rid),
    "aria-label": `Select ${modelName(r.model)} for comparison`,
    onchange: (e) => {
      if (e.target.checked) state.selected.add(rid);
      else state.selected.delete(rid);
      onSelect();
    },
  });
  return h("tr", { dataset: { modelId: r.model.id, resultId: rid || "" } },
    h("td", {}, box), r.entry ? COLUMNS.map((c) => cellOf(c, r)) : noResultCells(r));
}

function intro() {
  return [
    h("h1", { text: "Models" }),
    h("p", { class: "lede", text: "Every analysed model, one row per corpus and preset (its "
      + "latest succeeded job). Entropies in nats; the arrow by a column says which way is "
      + "better; hover a header or a value, or follow its “?”, for its definition and chance "
      + "level. Select two or more rows to compare." }),
    h("p", { class: "muted small" }, "Lifts: 1 = chance. The model-free lift is comparable "
      + "between rows on the same corpus and contexts; the own-prototype lift uses each "
      + "model's own kernel. ", h("a", { href: methodsUrl("alignment"), text: "Methods" })),
  ];
}

export async function render(main) {
  // Units and definitions of the headline columns come from the server's schema.
  const [models] = await Promise.all([api.models(), loadUnits()]);
  const rows = rowsOf(models);
  await attachLastJobs(rows);
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
  const { headRow, headButtons } = headerRow(state, () => draw());
  const onSelect = () => { compareBtn.disabled = state.selected.size < 2; };

  function draw() {
    const visible = visibleRows(rows, state);
    for (const c of COLUMNS) {
      headButtons[c.key].parentElement.setAttribute("aria-sort", c.key === state.sort
        ? (state.dir > 0 ? "ascending" : "descending") : "none");
    }
    replace(tbody, visible.map((r) => rowOf(r, state, onSelect)));
    count.textContent = `${visible.length} of ${rows.length} rows`;
  }

  replace(main, ...intro(),
    h("div", { class: "toolbar" },
      h("label", { for: "model-filter", text: "Filter" }), filterInput, count, compareBtn),
    rows.length === 0
      ? message("No models yet. Submit a job to analyse one.", "info")
      : h("div", { class: "table-wrap" },
        h("table", { class: "data", id: "models-table" }, h("thead", {}, headRow), tbody)));
  draw();
  return null;
}

// Chart specs -> Plotly charts, each in a labelled card with PNG/SVG export.
//
// A ChartSpec is plain data. The dashboard, the suites and the compare page all build specs, so
// one renderer serves them all:
//   {id, title, note?, help?: "<methods anchor>" (renders a "?" link to /methods#<anchor>),
//    emptyText?: "what a missing chart means",
//    equalAspect?: true (same range and scale on x and y: y = x is the diagonal),
//    x / y: {title, log?, category?, fraction?: true (plain decimals, no SI prefix),
//            rangeFrom?: "estimates" (y only: scale to the estimate/exact traces and their
//              intervals; bound and baseline traces outside it become edge markers and a
//              caption line, with a "Full range" toggle),
//            focusX?: [min, max] (y only, with rangeFrom: only points in this x window set
//              the range, e.g. skip the embeddings layer's huge NLL)},
//    traces: [{name, x, y, low?, high?, role?: "estimate"|"exact"|"bound"|"baseline",
//              kind?: "line"|"bar"|"markers", color?, colorIndex?, dash?,
//              hollow?: [bool per point] (open markers, e.g. not detected),
//              hover?: [text per point],
//              floor?: {value, label} (points below value are drawn AT it with open markers
//                and say `label` on hover: e.g. a lower bound below 0 is vacuous)}]}
//    legend?: false (no Plotly legend: the page shows a shared key, e.g. compare)}

import { fmt, h } from "./dom.js";

export const PALETTE = [
  "#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700", "#5c940d",
  "#364fc7", "#a61e4d",
];

// Cycled when a colour repeats in one chart, so overlapping series stay distinguishable.
const SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "star", "triangle-down",
  "x", "pentagon", "hexagon"];
const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

const ROLE_STYLE = {
  exact: { dash: "dash", width: 2.5, symbol: "diamond" },
  bound: { dash: "dot", width: 1.5, symbol: "line-ew" },
  baseline: { dash: "dashdot", width: 1.5, symbol: "x" },
  estimate: { dash: "solid", width: 2, symbol: "circle" },
};
const SCALED_ROLES = new Set(["estimate", "exact"]);

// ------------------------------------------------------------------------------ Plotly loading

export const PLOTLY_SRC = "/static/plotly.min.js";
// Plotly skips its inline <style> injection (blocked by the CSP) when an element with this id
// exists, so its base styles are linked first. (The basic bundle registers no map traces, so
// maplibre's stylesheet, injected only when a map trace registers, is never needed.)
const PLOTLY_CSS_ID = "plotly.js-style-global";
let plotlyLoading = null;

/** Plotly, loaded on the first chart only: pages without charts never fetch its 1.2 MB. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyLoading) {
    plotlyLoading = new Promise((resolve, reject) => {
      if (!document.getElementById(PLOTLY_CSS_ID)) {
        document.head.append(h("link", {
          rel: "stylesheet", href: "/css/plotly.css", id: PLOTLY_CSS_ID, class: "no-inline-styles",
        }));
      }
      const script = h("script", { src: PLOTLY_SRC });
      script.addEventListener("load", () => resolve(window.Plotly));
      script.addEventListener("error", () => {
        plotlyLoading = null;
        script.remove();
        reject(new Error("the chart library could not be loaded"));
      });
      document.head.append(script);
    });
  }
  return plotlyLoading;
}

// ------------------------------------------------------------------------------------- theme

const DARK = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
const LIGHT_THEME = { fg: "#1d2330", muted: "#5b6475", card: "#ffffff", line: "#d9dde5" };

/** Chart colours from the page's CSS variables (light or dark, as the system says). */
export function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { fg: v("--fg", LIGHT_THEME.fg), muted: v("--muted", LIGHT_THEME.muted),
    card: v("--card", LIGHT_THEME.card), line: v("--line", LIGHT_THEME.line) };
}

function themeLayout(t) {
  const axis = { color: t.fg, gridcolor: t.line, linecolor: t.line, zerolinecolor: t.line };
  return {
    paper_bgcolor: t.card, plot_bgcolor: t.card, font: { color: t.fg },
    legend: { font: { color: t.fg } }, xaxis: axis, yaxis: axis,
  };
}

function relayoutTheme(Plotly) {
  const t = chartTheme();
  const layout = themeLayout(t);
  for (const el of document.querySelectorAll(".plot.js-plotly-plot")) {
    Plotly.relayout(el, {
      paper_bgcolor: t.card, plot_bgcolor: t.card, "font.color": t.fg, "legend.font.color": t.fg,
      ...Object.fromEntries(["xaxis", "yaxis"].flatMap((ax) => Object.entries(layout[ax])
        .map(([k, val]) => [`${ax}.${k}`, val]))),
    });
  }
}

// A change of the system setting re-themes the charts already drawn.
DARK?.addEventListener?.("change", () => {
  if (window.Plotly) relayoutTheme(window.Plotly);
});

// ---------------------------------------------------------------------------- pure helpers

/**
 * Plotly renders a pseudo-HTML subset (<b>, <a href>, <br>…) in names and titles; escaping
 * keeps a model called "<b>x</b>" literal text, like everywhere else on the page.
 */
export function plotlyText(text) {
  return String(text ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const isFiniteNum = (v) => typeof v === "number" && Number.isFinite(v);

/** Element-wise a − b, NaN where either is missing (Plotly then draws no error bar). */
const diff = (a, b) => a.map((v, i) =>
  (v === null || b[i] === null || v === undefined || b[i] === undefined ? NaN : v - b[i]));

/** A trace with `floor` applied: points below it sit on it, flagged for open markers. */
export function applyFloor(trace) {
  const f = trace.floor;
  if (!f || !isFiniteNum(f.value) || !Array.isArray(trace.y)) return trace;
  const below = trace.y.map((v) => isFiniteNum(v) && v < f.value);
  if (!below.some(Boolean)) return trace;
  const label = f.label || "below the floor";
  return {
    ...trace,
    y: trace.y.map((v, i) => (below[i] ? f.value : v)),
    low: Array.isArray(trace.low) ? trace.low.map((v, i) => (below[i] ? null : v)) : trace.low,
    high: Array.isArray(trace.high) ? trace.high.map((v, i) => (below[i] ? null : v))
      : trace.high,
    hollow: trace.y.map((_, i) => below[i] || Boolean(trace.hollow?.[i])),
    hover: trace.y.map((v, i) => (below[i] ? `${label} (bound ${fmt(v)})`
      : trace.hover?.[i] ?? "")),
    floored: below.filter(Boolean).length,
  };
}

/**
 * Why a spec has nothing to draw, or null: no finite value in any trace, or every value of
 * every trace equal (zero-height bars, or a lone flat line on a −1..1 axis, look like a broken
 * chart). A single point, values with an interval, or a flat line beside a reference (y = x,
 * a bound) are worth drawing.
 */
export function chartMessage(spec) {
  const pool = spec.traces || [];
  const ys = pool.flatMap((t) => (Array.isArray(t.y) ? t.y : [])).filter(isFiniteNum);
  if (ys.length === 0) {
    return spec.emptyText || "No values to chart: every value of this quantity is missing.";
  }
  const bands = pool.some((t) => Array.isArray(t.low) && Array.isArray(t.high)
    && t.low.some((lo, i) => isFiniteNum(lo) && isFiniteNum(t.high[i]) && t.high[i] > lo));
  if (ys.length > 1 && !bands && ys.every((v) => v === ys[0])) {
    const unit = spec.y?.title ? ` (${spec.y.title})` : "";
    return `Every value is ${fmt(ys[0])}${unit}: nothing to chart.`;
  }
  return null;
}

/** Finite values of the traces that set the range, optionally only inside an x window. */
function scaleValues(traces, focusX) {
  const inWindow = (x) => !focusX || (isFiniteNum(x) && x >= focusX[0] && x <= focusX[1]);
  const out = [];
  for (const t of traces) {
    if (!SCALED_ROLES.has(t.role || "estimate")) continue;
    t.y.forEach((v, i) => {
      if (!inWindow(t.x[i])) return;
      for (const w of [v, t.low?.[i], t.high?.[i]]) if (isFiniteNum(w)) out.push(w);
    });
  }
  return out;
}

/**
 * The y range a spec asks for (`y.rangeFrom: "estimates"`), padded, or null (Plotly's own).
 * Bounds outside it are reported in `offscale`: [{name, x, y, color?}] with the true values.
 */
export function estimateRange(spec, traces = spec.traces) {
  if (spec.y?.rangeFrom !== "estimates" || spec.y?.log) return null;
  const vals = scaleValues(traces, spec.y.focusX);
  if (vals.length === 0) return null;
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  // Estimates all equal (e.g. every layer vacuous, drawn on 0): the bounds give the scale.
  if (lo === hi) return null;
  const span = hi - lo;
  lo -= 0.08 * span;
  hi += 0.08 * span;
  if (Math.min(...vals) >= 0 && lo < 0) lo = 0; // a non-negative quantity keeps 0 as its floor
  const offscale = [];
  traces.forEach((t, ti) => {
    t.y.forEach((v, i) => {
      if (isFiniteNum(v) && (v > hi || v < lo)) {
        offscale.push({ trace: ti, name: t.name, x: t.x[i], y: v, edge: v > hi ? hi : lo });
      }
    });
  });
  return { range: [lo, hi], offscale };
}

/** One caption line naming what lies outside the scaled range (grouped per trace). */
export function offscaleText(offscale, xTitle) {
  if (!offscale.length) return "";
  const byName = new Map();
  for (const o of offscale) {
    if (!byName.has(o.name)) byName.set(o.name, []);
    byName.get(o.name).push(o);
  }
  const xWord = String(xTitle || "x").split(" ")[0];
  const parts = [...byName].map(([name, pts]) => {
    const ys = pts.map((p) => p.y);
    if (pts.length === 1) return `${name} ${fmt(ys[0])} at ${xWord} ${fmt(pts[0].x)}`;
    const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
    return lo === hi ? `${name} ${fmt(lo)}` : `${name} ${fmt(lo)} to ${fmt(hi)}`;
  });
  return `Off scale (▲▼ at the edge; “Full range” shows them): ${parts.join("; ")}.`;
}

/** Pairs of traces whose points coincide (same x and y): drawn on top of each other. */
export function coincidentTraces(traces) {
  const key = (t) => JSON.stringify([t.x, (t.y || []).map((v) =>
    (isFiniteNum(v) ? Number(v.toPrecision(6)) : null))]);
  const seen = new Map();
  const groups = [];
  traces.forEach((t) => {
    if (!Array.isArray(t.y) || !t.y.some(isFiniteNum)) return;
    const k = key(t);
    if (seen.has(k)) seen.get(k).push(t.name);
    else {
      const g = [t.name];
      seen.set(k, g);
      groups.push(g);
    }
  });
  return groups.filter((g) => g.length > 1);
}

/** Major ticks only on a log axis: whole decades, fewer when the range is wide. */
export function logDtick(values) {
  const pos = values.filter((v) => isFiniteNum(v) && v > 0);
  if (pos.length === 0) return 1;
  const decades = Math.log10(Math.max(...pos)) - Math.log10(Math.min(...pos));
  if (decades < 1.5) return "D2"; // inside ~one decade: 1, 2, 5 so the axis has labels at all
  return Math.max(1, Math.ceil(decades / 8));
}

/** Colour, dash and marker per trace: a repeated colour gets the next unused dash/symbol. */
export function assignStyles(traces) {
  const used = new Map(); // color -> {dashes:Set, symbols:Set}
  return traces.map((t, i) => {
    const color = t.color || PALETTE[(t.colorIndex ?? i) % PALETTE.length];
    const role = ROLE_STYLE[t.role || "estimate"] || ROLE_STYLE.estimate;
    let dash = t.dash || role.dash;
    let symbol = role.symbol;
    const u = used.get(color) || { dashes: new Set(), symbols: new Set() };
    if (u.dashes.has(dash) && !t.dash) dash = DASHES.find((d) => !u.dashes.has(d)) || dash;
    if (u.symbols.has(symbol)) symbol = SYMBOLS.find((s) => !u.symbols.has(s)) || symbol;
    const repeated = u.dashes.size > 0;
    u.dashes.add(dash);
    u.symbols.add(symbol);
    used.set(color, u);
    return { color, dash, symbol, repeated, width: role.width };
  });
}

// -------------------------------------------------------------------------- Plotly traces

/** Plotly traces of one spec trace (a band adds two fill traces under the line). */
function plotlyTraces(rawTrace, style, index) {
  const trace = { ...rawTrace, name: plotlyText(rawTrace.name) };
  const { color } = style;
  const group = `g${index}`;
  const out = [];
  const hasBand = Array.isArray(trace.low) && Array.isArray(trace.high);
  if (trace.kind === "bar") {
    const bar = { type: "bar", name: trace.name, x: trace.x, y: trace.y, marker: { color } };
    if (hasBand) {
      bar.error_y = {
        type: "data", symmetric: false,
        array: diff(trace.high, trace.y), arrayminus: diff(trace.y, trace.low),
      };
    }
    return [bar];
  }
  const sparse = trace.kind === "markers" || trace.x.length <= 40;
  if (hasBand && !sparse) {
    out.push({
      type: "scatter", mode: "lines", x: trace.x, y: trace.high, line: { width: 0 },
      hoverinfo: "skip", showlegend: false, legendgroup: group, name: `${trace.name} high`,
    });
    out.push({
      type: "scatter", mode: "lines", x: trace.x, y: trace.low, line: { width: 0 },
      fill: "tonexty", fillcolor: rgba(color, 0.2), hoverinfo: "skip", showlegend: false,
      legendgroup: group, name: `${trace.name} 95% interval`,
    });
  }
  // A repeated colour also shows markers on dense lines (thinned), so the symbol tells it apart.
  const markers = sparse || style.repeated || Array.isArray(trace.hollow);
  const main = {
    type: "scatter",
    mode: trace.kind === "markers" ? "markers" : markers ? "lines+markers" : "lines",
    name: trace.name, x: trace.x, y: trace.y, legendgroup: group,
    line: { color, dash: style.dash, width: style.width },
    marker: { color, symbol: style.symbol, size: trace.role === "exact" ? 9 : 6,
      ...(sparse ? {} : { maxdisplayed: 24 }) },
  };
  if (Array.isArray(trace.hollow) && trace.hollow.some(Boolean)) {
    main.marker.symbol = trace.hollow.map((open) => (open ? `${style.symbol}-open` : style.symbol));
    main.marker.size = trace.hollow.map((open) => (open ? 10 : main.marker.size));
  }
  if (Array.isArray(trace.hover)) main.text = trace.hover.map((t) => plotlyText(t));
  if (hasBand && sparse) {
    main.error_y = {
      type: "data", symmetric: false, color,
      array: diff(trace.high, trace.y), arrayminus: diff(trace.y, trace.low),
    };
  }
  out.push(main);
  return out;
}

/** Edge markers for off-scale points: ▲ at the top, ▼ at the bottom, true value on hover. */
function offscaleTraces(offscale, styles) {
  return offscale.map((o) => ({
    type: "scatter", mode: "markers", x: [o.x], y: [o.edge], showlegend: false,
    cliponaxis: false, hoverinfo: "text",
    text: [plotlyText(`${o.name}: ${fmt(o.y)} (off scale)`)],
    marker: { color: styles[o.trace].color, size: 11,
      symbol: o.y > o.edge ? "triangle-up" : "triangle-down" },
    name: plotlyText(`${o.name} (off scale)`),
  }));
}

/** Whole-number x values over a short range (layers, K, offsets) get one tick per value. */
function integerTicks(spec) {
  const xs = spec.traces.flatMap((t) => t.x).filter((v) => typeof v === "number");
  if (xs.length === 0 || !xs.every(Number.isInteger)) return {};
  const span = Math.max(...xs) - Math.min(...xs);
  if (span > 24) return {}; // Plotly's own ticks are fine (and rounder) on long ranges
  return { tickmode: "linear", dtick: span > 12 ? 2 : 1, tick0: 0 };
}

function equalRange(traces) {
  const vals = traces.flatMap((t) => [...t.x, ...t.y, ...(t.low || []), ...(t.high || [])])
    .filter(isFiniteNum);
  if (vals.length === 0) return null;
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  const pad = 0.04 * (hi - lo || Math.abs(hi) || 1);
  return [lo >= 0 ? Math.max(0, lo - pad) : lo - pad, hi + pad];
}

/** The Plotly layout of a spec (`scaled`: the estimate range, or null for the full one). */
export function layoutOf(spec, traces, scaled, theme = LIGHT_THEME) {
  const axis = (ax, values) => ({
    title: { text: plotlyText(ax?.title) },
    type: ax?.log ? "log" : ax?.category ? "category" : "-",
    zeroline: false, automargin: true,
    // No SI prefixes ("120μ"): exponents as 1.2e−4. exponentformat "power" would render
    // <tspan style=…> superscripts, which the CSP blocks.
    exponentformat: "e",
    ...(ax?.fraction ? { tickformat: ".4~r" } : {}),
    ...(ax?.log ? { dtick: logDtick(values), minor: { showgrid: false, ticks: "" } } : {}),
    // A spec may fix the range (e.g. set by the estimates, not by a far-away bound).
    ...(Array.isArray(ax?.range) ? { range: ax.range, autorange: false } : {}),
  });
  const xs = traces.flatMap((t) => t.x);
  const ys = traces.flatMap((t) => [...t.y, ...(t.low || []), ...(t.high || [])]);
  const named = traces.filter((t) => t.name).length;
  // `legend: false`: the page draws one shared key instead (compare), so no room is reserved.
  const legend = spec.legend !== false;
  const th = themeLayout(theme);
  const layout = {
    margin: { l: 60, r: 20, t: 10, b: 50 },
    showlegend: legend,
    // Room for the legend above the plot: one row per ~3 entries.
    height: 300 + (legend ? 22 * Math.ceil(named / 3) : 0),
    xaxis: { ...axis(spec.x, xs), ...(spec.x?.log ? {} : integerTicks(spec)), ...th.xaxis },
    yaxis: { ...axis(spec.y, ys), ...th.yaxis },
    legend: { orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom",
      ...th.legend },
    hovermode: "closest",
    font: { family: "system-ui, sans-serif", size: 12, ...th.font },
    paper_bgcolor: th.paper_bgcolor,
    plot_bgcolor: th.plot_bgcolor,
  };
  if (spec.equalAspect) {
    const range = equalRange(traces);
    if (range) {
      Object.assign(layout.xaxis, { range, constrain: "domain" });
      Object.assign(layout.yaxis, { range, scaleanchor: "x", scaleratio: 1, constrain: "domain" });
      delete layout.xaxis.tickmode;
      delete layout.xaxis.dtick;
    }
  } else if (scaled) {
    layout.yaxis.range = scaled.range;
    layout.yaxis.autorange = false;
  }
  return layout;
}

// --------------------------------------------------------------------------- figure export

let chartContext = {};

/**
 * Page context for exported figures: {model, corpus, provenance} (strings). The dashboard sets
 * it when it shows a result; a downloaded PNG/SVG carries it under the chart.
 */
export function setChartContext(context) {
  chartContext = { ...(context || {}) };
}

export function getChartContext() {
  return { ...chartContext };
}

/**
 * The layout of an exported figure: title on top; model · corpus, the provenance line and the
 * chart's caption lines (`notes`: off-scale values, vacuous points…) beneath.
 */
export function figureLayout(spec, layout, context = chartContext, notes = []) {
  const lines = [
    [context.model ? `model: ${context.model}` : "", context.corpus ? `corpus: ${context.corpus}`
      : ""].filter(Boolean).join(" · "),
    context.provenance || "",
    spec.note || "",
    ...notes,
  ].filter(Boolean);
  const th = themeLayout(LIGHT_THEME); // papers and slides: always the light theme
  return {
    ...layout,
    ...th,
    xaxis: { ...layout.xaxis, ...th.xaxis },
    yaxis: { ...layout.yaxis, ...th.yaxis },
    legend: { ...layout.legend, ...th.legend },
    font: { ...layout.font, ...th.font },
    title: { text: plotlyText(spec.title), x: 0.01, xanchor: "left", font: { size: 16 } },
    margin: { ...layout.margin, t: 60 + (layout.margin?.t || 0), b: 70 + 18 * lines.length },
    annotations: [...(layout.annotations || []), ...lines.map((text, i) => ({
      text: plotlyText(text.length > 160 ? `${text.slice(0, 157)}…` : text), showarrow: false,
      xref: "paper", yref: "paper", x: 0, xanchor: "left", y: 0, yanchor: "top",
      yshift: -48 - 18 * i, font: { size: i === 0 ? 12 : 10, color: LIGHT_THEME.muted },
    }))],
  };
}

async function exportFigure(plotEl, spec, format, fileBase, notes) {
  const Plotly = await loadPlotly();
  const layout = figureLayout(spec, plotEl.layout || {}, chartContext, notes);
  const height = 460 + 18 * (layout.annotations?.length || 0);
  const url = await Plotly.toImage({ data: plotEl.data, layout }, {
    format, width: 1000, height,
  });
  const a = h("a", { href: url, download: `${fileBase}.${format}`, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
}

// ------------------------------------------------------------------------------ the card

/** Caption lines under a chart: floored values and traces drawn on top of each other. */
function captionExtras(traces, msg) {
  const extra = [];
  const floored = traces.filter((t) => t.floored);
  if (floored.length) {
    extra.push(`Open markers on ${fmt(floored[0].floor.value)}: ${floored[0].floor.label
      || "below the floor"}.`);
  }
  const same = msg ? [] : coincidentTraces(traces);
  if (same.length) {
    extra.push(`Drawn on top of each other (equal values): ${same.map((g) => g.join(" = "))
      .join("; ")}.`);
  }
  return extra;
}

/** The "?" link of a chart to its methods section, or null. */
function chartHelp(spec) {
  return spec.help ? h("a", {
    class: "help", href: `/methods#${encodeURIComponent(spec.help)}`, text: "?",
    title: spec.note || spec.title, "aria-label": `About “${spec.title}” (methods)`,
  }) : null;
}

/** A card's drawing state: its traces, the estimate range, and whether the full range shows. */
function chartState(spec) {
  const msg = chartMessage(spec);
  const traces = (spec.traces || []).map(applyFloor);
  const scaled = msg ? null : estimateRange(spec, traces);
  return {
    spec, msg, traces, scaled, full: false, extra: captionExtras(traces, msg),
    offText: scaled ? offscaleText(scaled.offscale, spec.x?.title) : "",
    styles: assignStyles(traces),
  };
}

/** Draw (or redraw) the plot of `st` into `plotEl`, at the estimate or the full range. */
async function drawChart(st, plotEl, offLine) {
  const Plotly = await loadPlotly();
  const data = st.traces.flatMap((t, i) => plotlyTraces(t, st.styles[i], i));
  const range = st.full ? null : st.scaled;
  if (range) data.push(...offscaleTraces(range.offscale, st.styles));
  if (offLine) offLine.hidden = st.full;
  await Plotly.react(plotEl, data, layoutOf(st.spec, st.traces, range, chartTheme()), {
    responsive: true, displaylogo: false, modeBarButtonsToRemove: ["toImage"],
  });
}

/** The chart's buttons: full range / fit estimates (when values lie off scale), PNG, SVG. */
function chartActions(st, plotEl, redraw) {
  const { spec } = st;
  const fileBase = (spec.id || spec.title).replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  const exportBtn = (format) => h("button", {
    type: "button", class: "small", text: format.toUpperCase(),
    "aria-label": `Download “${spec.title}” as ${format.toUpperCase()}`,
    onclick: () => exportFigure(plotEl, spec, format, fileBase,
      [st.full ? "" : st.offText, ...st.extra]),
  });
  const toggle = st.scaled && st.scaled.offscale.length ? h("button", {
    type: "button", class: "small range-toggle", text: "Full range", "aria-pressed": "false",
    onclick: async () => {
      st.full = !st.full;
      toggle.setAttribute("aria-pressed", String(st.full));
      toggle.textContent = st.full ? "Fit estimates" : "Full range";
      await redraw();
    },
  }) : null;
  return h("div", { class: "chart-actions" }, toggle, exportBtn("png"), exportBtn("svg"));
}

let counter = 0;

/** A card holding the chart of `spec`; call the returned `plot()` once it is in the document. */
export function chartCard(spec) {
  counter += 1;
  const plotEl = h("div", { class: "plot", id: `plot-${counter}`, role: "img",
    "aria-label": spec.title });
  const st = chartState(spec);
  const offLine = st.offText ? h("p", { class: "offscale", text: st.offText }) : null;
  const draw = () => drawChart(st, plotEl, offLine);
  const card = h("figure", { class: "chart", dataset: { chartId: spec.id || "" } },
    h("div", { class: "chart-head" },
      h("div", { class: "chart-title" }, h("h3", { text: spec.title }), chartHelp(spec)),
      st.msg ? null : chartActions(st, plotEl, draw)),
    st.msg ? h("p", { class: "chart-empty", role: "status", text: st.msg }) : plotEl,
    offLine,
    spec.note || st.extra.length ? h("figcaption", {}, [spec.note, ...st.extra]
      .filter(Boolean).join(" ")) : null);
  if (st.msg) card.dataset.empty = "true";
  const plot = async () => {
    if (st.msg) {
      card.dataset.points = "0";
      return;
    }
    try {
      await draw();
      card.dataset.points = String(st.traces.reduce((n, t) => n + t.y.length, 0));
    } catch (err) {
      plotEl.replaceWith(h("p", { class: "chart-empty msg-error", role: "alert",
        text: `Chart not drawn: ${err.message}.` }));
      card.dataset.points = "0";
    }
  };
  return { card, plot };
}

const pending = new Set();

/** Resolves once every chart started so far is drawn (the router waits before "ready"). */
export function chartsSettled() {
  return Promise.allSettled([...pending]);
}

/** Render `specs` into `container` (already in the document); `grid.drawn` resolves when drawn. */
export function renderCharts(container, specs) {
  const grid = h("div", { class: "chart-grid" });
  container.append(grid);
  const drawn = [];
  for (const spec of specs) {
    const { card, plot } = chartCard(spec);
    grid.append(card);
    drawn.push(plot());
  }
  grid.drawn = Promise.all(drawn);
  pending.add(grid.drawn);
  grid.drawn.finally(() => pending.delete(grid.drawn));
  return grid;
}

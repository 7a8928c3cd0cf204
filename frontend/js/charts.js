// Chart specs -> Plotly charts, each in a labelled card with PNG/SVG export.
//
// A ChartSpec is plain data: {id, title, x: {title, log}, y: {title, log}, note, traces: [{name,
// x, y, low?, high?, role?: "estimate"|"exact"|"bound"|"baseline", kind?: "line"|"bar"|"markers",
// hollow?: [bool per point] (open markers, e.g. not detected), hover?: [text per point]}]}.
// The dashboard and the compare page both build specs, so one renderer serves both.

import { h } from "./dom.js";

export const PALETTE = [
  "#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700", "#5c940d",
  "#364fc7", "#a61e4d",
];

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

/**
 * Plotly renders a pseudo-HTML subset (<b>, <a href>, <br>…) in names and titles; escaping
 * keeps a model called "<b>x</b>" literal text, like everywhere else on the page.
 */
export function plotlyText(text) {
  return String(text ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Element-wise a − b, NaN where either is missing (Plotly then draws no error bar). */
const diff = (a, b) => a.map((v, i) =>
  (v === null || b[i] === null || v === undefined || b[i] === undefined ? NaN : v - b[i]));

/** Plotly traces of one spec trace (a band adds two fill traces under the line). */
function plotlyTraces(rawTrace, color, index) {
  const trace = { ...rawTrace, name: plotlyText(rawTrace.name) };
  const style = ROLE_STYLE[trace.role || "estimate"] || ROLE_STYLE.estimate;
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
  const main = {
    type: "scatter",
    mode: trace.kind === "markers" ? "markers" : sparse ? "lines+markers" : "lines",
    name: trace.name, x: trace.x, y: trace.y, legendgroup: group,
    line: { color, dash: trace.dash || style.dash, width: style.width },
    marker: { color, symbol: style.symbol, size: trace.role === "exact" ? 9 : 6 },
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

/** Whole-number x values over a short range (layers, K, offsets) get one tick per value. */
function integerTicks(spec) {
  const xs = spec.traces.flatMap((t) => t.x).filter((v) => typeof v === "number");
  if (xs.length === 0 || !xs.every(Number.isInteger)) return {};
  const span = Math.max(...xs) - Math.min(...xs);
  if (span > 24) return {}; // Plotly's own ticks are fine (and rounder) on long ranges
  return { tickmode: "linear", dtick: span > 12 ? 2 : 1, tick0: 0 };
}

function layoutOf(spec) {
  const axis = (ax) => ({
    title: { text: plotlyText(ax?.title) },
    type: ax?.log ? "log" : ax?.category ? "category" : "-",
    zeroline: false, automargin: true,
    // exponentformat "power" would render <tspan style=…> superscripts, which CSP blocks.
    ...(ax?.log ? { dtick: 1, exponentformat: "e" } : {}),
    // A spec may fix the range (e.g. set by the estimates, not by a far-away bound).
    ...(Array.isArray(ax?.range) ? { range: ax.range, autorange: false } : {}),
  });
  const named = spec.traces.filter((t) => t.name).length;
  return {
    margin: { l: 60, r: 20, t: 10, b: 50 },
    // Room for the legend above the plot: one row per ~3 entries.
    height: 300 + 22 * Math.ceil(named / 3),
    xaxis: { ...axis(spec.x), ...(spec.x?.log ? {} : integerTicks(spec)) },
    yaxis: { ...axis(spec.y), ...(spec.y?.log ? { dtick: undefined } : {}) },
    legend: { orientation: "h", x: 0, y: 1.02, xanchor: "left", yanchor: "bottom" },
    hovermode: "closest",
    font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
  };
}

const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["toImage"] };

let counter = 0;

/** A card holding the chart of `spec`; call the returned `plot()` once it is in the document. */
export function chartCard(spec) {
  counter += 1;
  const plotId = `plot-${counter}`;
  const plotEl = h("div", { class: "plot", id: plotId, role: "img", "aria-label": spec.title });
  const fileBase = (spec.id || spec.title).replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  const exportBtn = (format) => h("button", {
    type: "button", class: "small", text: format.toUpperCase(),
    "aria-label": `Download “${spec.title}” as ${format.toUpperCase()}`,
    onclick: () => window.Plotly.downloadImage(plotEl, {
      format, filename: fileBase, width: 1000, height: 500,
    }),
  });
  const card = h("figure", { class: "chart", dataset: { chartId: spec.id || "" } },
    h("div", { class: "chart-head" },
      h("h3", { text: spec.title }),
      h("div", { class: "chart-actions" }, exportBtn("png"), exportBtn("svg"))),
    plotEl,
    spec.note ? h("figcaption", { text: spec.note }) : null);
  const plot = () => {
    const traces = spec.traces.flatMap((t, i) =>
      plotlyTraces(t, t.color || PALETTE[(t.colorIndex ?? i) % PALETTE.length], i));
    window.Plotly.newPlot(plotEl, traces, layoutOf(spec), CONFIG);
    card.dataset.points = String(spec.traces.reduce((n, t) => n + t.y.length, 0));
  };
  return { card, plot };
}

/** Render `specs` into `container` (already in the document). */
export function renderCharts(container, specs) {
  const grid = h("div", { class: "chart-grid" });
  container.append(grid);
  for (const spec of specs) {
    const { card, plot } = chartCard(spec);
    grid.append(card);
    plot();
  }
  return grid;
}

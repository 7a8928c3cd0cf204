// Tokens tab: the text of one analysed window, every token coloured by a chosen per-token
// quantity, a legend with the scale, and on hover (or click, or focus) the model's top-5 next
// tokens and, at the sampled contexts, the logit lens's top-1 by layer.
//
// Colours come from a few discrete bins so a reader (and a test) can match every token to a
// legend swatch; the bins' domain is the server's scale for the whole result, so one colour
// means the same value in every window.

import { api } from "./api.js";
import { fmt, h, message, replace } from "./dom.js";

const BINS = 8;
// Light → dark (ColorBrewer YlOrRd, 8 classes) for magnitudes.
const SEQUENTIAL = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a",
  "#e31a1c", "#b10026"];
// Blue ← white → red (ColorBrewer RdBu, 8 classes, reversed) for signed differences.
const DIVERGING = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#fddbc7", "#f4a582",
  "#d6604d", "#b2182b"];
const BINARY = ["#f4a582", "#a6dba0"]; // miss, hit
const DARK = new Set(["#fc4e2a", "#e31a1c", "#b10026", "#2166ac", "#4393c3", "#d6604d",
  "#b2182b"]);

/** The legend's bins for a quantity: [{lo, hi, colour, label}], edges from the scale. */
export function legendBins(quantity, scale) {
  if (quantity.kind === "binary") {
    return [
      { lo: 0, hi: 0, colour: BINARY[0], label: "0: missed" },
      { lo: 1, hi: 1, colour: BINARY[1], label: "1: hit" },
    ];
  }
  const palette = quantity.kind === "diverging" ? DIVERGING : SEQUENTIAL;
  const step = (scale.high - scale.low) / BINS;
  return palette.map((colour, i) => {
    const lo = scale.low + i * step;
    const hi = i === BINS - 1 ? scale.high : scale.low + (i + 1) * step;
    let label = `${fmt(lo)} – ${fmt(hi)}`;
    if (i === 0 && scale.clipped_low) label = `≤ ${fmt(hi)}`;
    if (i === BINS - 1 && scale.clipped_high) label = `≥ ${fmt(lo)}`;
    return { lo, hi, colour, label };
  });
}

/** Index of the bin a value falls in (values beyond the domain take the end bins). */
export function binOf(value, quantity, scale) {
  if (value === null || value === undefined || Number.isNaN(value)) return -1;
  if (quantity.kind === "binary") return value >= 0.5 ? 1 : 0;
  const span = scale.high - scale.low;
  const i = Math.floor(((value - scale.low) / (span > 0 ? span : 1)) * BINS);
  return Math.min(BINS - 1, Math.max(0, i));
}

/** Token text made visible: spaces as they are, newlines and tabs as symbols plus a break. */
function shown(text) {
  if (text === "") return "∅";
  return text.replace(/\t/g, "⇥").replace(/\r?\n/g, "↵\n");
}

function tooltip(view, t, quantity) {
  const value = view.values[quantity.key]?.[t];
  const next = t + 1 < view.tokens.length ? view.tokens[t + 1] : null;
  const top = view.topk[t] || [];
  const sampled = view.sampled.find((c) => c.position === t);
  const parts = [
    h("div", { class: "tt-head" },
      h("code", { class: "tt-token", text: JSON.stringify(view.tokens[t]) }),
      h("span", { class: "muted", text: ` position ${t} · id ${view.token_ids[t]}` })),
    h("div", { class: "tt-value", text: `${quantity.label}: ${value === null || value === undefined
      ? (quantity.sampled_only ? "not a sampled context" : "—") : fmt(value)}`
      + (quantity.unit && value !== null && value !== undefined ? ` ${quantity.unit}` : "") }),
  ];
  if (top.length) {
    const total = top.reduce((s, x) => s + x.prob, 0);
    parts.push(h("div", { class: "tt-section", text: "Model's top-5 next tokens" }),
      h("table", { class: "tt-top" }, h("tbody", {}, top.map((x) => h("tr", {
        class: next !== null && x.id === view.token_ids[t + 1] ? "actual" : "",
      },
      h("td", {}, h("code", { text: JSON.stringify(x.text) })),
      h("td", { class: "num", text: fmt(x.prob, 4) }),
      h("td", { class: "bar-cell" }, h("span", { class: "pbar", dataset: { p: x.prob } })))))),
      h("div", { class: "muted small", text: `top-5 mass ${fmt(total, 4)}; `
        + (next === null ? "last token of the window"
          : `next token ${JSON.stringify(next)}${top.some((x) => x.id === view.token_ids[t + 1])
            ? " (highlighted)" : " is not in the top-5"}`) }));
  } else if (next === null) {
    parts.push(h("div", { class: "muted small", text: "Last token of the window: no prediction "
      + "inside it." }));
  }
  if (sampled) {
    parts.push(h("div", { class: "tt-section", text: `Sampled context (${sampled.split} split): `
      + "logit lens top-1 by layer" }),
    h("table", { class: "tt-lens" }, h("tbody", {}, sampled.lens_top1.map((p) => h("tr", {},
      h("th", { scope: "row", text: `layer ${p.layer}` }),
      h("td", {}, h("code", { text: JSON.stringify(p.text) })),
      h("td", { class: "num", text: p.prob === null ? "—" : fmt(p.prob, 3) }))))));
  }
  return parts;
}

/** The legend of quantity `q`: title and "?" link, one swatch per bin, the scale's range. */
function legendContent(q, scale, bins, defined) {
  return [
    h("span", { class: "legend-title" }, `${q.label}${q.unit ? ` (${q.unit})` : ""} `,
      h("a", { href: `/methods#${q.help}`, class: "help", title: q.description, text: "?",
        "aria-label": `How ${q.label} is computed` })),
    h("ul", { class: "swatches" }, bins.map((b, i) => h("li", { dataset: { bin: i,
      lo: b.lo, hi: b.hi } }, h("span", { class: "swatch", dataset: { colour: b.colour } }),
    h("span", { text: b.label }))),
    h("li", { dataset: { bin: -1 } }, h("span", { class: "swatch none" }),
      h("span", { text: q.sampled_only ? "not a sampled context" : "no prediction" }))),
    h("p", { class: "muted small", text: `${q.description} Scale: ${fmt(scale.low)} to `
      + `${fmt(scale.high)} over every window of this result`
      + `${q.kind === "binary" ? "" : " (1st–99th percentile; beyond it, the end colours)"}.`
      + (q.sampled_only ? ` ${defined.length} sampled context(s) in this window.` : "") }),
  ];
}

/** One span per token of the window, coloured by its bin of quantity `q`. */
function tokenSpans(view, q, scale, bins, values) {
  const sampled = new Set(view.sampled.map((c) => c.position));
  return view.tokens.map((tok, t) => {
    const v = values[t];
    const bin = binOf(v, q, scale);
    const span = h("span", {
      class: `tok${bin < 0 ? " na" : ""}${sampled.has(t) ? " sampled" : ""}`,
      tabindex: t === 0 ? "0" : "-1", // one tab stop; arrow keys move between tokens
      dataset: { position: t, bin, value: v === null || v === undefined ? "" : v },
      text: shown(tok),
    });
    if (bin >= 0) {
      const colour = bins[bin].colour;
      span.style.backgroundColor = colour;
      if (DARK.has(colour)) span.classList.add("on-dark");
    }
    return span;
  });
}

/** The chosen quantity of the tab's state `s` (the first when none is chosen). */
const quantityOf = (s) => s.view.quantities.find((q) => q.key === s.quantitySelect.value)
  || s.view.quantities[0];

const fillQuantities = (s) => replace(s.quantitySelect, s.view.quantities.map((q) => h(
  "option", { value: q.key, text: q.label })));

/** The card of the token `span`: top-5 next tokens and the lens, below the token. */
function showTip(s, span) {
  const { tip, text } = s;
  const t = Number(span.dataset.position);
  replace(tip, tooltip(s.view, t, quantityOf(s)));
  for (const bar of tip.querySelectorAll(".pbar")) {
    bar.style.width = `${Math.max(1, Math.round(Number(bar.dataset.p) * 60))}px`;
  }
  tip.hidden = false;
  tip.dataset.position = String(t);
  // Below the token, kept inside the text box.
  const box = text.getBoundingClientRect();
  const r = span.getBoundingClientRect();
  tip.style.left = `${Math.max(0, Math.min(r.left - box.left, box.width - 320))}px`;
  tip.style.top = `${r.bottom - box.top + text.scrollTop + 4}px`;
}

/** Legend, coloured text, the pinned card and the notes of the current window and quantity. */
function draw(s) {
  const q = quantityOf(s);
  const scale = s.view.scales[q.key];
  const bins = legendBins(q, scale);
  const values = s.view.values[q.key] || [];
  const defined = values.filter((v) => v !== null && v !== undefined);
  replace(s.legend, ...legendContent(q, scale, bins, defined));
  for (const sw of s.legend.querySelectorAll(".swatch[data-colour]")) {
    sw.style.backgroundColor = sw.dataset.colour;
  }
  replace(s.text, tokenSpans(s.view, q, scale, bins, values));
  if (s.pinned !== null) {
    const span = s.text.querySelector(`[data-position="${s.pinned}"]`);
    if (span) showTip(s, span);
  }
  replace(s.notes, s.view.notes.map((n) => h("li", { text: n })));
  s.panel.dataset.window = String(s.view.window);
  s.panel.dataset.quantity = q.key;
}

/** Show window `w` (clamped to the result's windows), keeping the chosen quantity. */
async function load(s, w) {
  const n = Math.max(0, Math.min(s.view.num_windows - 1, Math.trunc(Number(w) || 0)));
  s.windowInput.value = String(n);
  if (n === s.view.window) return;
  const keep = s.quantitySelect.value;
  try {
    s.view = await api.tokens(s.resultId, n);
    replace(s.status);
  } catch (err) {
    replace(s.status, message(`Could not load window ${n}: ${err.message}`, "error"));
    return;
  }
  fillQuantities(s);
  if (s.view.quantities.some((q) => q.key === keep)) s.quantitySelect.value = keep;
  s.pinned = null;
  s.tip.hidden = true;
  draw(s);
}

/** Hover, focus and click show a token's card (click pins it); arrow keys move between tokens. */
function wireText(s) {
  const { text, tip } = s;
  const tokenOf = (e) => e.target.closest?.(".tok");
  text.addEventListener("mouseover", (e) => {
    const span = tokenOf(e);
    if (span && s.pinned === null) showTip(s, span);
  });
  text.addEventListener("focusin", (e) => {
    const span = tokenOf(e);
    if (span) showTip(s, span);
  });
  text.addEventListener("mouseleave", () => {
    if (s.pinned === null) tip.hidden = true;
  });
  text.addEventListener("click", (e) => {
    const span = tokenOf(e);
    if (!span) return;
    const t = Number(span.dataset.position);
    s.pinned = s.pinned === t ? null : t;
    showTip(s, span);
  });
  text.addEventListener("keydown", (e) => {
    const span = tokenOf(e);
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity }[e.key];
    if (!span || step === undefined) return;
    e.preventDefault();
    const all = text.querySelectorAll(".tok");
    const t = Math.max(0, Math.min(all.length - 1, Number(span.dataset.position) + step));
    span.tabIndex = -1;
    all[t].tabIndex = 0;
    all[t].focus();
  });
}

/** The window and quantity controls. */
function toolbar(s) {
  s.quantitySelect.addEventListener("change", () => {
    draw(s);
    // An open card shows the chosen quantity: redraw it for its token (it went stale before).
    const open = s.tip.hidden ? null
      : s.text.querySelector(`.tok[data-position="${s.tip.dataset.position}"]`);
    if (open) showTip(s, open);
  });
  s.windowInput.addEventListener("change", () => load(s, s.windowInput.value));
  const prev = h("button", { type: "button", class: "small", text: "◀ Previous",
    onclick: () => load(s, s.view.window - 1) });
  const next = h("button", { type: "button", class: "small", text: "Next ▶",
    onclick: () => load(s, s.view.window + 1) });
  return h("div", { class: "toolbar" },
    h("label", { for: "tokens-window", text: "Window" }), s.windowInput,
    h("span", { class: "muted", id: "tokens-count", text: `of 0–${s.view.num_windows - 1} `
      + `(${s.view.window_len} tokens each)` }), prev, next,
    h("label", { for: "tokens-quantity", text: "Colour by" }), s.quantitySelect);
}

/** Render the Tokens tab for result `resultId` into `panel`. */
export async function renderTokens(panel, resultId) {
  panel.append(h("p", { class: "lede", text: "The text of one analysed window. Each token is "
    + "coloured by the prediction the model makes after reading it (of the token that "
    + "follows); hover, click or focus a token (arrow keys move) for the model's top-5 next "
    + "tokens and, at the sampled contexts (underlined), the logit lens's top-1 by layer." }));
  const status = h("div", { id: "tokens-status", "aria-live": "polite" });
  const body = h("div", { id: "tokens-body" });
  panel.append(status, body);
  let view;
  try {
    view = await api.tokens(resultId, 0);
  } catch (err) {
    replace(status, message(`Token view unavailable: ${err.message}`, err.status === 404
      ? "info" : "error"));
    panel.dataset.ready = "true";
    return;
  }
  // The tab's state: the current window's view, the pinned token, and the elements.
  const s = {
    view, resultId, panel, status, pinned: null,
    windowInput: h("input", { type: "number", id: "tokens-window", min: 0,
      max: view.num_windows - 1, step: 1, value: 0, inputmode: "numeric" }),
    quantitySelect: h("select", { id: "tokens-quantity" }),
    legend: h("div", { class: "token-legend", id: "tokens-legend" }),
    text: h("div", { class: "token-text", id: "token-text", lang: "" }),
    tip: h("div", { class: "token-tip", id: "token-tip", role: "tooltip", hidden: true }),
    notes: h("ul", { class: "notes" }),
  };
  fillQuantities(s);
  wireText(s);
  replace(body, toolbar(s), s.legend, h("div", { class: "token-box" }, s.text, s.tip), s.notes);
  draw(s);
  panel.dataset.ready = "true";
}

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
  const windowInput = h("input", { type: "number", id: "tokens-window", min: 0,
    max: view.num_windows - 1, step: 1, value: 0, inputmode: "numeric" });
  const quantitySelect = h("select", { id: "tokens-quantity" });
  const fill = () => replace(quantitySelect, view.quantities.map((q) => h("option", {
    value: q.key, text: q.label })));
  fill();
  const legend = h("div", { class: "token-legend", id: "tokens-legend" });
  const text = h("div", { class: "token-text", id: "token-text", lang: "" });
  const tip = h("div", { class: "token-tip", id: "token-tip", role: "tooltip", hidden: true });
  const notes = h("ul", { class: "notes" });
  let pinned = null;

  const quantity = () => view.quantities.find((q) => q.key === quantitySelect.value)
    || view.quantities[0];

  function showTip(span) {
    const t = Number(span.dataset.position);
    replace(tip, tooltip(view, t, quantity()));
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

  function draw() {
    const q = quantity();
    const scale = view.scales[q.key];
    const bins = legendBins(q, scale);
    const values = view.values[q.key] || [];
    const defined = values.filter((v) => v !== null && v !== undefined);
    replace(legend,
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
        + (q.sampled_only ? ` ${defined.length} sampled context(s) in this window.` : "") }));
    for (const sw of legend.querySelectorAll(".swatch[data-colour]")) {
      sw.style.backgroundColor = sw.dataset.colour;
    }
    const sampled = new Set(view.sampled.map((c) => c.position));
    replace(text, view.tokens.map((tok, t) => {
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
    }));
    if (pinned !== null) {
      const span = text.querySelector(`[data-position="${pinned}"]`);
      if (span) showTip(span);
    }
    replace(notes, view.notes.map((n) => h("li", { text: n })));
    panel.dataset.window = String(view.window);
    panel.dataset.quantity = q.key;
  }

  async function load(w) {
    const n = Math.max(0, Math.min(view.num_windows - 1, Math.trunc(Number(w) || 0)));
    windowInput.value = String(n);
    if (n === view.window) return;
    const keep = quantitySelect.value;
    try {
      view = await api.tokens(resultId, n);
      replace(status);
    } catch (err) {
      replace(status, message(`Could not load window ${n}: ${err.message}`, "error"));
      return;
    }
    fill();
    if (view.quantities.some((q) => q.key === keep)) quantitySelect.value = keep;
    pinned = null;
    tip.hidden = true;
    draw();
  }

  text.addEventListener("mouseover", (e) => {
    const span = e.target.closest?.(".tok");
    if (span && pinned === null) showTip(span);
  });
  text.addEventListener("focusin", (e) => {
    const span = e.target.closest?.(".tok");
    if (span) showTip(span);
  });
  text.addEventListener("mouseleave", () => {
    if (pinned === null) tip.hidden = true;
  });
  text.addEventListener("click", (e) => {
    const span = e.target.closest?.(".tok");
    if (!span) return;
    const t = Number(span.dataset.position);
    pinned = pinned === t ? null : t;
    showTip(span);
  });
  text.addEventListener("keydown", (e) => {
    const span = e.target.closest?.(".tok");
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity }[e.key];
    if (!span || step === undefined) return;
    e.preventDefault();
    const all = text.querySelectorAll(".tok");
    const t = Math.max(0, Math.min(all.length - 1, Number(span.dataset.position) + step));
    span.tabIndex = -1;
    all[t].tabIndex = 0;
    all[t].focus();
  });
  quantitySelect.addEventListener("change", () => {
    draw();
    // An open card shows the chosen quantity: redraw it for its token (it went stale before).
    const open = tip.hidden ? null : text.querySelector(`.tok[data-position="${tip.dataset.position}"]`);
    if (open) showTip(open);
  });
  windowInput.addEventListener("change", () => load(windowInput.value));
  const prev = h("button", { type: "button", class: "small", text: "◀ Previous",
    onclick: () => load(view.window - 1) });
  const next = h("button", { type: "button", class: "small", text: "Next ▶",
    onclick: () => load(view.window + 1) });

  replace(body,
    h("div", { class: "toolbar" },
      h("label", { for: "tokens-window", text: "Window" }), windowInput,
      h("span", { class: "muted", id: "tokens-count", text: `of 0–${view.num_windows - 1} `
        + `(${view.window_len} tokens each)` }), prev, next,
      h("label", { for: "tokens-quantity", text: "Colour by" }), quantitySelect),
    legend,
    h("div", { class: "token-box" }, text, tip),
    notes);
  draw();
  panel.dataset.ready = "true";
}

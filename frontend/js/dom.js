// Safe DOM building: every piece of data goes in through textContent or a property, never HTML.

/**
 * Create an element. `attrs` keys: "class", "text", "on<Event>" handlers, "dataset", booleans and
 * strings as attributes. Children are nodes or strings (strings become text nodes).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const NUM = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });

/** A number for display: 4 significant digits, "—" when missing. */
export function fmt(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (digits !== undefined) return value.toFixed(digits);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return NUM.format(value);
}

/** "estimate [low, high]" for an Interval-like object. */
export function fmtInterval(iv) {
  if (!iv || typeof iv !== "object") return fmt(iv);
  return `${fmt(iv.estimate)} [${fmt(iv.low)}, ${fmt(iv.high)}]`;
}

/**
 * An estimate whose 95% interval does not clear zero (e.g. Surplus_K): "not detected", with
 * the upper bound that still holds when one is known.
 */
export function fmtNotDetected(upper) {
  return typeof upper === "number" && Number.isFinite(upper)
    ? `not detected (≤ ${fmt(upper)})` : "not detected";
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${fmt(v)} ${units[i]}`;
}

export function fmtCount(n) {
  if (n === null || n === undefined) return "—";
  if (n >= 1e9) return `${fmt(n / 1e9)}B`;
  if (n >= 1e6) return `${fmt(n / 1e6)}M`;
  if (n >= 1e3) return `${fmt(n / 1e3)}k`;
  return String(n);
}

export function fmtDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** The display name of a model: its label, else run name + step, else its source. */
export function modelName(model) {
  if (!model) return "?";
  if (model.label) return model.label;
  if (model.run_name && model.training_step !== null && model.training_step !== undefined) {
    return `${model.run_name} @ step ${model.training_step}`;
  }
  return model.source || `model ${model.id}`;
}

/** Trigger a browser download of `text` as a file. */
export function download(filename, text, mime) {
  const blob = new Blob([text], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A status message region; `kind` is "info" | "error". */
export function message(text, kind = "info") {
  return h("p", { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status", text });
}

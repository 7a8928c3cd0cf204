// Shared pieces of the section modules: value predicates, labels, trace builders and the
// scalar-row format ([label, value, unit?] with the result path it came from).

export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
export const isNumOrNull = (v) => v === null || typeof v === "number";
export const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
export const arr = (v) => (Array.isArray(v) ? v : []);
export const isInterval = (v) => isObj(v) && isNum(v.estimate) && "low" in v && "high" in v;
export const isNumArray = (v) =>
  Array.isArray(v) && v.length > 0 && v.every(isNumOrNull) && v.some(isNum);
export const isIntervalArray = (v) => Array.isArray(v) && v.length > 0 && v.every(isInterval);
export const isCurve = (v) =>
  isObj(v) && isNumArray(v.mean) && (isNumArray(v.positions) || isNumArray(v.x));

/** The estimate of an Interval or a plain number; null otherwise. */
export const est = (iv) => (isInterval(iv) ? iv.estimate : typeof iv === "number" ? iv : null);

/** Safe nested get: get(obj, "a.b.c"). */
export function get(obj, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

/** JSON turns int dict keys into strings: [[K, value], ...] sorted by K. */
export const byNumKey = (obj) => (isObj(obj)
  ? Object.entries(obj).map(([k, v]) => [Number(k), v]).filter(([k]) => Number.isFinite(k))
    .sort((a, b) => a[0] - b[0])
  : []);

/** 1..n, the x of a spectrum. */
export const idx = (values) => values.map((_, i) => i + 1);

export function humanize(key) {
  const words = String(key)
    .replace(/_/g, " ")
    .replace(/\bnll\b/gi, "NLL")
    .replace(/\bkl\b/gi, "KL")
    .replace(/\bcca\b/gi, "CCA")
    .replace(/\bece\b/gi, "ECE")
    .replace(/\bce\b/gi, "CE")
    .replace(/\bk(\d)\b/gi, "K=$1")
    .replace(/\ba rand\b/gi, "A_rand")
    .replace(/\br2\b/gi, "R²");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The role of a series, for styling: exact values, bounds and chance baselines look different. */
export function roleOf(name) {
  const n = String(name).toLowerCase();
  if (/exact|true|ideal|oracle|theory/.test(n)) return "exact";
  if (/bound|upper|max_possible|ceiling/.test(n)) return "bound";
  if (/rand|chance|baseline|random/.test(n)) return "baseline";
  return "estimate";
}

/**
 * A scalar row: [label, value] or [label, value, unit] (unit given where the value is display
 * text, or the schema's unit would be wrong for it). `path` (not an array element, so rows
 * compare as plain pairs) is the result path whose unit and help the table shows.
 */
export function row(label, value, path, unit) {
  const r = unit === undefined ? [label, value] : [label, value, unit];
  Object.defineProperty(r, "path", { value: path ?? null, enumerable: false });
  return r;
}

/** An Interval series: estimates with their 95% band. */
export function ivTrace(name, x, ivs, extra = {}) {
  return {
    name, x, y: ivs.map(est),
    low: ivs.map((v) => (isInterval(v) ? v.low : null)),
    high: ivs.map((v) => (isInterval(v) ? v.high : null)), role: "estimate", ...extra,
  };
}

export const nonEmpty = (spec) =>
  spec.traces.some((t) => t.y.some((v) => v !== null && v !== undefined));

/**
 * The y axis of a walked chart: scaled to its estimates (bounds and baselines become edge
 * markers when far off), plain decimals on fractions, major ticks on log axes (charts.js).
 */
export function yAxis(title, log = false) {
  if (log) return { title, log: true };
  return { title, rangeFrom: "estimates", ...(/^fraction/.test(title) ? { fraction: true } : {}) };
}

/** A band chart of position curves: [[name, curve], ...]. */
export function curveSpec(id, title, named, yTitle = "nats") {
  return {
    id, title, note: "Shaded: 95% bootstrap band over windows.",
    x: { title: "context position t (tokens)" }, y: { title: yTitle },
    traces: named.filter(([, c]) => isCurve(c)).map(([name, c]) => ({
      name, x: c.positions || c.x, y: c.mean, low: c.low, high: c.high, role: roleOf(name),
    })),
  };
}

export function fmtNum(v) {
  return isNum(v) ? v.toPrecision(3) : "—";
}

// The generic walker: charts and scalar rows for any result field no section module claims, so
// a new field shows up before anyone writes a chart for it. Structure decides the chart (a
// position curve, an Interval, a series over layers / K / offsets / eigen-index, a dict of
// spectra); the server's schema gives the units (units.js). Missing fields never throw.

import { unitAt, unitLabelAt } from "../units.js";
import {
  humanize, isCurve, isInterval, isIntervalArray, isNum, isNumArray, isObj, roleOf, row,
  curveSpec, yAxis,
} from "./common.js";

const X_KEYS = [
  ["layer", "layer ℓ (0 = embeddings)"], ["layers", "layer ℓ (0 = embeddings)"],
  ["k", "K (tokens predicted ahead)"], ["K", "K (tokens predicted ahead)"],
  ["ks", "K (tokens predicted ahead)"], ["j", "offset j (tokens ahead)"],
  ["offset", "offset j (tokens ahead)"], ["offsets", "offset j (tokens ahead)"],
  ["position", "context position t (tokens)"], ["positions", "context position t (tokens)"],
  ["step", "training step"], ["steps", "training step"],
  ["rank", "eigenvalue index i"], ["index", "index i"], ["bin", "bin"],
  ["bin_center", "bin centre"], ["bin_centers", "bin centre"], ["eigenvalue", "eigenvalue λ_i"],
  ["eigenvalues", "eigenvalue λ_i"],
];

function seriesFrom(name, values, x) {
  if (isIntervalArray(values)) {
    return {
      name, x, y: values.map((v) => v.estimate),
      low: values.map((v) => v.low), high: values.map((v) => v.high), role: roleOf(name),
    };
  }
  return { name, x, y: values, role: roleOf(name) };
}

/** Eigenvalue spectra are drawn log–log. */
const isSpectrum = (path) => unitAt(path) === "eigenvalue";

/** Scalar row of a walked value: its label is its path, as is the path of its unit. */
const walkedRow = (path, value) => row(path, value, path);

/**
 * Structural walk: append specs for every chartable thing in `value` and scalar rows
 * ([path, value]) for every number, string, boolean or Interval. `path` is the dotted result
 * path of `value` (chart ids and unit look-ups use it).
 */
export function autoSpecs(value, path, specs, scalars, title) {
  const label = title || humanize(path.split(".").pop());
  if (value === null || value === undefined) return;
  if (isNum(value) || typeof value === "string" || typeof value === "boolean"
    || isInterval(value)) {
    scalars.push(walkedRow(path, value));
    return;
  }
  if (isCurve(value)) {
    specs.push(curveSpec(path, label, [["estimate", value]], unitLabelAt(path)));
    return;
  }
  if (isNumArray(value) || isIntervalArray(value)) {
    seriesSpec(value, path, specs, scalars, label);
    return;
  }
  if (Array.isArray(value)) {
    arraySpecs(value, path, specs, scalars, label);
    return;
  }
  if (isObj(value)) objectSpecs(value, path, specs, scalars, label);
}

function seriesSpec(values, path, specs, scalars, label) {
  if (values.length === 1) {
    scalars.push(walkedRow(path, values[0]));
    return;
  }
  const spectral = isSpectrum(path);
  specs.push({
    id: path, title: label,
    x: { title: spectral ? "index i (log)" : "index i", log: spectral },
    y: yAxis(unitLabelAt(path), spectral),
    traces: [seriesFrom(label, values, values.map((_, i) => i + 1))],
  });
}

function xKeyOf(obj, arrays) {
  for (const [key, title] of X_KEYS) {
    const v = obj[key];
    if (arrays ? isNumArray(v) : isNum(v)) return [key, title];
  }
  return null;
}

/** Push `trace` into the list of its unit (one chart per unit). */
function addByUnit(byUnit, unit, trace) {
  if (!byUnit.has(unit)) byUnit.set(unit, []);
  byUnit.get(unit).push(trace);
}

/** An object with an x array (e.g. layers) and series of its length: one chart per unit. */
function seriesObjectSpecs(obj, path, specs, scalars, label, [xKey, xTitle]) {
  const x = obj[xKey];
  const byUnit = new Map();
  for (const [key, v] of Object.entries(obj)) {
    if (key === xKey) continue;
    const at = `${path}.${key}`;
    if ((isNumArray(v) || isIntervalArray(v)) && v.length === x.length) {
      addByUnit(byUnit, unitLabelAt(at), seriesFrom(humanize(key), v, x));
    } else if (isObj(v) && Object.keys(v).length > 0
        && Object.values(v).every((s) => isNumArray(s) && s.length === x.length)) {
      // {kernel: [per-x values]} -> one chart, one trace per entry.
      specs.push({
        id: at, title: `${label}: ${humanize(key)}`, x: { title: xTitle },
        y: yAxis(unitLabelAt(at)),
        traces: Object.entries(v).map(([name, s]) => seriesFrom(name, s, x)),
      });
    } else {
      autoSpecs(v, at, specs, scalars);
    }
  }
  for (const [unit, traces] of byUnit) {
    const only = traces.length === 1 ? `: ${traces[0].name}` : "";
    specs.push({
      id: `${path}[${unit}]`, title: `${label}${only}`,
      x: { title: xTitle, log: /eigen/.test(xKey) }, y: yAxis(unit), traces,
    });
  }
}

function objectSpecs(obj, path, specs, scalars, label) {
  const xk = xKeyOf(obj, true);
  if (xk) {
    seriesObjectSpecs(obj, path, specs, scalars, label, xk);
    return;
  }
  const entries = Object.entries(obj);
  // A dict of spectra / series (e.g. {"data/lin": [...], "model/bc": [...]}): one chart.
  const series = entries.filter(([, v]) => isNumArray(v) && v.length > 1);
  const others = entries.filter(([, v]) => !isNum(v) && typeof v !== "string");
  if (series.length > 1 && series.length === others.length) {
    const spectral = isSpectrum(path) || series.every(([k]) => isSpectrum(`${path}.${k}`));
    specs.push({
      id: path, title: label,
      x: { title: spectral ? "index i (log)" : "index i", log: spectral },
      y: yAxis(spectral ? "eigenvalue (log)" : unitLabelAt(path), spectral),
      traces: series.map(([k, v]) => seriesFrom(humanize(k), v, v.map((_, i) => i + 1))),
    });
    for (const [k, v] of entries) {
      if (!series.some(([s]) => s === k)) autoSpecs(v, `${path}.${k}`, specs, scalars);
    }
    return;
  }
  for (const [k, v] of entries) autoSpecs(v, `${path}.${k}`, specs, scalars);
}

function groupName(item) {
  return Object.entries(item)
    .filter(([, v]) => typeof v === "string")
    .map(([, v]) => v)
    .join(" / ");
}

/** Rows with a numeric x (layer, j…): grouped by their string fields, one chart per unit. */
function rowSeriesSpecs(items, path, specs, label, [xKey, xTitle]) {
  const groups = new Map();
  for (const it of items) {
    const g = groupName(it);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(it);
  }
  const byUnit = new Map();
  for (const key of Object.keys(items[0]).filter((k) => k !== xKey)) {
    const at = `${path}.0.${key}`;
    const sample = items.find((it) => it[key] !== null && it[key] !== undefined)?.[key];
    if (isNum(sample) || isInterval(sample)) {
      for (const [g, rows] of groups) {
        const x = rows.map((r) => r[xKey]);
        const vals = rows.map((r) => r[key]);
        const name = g ? `${g}: ${humanize(key)}` : humanize(key);
        addByUnit(byUnit, unitLabelAt(at), vals.every(isInterval)
          ? seriesFrom(name, vals, x)
          : { name, x, y: vals.map((v) => (isInterval(v) ? v.estimate : v)), role: roleOf(key) });
      }
    } else if (isNumArray(sample) && sample.length > 1) {
      // A spectrum per row: one chart with a trace per row.
      specs.push({
        id: `${path}.${key}`, title: `${label}: ${humanize(key)}`,
        x: { title: "index i (log)", log: true },
        y: yAxis(`${unitLabelAt(at)} (log)`.trim(), true),
        traces: items.filter((it) => isNumArray(it[key])).map((it) => ({
          name: `${groupName(it)} ${xKey} ${it[xKey]}`.trim(),
          x: it[key].map((_, i) => i + 1), y: it[key], role: "estimate",
        })),
      });
    }
  }
  for (const [unit, traces] of byUnit) {
    if (traces.length > 12) traces.splice(12); // keep charts legible
    specs.push({
      id: `${path}[${unit}]`, title: traces.length === 1 ? `${label}: ${traces[0].name}` : label,
      x: { title: xTitle }, y: yAxis(unit), traces,
    });
  }
}

function arraySpecs(items, path, specs, scalars, label) {
  if (!items.every(isObj) || items.length === 0) return;
  const xk = xKeyOf(items[0], false);
  if (xk && items.every((it) => isNum(it[xk[0]]))) {
    rowSeriesSpecs(items, path, specs, label, xk);
    return;
  }
  // Rows without an x: each row is a named block (e.g. one kernel) - walk it under its name.
  items.forEach((it, i) => {
    const name = groupName(it) || String(i);
    objectSpecs(it, `${path}.${name}`, specs, scalars, `${label} (${name})`);
  });
}

/**
 * Walk every field of `section` (at result path `key`) that `claimed` does not name: what no
 * section module draws still shows.
 */
export function walkUnclaimed(section, key, claimed, specs, scalars) {
  if (!isObj(section)) return;
  for (const [k, v] of Object.entries(section)) {
    if (!claimed.has(k)) autoSpecs(v, `${key}.${k}`, specs, scalars);
  }
}

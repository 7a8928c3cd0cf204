// Result JSON -> chart specs and scalar rows.
//
// The result schema grows section by section (entropy, lens, surplus, spectral, exact), so the
// known charts are built by name and everything else is found structurally: a position curve,
// an Interval, a series over layers / K / offsets / eigen-index, a dict of spectra. Missing
// fields never throw: they simply produce no chart.

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v) => v === null || typeof v === "number";
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
export const isInterval = (v) => isObj(v) && isNum(v.estimate) && "low" in v && "high" in v;
const isNumArray = (v) =>
  Array.isArray(v) && v.length > 0 && v.every(isNumOrNull) && v.some(isNum);
const isIntervalArray = (v) => Array.isArray(v) && v.length > 0 && v.every(isInterval);
const isCurve = (v) =>
  isObj(v) && isNumArray(v.mean) && (isNumArray(v.positions) || isNumArray(v.x));

/** Safe nested get: get(obj, "a.b.c"). */
export function get(obj, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

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

/** Units of a quantity, guessed from its name (storage is nats throughout). */
export function unitOf(name) {
  const n = String(name).toLowerCase();
  if (/second/.test(n)) return "seconds";
  if (/\bece\b/.test(n)) return "fraction (0–1)";
  if (/context|count|windows|tokens\b|layer$|passed|source/.test(n)) return "";
  if (/relative.error|tolerance/.test(n)) return "relative error";
  if (/lift/.test(n)) return "lift = A / A_rand (1 = chance)";
  if (/perplexity/.test(n)) return "perplexity (e^nats)";
  if (/eigen|spectrum|lambda|singular|fisher/.test(n)) return "eigenvalue";
  if (/effective.rank|participation|rank/.test(n)) return "dimensions";
  if (/corr|cca|r2|capture|acc|agreement|alignment|^a$|a_rand|fraction|hit|confidence|mass|cos/
    .test(n)) return "fraction (0–1)";
  if (/accepted.length|length/.test(n)) return "tokens";
  if (/alpha|slope/.test(n)) return "power-law exponent";
  if (/energy/.test(n)) return "normalised energy";
  if (/nll|entropy|kl|surplus|information|term|ce|bound|nats|gap|loss/.test(n)) return "nats";
  return "value";
}

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

/** The role of a series, for styling: exact values, bounds and chance baselines look different. */
export function roleOf(name) {
  const n = String(name).toLowerCase();
  if (/exact|true|ideal|oracle|theory/.test(n)) return "exact";
  if (/bound|upper|max_possible|ceiling/.test(n)) return "bound";
  if (/rand|chance|baseline|random/.test(n)) return "baseline";
  return "estimate";
}

function seriesFrom(name, values, x) {
  if (isIntervalArray(values)) {
    return {
      name, x, y: values.map((v) => v.estimate),
      low: values.map((v) => v.low), high: values.map((v) => v.high), role: roleOf(name),
    };
  }
  return { name, x, y: values, role: roleOf(name) };
}

/**
 * The y axis of a walked chart: scaled to its estimates (bounds and baselines become edge
 * markers when far off), plain decimals on fractions, major ticks on log axes (charts.js).
 */
export function yAxis(title, log = false) {
  if (log) return { title, log: true };
  return { title, rangeFrom: "estimates", ...(/^fraction/.test(title) ? { fraction: true } : {}) };
}

function isSpectral(path) {
  return /eigen|spectrum|spectra|singular|lambda|fisher|capture/.test(path.toLowerCase());
}

/**
 * Structural walk: append specs for every chartable thing in `value` and scalar rows
 * ([path, value]) for every number or Interval. `path` is a dotted name used as chart id.
 */
export function autoSpecs(value, path, specs, scalars, title) {
  const label = title || humanize(path.split(".").pop());
  if (value === null || value === undefined) return;
  if (isNum(value) || typeof value === "string" || typeof value === "boolean") {
    scalars.push([path, value]);
    return;
  }
  if (isInterval(value)) {
    scalars.push([path, value]);
    return;
  }
  if (isCurve(value)) {
    specs.push(curveSpec(path, label, [["estimate", value]]));
    return;
  }
  if (isNumArray(value) || isIntervalArray(value)) {
    if (value.length === 1) {
      scalars.push([path, value[0]]);
      return;
    }
    const x = value.map((_, i) => i + 1);
    const spectral = isSpectral(path);
    specs.push({
      id: path, title: label,
      x: { title: spectral ? "index i (log)" : "index i", log: spectral },
      y: yAxis(unitOf(path), spectral),
      traces: [seriesFrom(label, value, x)],
    });
    return;
  }
  if (Array.isArray(value)) {
    arraySpecs(value, path, specs, scalars, label);
    return;
  }
  if (isObj(value)) objectSpecs(value, path, specs, scalars, label);
}

function xKeyOf(obj, arrays) {
  for (const [key, title] of X_KEYS) {
    const v = obj[key];
    if (arrays ? isNumArray(v) : isNum(v)) return [key, title];
  }
  return null;
}

function objectSpecs(obj, path, specs, scalars, label) {
  const xk = xKeyOf(obj, true);
  if (xk) {
    const [xKey, xTitle] = xk;
    const x = obj[xKey];
    // Series of the same length as x share a chart per unit; everything else is walked.
    const byUnit = new Map();
    for (const [key, v] of Object.entries(obj)) {
      if (key === xKey) continue;
      if ((isNumArray(v) || isIntervalArray(v)) && v.length === x.length) {
        const unit = unitOf(key);
        if (!byUnit.has(unit)) byUnit.set(unit, []);
        byUnit.get(unit).push(seriesFrom(humanize(key), v, x));
      } else if (isObj(v) && Object.values(v).every((s) => isNumArray(s) && s.length === x.length)
          && Object.keys(v).length > 0) {
        // {kernel: [per-x values]} -> one chart, one trace per entry.
        specs.push({
          id: `${path}.${key}`, title: `${label}: ${humanize(key)}`,
          x: { title: xTitle }, y: yAxis(unitOf(key)),
          traces: Object.entries(v).map(([name, s]) => seriesFrom(name, s, x)),
        });
      } else {
        autoSpecs(v, `${path}.${key}`, specs, scalars);
      }
    }
    for (const [unit, traces] of byUnit) {
      const only = traces.length === 1 ? `: ${traces[0].name}` : "";
      specs.push({
        id: `${path}[${unit}]`, title: `${label}${only}`,
        x: { title: xTitle, log: /eigen/.test(xKey) }, y: yAxis(unit), traces,
      });
    }
    return;
  }
  const entries = Object.entries(obj);
  // A dict of spectra / series (e.g. {"data/lin": [...], "model/bc": [...]}): one chart.
  const seriesEntries = entries.filter(([, v]) => isNumArray(v) && v.length > 1);
  if (seriesEntries.length > 1 && seriesEntries.length === entries.filter(([, v]) =>
    !isNum(v) && typeof v !== "string").length) {
    const spectral = isSpectral(path) || seriesEntries.every(([k]) => isSpectral(k));
    specs.push({
      id: path, title: label,
      x: { title: spectral ? "index i (log)" : "index i", log: spectral },
      y: yAxis(spectral ? "eigenvalue (log)" : unitOf(path), spectral),
      traces: seriesEntries.map(([k, v]) => seriesFrom(humanize(k), v, v.map((_, i) => i + 1))),
    });
    for (const [k, v] of entries) if (!seriesEntries.some(([s]) => s === k)) {
      autoSpecs(v, `${path}.${k}`, specs, scalars);
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

function arraySpecs(items, path, specs, scalars, label) {
  if (!items.every(isObj) || items.length === 0) return;
  const xk = xKeyOf(items[0], false);
  if (xk && items.every((it) => isNum(it[xk[0]]))) {
    const [xKey, xTitle] = xk;
    // Group rows by their string fields (kernel, side…), one trace per group and per quantity.
    const groups = new Map();
    for (const it of items) {
      const g = groupName(it);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(it);
    }
    const keys = Object.keys(items[0]).filter((k) => k !== xKey);
    const byUnit = new Map();
    for (const key of keys) {
      const sample = items.find((it) => it[key] !== null && it[key] !== undefined)?.[key];
      if (isNum(sample) || isInterval(sample)) {
        const unit = unitOf(key);
        if (!byUnit.has(unit)) byUnit.set(unit, []);
        for (const [g, rows] of groups) {
          const x = rows.map((r) => r[xKey]);
          const vals = rows.map((r) => r[key]);
          const name = g ? `${g}: ${humanize(key)}` : humanize(key);
          byUnit.get(unit).push(vals.every(isInterval)
            ? seriesFrom(name, vals, x)
            : { name, x, y: vals.map((v) => (isInterval(v) ? v.estimate : v)), role: roleOf(key) });
        }
      } else if (isNumArray(sample) && sample.length > 1) {
        // A spectrum per row: one chart with a trace per row.
        specs.push({
          id: `${path}.${key}`, title: `${label}: ${humanize(key)}`,
          x: { title: "index i (log)", log: true }, y: yAxis(`${unitOf(key)} (log)`, true),
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
    return;
  }
  // Rows without an x: each row is a named block (e.g. one kernel) - walk it under its name.
  items.forEach((it, i) => {
    const name = groupName(it) || String(i);
    objectSpecs(it, `${path}.${name}`, specs, scalars, `${label} (${name})`);
  });
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

// ---------------------------------------------------------------- known sections, by tab

/** Headline numbers of a result (for tables and the compare page). */
export function headline(result) {
  const s = get(result, "entropy.summary") || {};
  const v = (x) => (isInterval(x) ? x.estimate : isNum(x) ? x : null);
  return {
    mean_nll: v(s.mean_nll),
    perplexity: v(s.perplexity),
    mean_entropy: v(s.mean_entropy),
    calibration_gap: v(s.calibration_gap),
    top1_accuracy: v(s.top1_accuracy),
  };
}

/** The y = x line over the range of both axes (reliability plots are drawn equal-aspect). */
const diag = (xs, ys = []) => {
  const finite = [...xs, ...ys].filter(isNum);
  if (finite.length === 0) return null;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return { name: "calibrated (y = x)", x: [lo, hi], y: [lo, hi], role: "bound",
    color: "#868e96" };
};

const KNOWN_ENTROPY = new Set(["summary", "nll_by_position", "entropy_by_position",
  "calibration", "entropy_reliability", "unigram_entropy"]);
const KNOWN_LENS = new Set(["layers", "fidelity", "unigram_entropy", "num_contexts",
  "architecture"]);

/** Specs and scalar rows for the Entropy tab (entropy suite, lens, exact comparison). */
export function entropySpecs(result) {
  const specs = [];
  const scalars = [];
  const missing = [];
  const ent = isObj(result?.entropy) ? result.entropy : {};
  const exact = isObj(result?.exact) ? result.exact : null;
  const curves = [["NLL (mean)", ent.nll_by_position], ["Entropy H(p) (mean)",
    ent.entropy_by_position]];
  if (exact && isCurve(exact.kl_by_position)) {
    curves.push(["exact: KL(p* ‖ p)", exact.kl_by_position]);
  }
  const posSpec = curveSpec("entropy.by_position", "NLL and entropy by context position",
    curves, "nats / token");
  posSpec.help = "nll";
  if (exact && isInterval(exact.mean_true_entropy) && posSpec.traces.length) {
    const xs = posSpec.traces[0].x;
    posSpec.traces.push({ name: "exact: mean H(p*) (data entropy)", x: [xs[0], xs[xs.length - 1]],
      y: [exact.mean_true_entropy.estimate, exact.mean_true_entropy.estimate], role: "exact" });
  }
  if (posSpec.traces.length) specs.push(posSpec);

  const rel = Array.isArray(ent.entropy_reliability) ? ent.entropy_reliability.filter(isObj) : [];
  if (rel.length) {
    const x = rel.map((b) => b.mean_x);
    const y = rel.map((b) => b.mean_y);
    specs.push({
      id: "entropy.reliability", title: "Entropy reliability: mean NLL per entropy bin",
      help: "reliability", equalAspect: true,
      note: "Equal-mass bins of the predicted entropy H(p_t); on the diagonal the model's "
        + "uncertainty matches its loss.",
      x: { title: "predicted entropy H(p_t) (nats)" }, y: { title: "mean NLL (nats)" },
      traces: [{ name: "mean NLL in bin", x, y }, diag(x, y)]
        .filter(Boolean),
    });
  }
  const cal = isObj(ent.calibration) ? ent.calibration : null;
  if (cal && Array.isArray(cal.bins) && cal.bins.length) {
    const x = cal.bins.map((b) => b.mean_x);
    const y = cal.bins.map((b) => b.mean_y);
    specs.push({
      id: "entropy.calibration", title: `Top-1 calibration (ECE ${fmtNum(cal.ece)})`,
      help: "calibration", equalAspect: true,
      note: "15 equal-mass bins of top-1 confidence against top-1 accuracy.",
      x: { title: "top-1 confidence (fraction)", fraction: true },
      y: { title: "top-1 accuracy (fraction)", fraction: true },
      traces: [{ name: "accuracy in bin", x, y }, diag(x, y)]
        .filter(Boolean),
    });
  }
  if (isNum(ent.unigram_entropy)) scalars.push(["entropy.unigram_entropy H(Y)", ent.unigram_entropy]);
  if (cal && isNum(cal.ece)) scalars.push(["entropy.ECE (top-1)", cal.ece]);
  for (const [k, v] of Object.entries(ent)) {
    if (!KNOWN_ENTROPY.has(k)) autoSpecs(v, `entropy.${k}`, specs, scalars);
  }

  const lens = isObj(result?.lens) ? result.lens : null;
  const layers = lens && Array.isArray(lens.layers)
    ? lens.layers.filter(isObj).sort((a, b) => a.layer - b.layer) : [];
  if (layers.length) {
    const x = layers.map((l) => l.layer);
    const col = (k) => layers.map((l) => (isNum(l[k]) ? l[k] : null));
    specs.push({
      id: "lens.nats", title: "Logit lens per layer: entropy, NLL, KL to the last layer",
      note: "p^ℓ = softmax(U·norm(h^ℓ)) on the sampled contexts (nats). The axis is scaled to "
        + "layers ≥ 1: the embeddings' lens is near-uniform guessing and would flatten the rest.",
      help: "lens",
      x: { title: "layer ℓ (0 = embeddings)" },
      // Scaled to the layers after the embeddings (layer 0's NLL can be 100+ nats).
      y: { title: "nats", rangeFrom: "estimates",
        focusX: x.length > 2 ? [x[1], x[x.length - 1]] : undefined },
      traces: [{ name: "mean entropy H(p^ℓ)", x, y: col("mean_entropy") },
        { name: "mean NLL", x, y: col("mean_nll") },
        { name: "mean KL(p^L ‖ p^ℓ)", x, y: col("mean_kl_to_last") }],
    });
    specs.push({
      id: "lens.agreement", title: "Logit lens per layer: top-1 agreement and accuracy",
      help: "lens",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "fraction (0–1)", fraction: true },
      traces: [{ name: "top-1 agreement with last layer", x, y: col("top1_agreement") },
        { name: "top-1 accuracy", x, y: col("top1_accuracy") }],
    });
    const info = { name: "I(H^ℓ; Y) ≥ H(Y) − CE^ℓ", x, y: col("predictive_info"),
      floor: { value: 0, label: "vacuous: the bound is below 0 (I ≥ 0 always)" } };
    const hy = isNum(lens.unigram_entropy) ? lens.unigram_entropy : ent.unigram_entropy;
    specs.push({
      id: "lens.predictive_info", title: "Predictive information per layer",
      help: "predictive-information",
      note: "Lower bound on I(H^ℓ; Y) from the lens cross-entropy; upper bound H(Y), the "
        + "unigram entropy of next tokens. Below 0 the bound is vacuous (I ≥ 0 always): the "
        + "lens cannot decode that layer.",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "nats", rangeFrom: "estimates" },
      traces: [info, isNum(hy)
        ? { name: "upper bound H(Y)", x: [x[0], x[x.length - 1]], y: [hy, hy], role: "bound" }
        : null].filter(Boolean),
    });
  } else missing.push("per-layer lens");
  if (lens && isObj(lens.fidelity)) {
    const f = lens.fidelity;
    scalars.push(["lens.fidelity max relative error", f.max_relative_error]);
    scalars.push(["lens.fidelity tolerance", f.tolerance]);
    scalars.push(["lens.fidelity passed", f.passed ? "yes" : "NO"]);
  }
  if (lens && isNum(lens.num_contexts)) scalars.push(["lens.contexts", lens.num_contexts]);
  if (lens) {
    for (const [k, v] of Object.entries(lens)) {
      if (!KNOWN_LENS.has(k)) autoSpecs(v, `lens.${k}`, specs, scalars);
    }
  }
  return { specs: specs.filter((sp) => sp.traces.length), scalars, missing };
}

const KNOWN_EXACT_SCALARS = ["mean_kl", "mean_true_entropy", "mean_cross_entropy",
  "nll_minus_cross_entropy", "identity_max_abs_error", "entropy_rate", "model_entropy_minus_true"];

/** Rows of the exact-comparison table (synthetic sources), or [] without one. */
export function exactScalars(result) {
  const exact = isObj(result?.exact) ? result.exact : null;
  if (!exact) return [];
  const rows = [["exact.source", exact.source]];
  for (const k of KNOWN_EXACT_SCALARS) if (k in exact) rows.push([`exact.${k}`, exact[k]]);
  for (const [k, v] of Object.entries(exact.ideal_surplus || {})) {
    rows.push([`exact.ideal surplus K=${k}`, v]);
  }
  for (const [k, v] of Object.entries(exact.extra || {})) rows.push([`exact.${k}`, v]);
  return rows;
}

function fmtNum(v) {
  return isNum(v) ? v.toPrecision(3) : "—";
}

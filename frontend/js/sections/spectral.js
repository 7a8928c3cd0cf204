// Spectral section (SpectralSuite): kernel and representation spectra, alignment A against
// chance, lift, capture curve, held-out alignment and CCA, the Fisher spectrum and Dirichlet
// energies. One short function per chart.

import { arr, idx, isInterval, isObj, ivTrace, nonEmpty, row } from "./common.js";

export const KEY = "spectral";
export const SCHEMA = "SpectralSuite";
export const FIELDS = ["spectra", "representation", "alignment", "heldout", "fisher", "dirichlet",
  "num_contexts", "model_side_retained_mass", "stage_seconds", "notes"];
export const HIDDEN = {
  layers: "the layers are the x axis of every per-layer chart",
};

const KERNEL_LABEL = { proto: "K_proto ⟨ḡ,ḡ'⟩", lin: "K_lin", bc: "K_bc (Bhattacharyya)",
  hel: "K_hel (Hellinger)" };
// Data side: K_lin = 1[y_i = y_j] needs no model (the comparable headline); K_proto is built
// from each model's OWN unembedding rows, a different kernel for every model.
const DATA_KERNEL_LABEL = { proto: "K_proto (own prototypes)", lin: "K_lin (model-free)" };
const klabel = (k, side) => (side === "data" && DATA_KERNEL_LABEL[k]) || KERNEL_LABEL[k] || k;
const kname = (k, side) => `${side}-side ${klabel(k, side)}`;
const KERNEL_COLOR = { proto: 0, lin: 1, bc: 2, hel: 3 };
const colorOf = (kernel) => KERNEL_COLOR[kernel] ?? 5;
// Model-side A sits near 1 for every kernel near the head: distinct dashes keep the
// overlapping lines apart where colour alone would hide all but the top one.
const KERNEL_DASH = { proto: "solid", lin: "dash", bc: "dot", hel: "longdash" };
const dashOf = (kernel, side) => (side === "model" && KERNEL_DASH[kernel]
  ? { dash: KERNEL_DASH[kernel] } : {});

const LAYER_AXIS = { title: "layer ℓ (0 = embeddings)" };
const LOG_INDEX = { title: "eigenvalue index i (log)", log: true };
const positive = (values) => values.map((v) => (v > 0 ? v : null));
const byLayer = (rows) => arr(rows).filter(isObj).sort((a, b) => a.layer - b.layer);

/** A few evenly spaced items (always first and last) to keep per-layer overlays legible. */
function spread(items, n) {
  if (items.length <= n) return items;
  const out = [];
  for (let i = 0; i < n; i += 1) out.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return [...new Set(out)];
}

function kernelSpectraSpec(sp) {
  const spectra = arr(sp.spectra).filter((s) => isObj(s) && arr(s.eigenvalues).length);
  if (!spectra.length) return null;
  return {
    id: "spectral.kernel_spectra", title: "Eigenspectra of the kernels K/N (log–log)",
    help: "eigenspectra",
    note: "Top eigenvalues of each context kernel (Nyström scaling). Solid: data side (the "
      + "test of the theorem); dashed: model side (partly tautological near the head).",
    x: LOG_INDEX, y: { title: "eigenvalue λ_i (log)", log: true },
    traces: spectra.map((s) => ({
      name: kname(s.kernel, s.side), x: idx(s.eigenvalues), y: positive(s.eigenvalues),
      role: s.side === "model" ? "baseline" : "estimate", colorIndex: colorOf(s.kernel),
    })),
  };
}

function representationSpecs(reps) {
  if (!reps.length) return [];
  const layers = reps.map((r) => r.layer);
  const col = (k) => reps.map((r) => r[k] ?? null);
  return [{
    id: "spectral.representation_spectra",
    title: "Representation spectra per layer (covariance of H^ℓ, log–log)",
    help: "representation", x: LOG_INDEX, y: { title: "eigenvalue λ_i (log)", log: true },
    traces: spread(reps, 8).map((r, i) => ({
      name: `layer ${r.layer}`, x: idx(arr(r.eigenvalues)), y: positive(arr(r.eigenvalues)),
      colorIndex: i,
    })),
  }, {
    id: "spectral.effective_rank", title: "Effective rank and participation ratio per layer",
    help: "representation",
    note: "Effective rank exp(−Σ q log q), q = λ/Σλ (RankMe); participation ratio (Σλ)²/Σλ².",
    x: LAYER_AXIS, y: { title: "dimensions" },
    traces: [{ name: "effective rank", x: layers, y: col("effective_rank") },
      { name: "participation ratio", x: layers, y: col("participation_ratio"),
        role: "baseline" }],
  }, {
    id: "spectral.anisotropy", title: "Anisotropy and power-law slope per layer",
    help: "representation", x: LAYER_AXIS, y: { title: "mean cosine / exponent α" },
    traces: [{ name: "anisotropy (mean pairwise cosine)", x: layers, y: col("anisotropy") },
      { name: "power-law slope α", x: layers, y: col("alpha"), role: "baseline" }],
  }];
}

/** Alignment rows grouped by "side|kernel", each group sorted by layer. */
function alignmentGroups(align) {
  const groups = new Map();
  for (const a of align) {
    const key = `${a.side}|${a.kernel}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(a);
  }
  for (const rows of groups.values()) rows.sort((a, b) => a.layer - b.layer);
  return groups;
}

const ALIGNMENT_NOTE = {
  data: "Data side: kernels from the observed next token, the unbiased test of Theorem 7.6. "
    + "K_lin needs no model (same for every model on these contexts); K_proto uses this "
    + "model's own prototypes. A ∈ [0,1]; A_rand = (d_eff/(N−1))·tr(K_c)/Σλ is the chance "
    + "baseline.",
  model: "Model side: kernels from the model's own p; near the head A → 1 even untrained (the "
    + "kernels' lines overlap there: solid K_proto, dashed K_lin, dotted K_bc, long-dashed "
    + "K_hel).",
};

function alignmentSpec(groups, side) {
  const traces = [];
  for (const [key, rows] of groups) {
    const [s, kernel] = key.split("|");
    if (s !== side) continue;
    const x = rows.map((r) => r.layer);
    const label = klabel(kernel, side);
    traces.push({ name: `A, ${label}`, x, y: rows.map((r) => r.alignment ?? null),
      colorIndex: colorOf(kernel), ...dashOf(kernel, side) });
    traces.push({ name: `A_rand (chance), ${label}`, x,
      y: rows.map((r) => r.alignment_random ?? null), role: "baseline",
      colorIndex: colorOf(kernel) });
  }
  if (!traces.length) return null;
  return {
    id: `spectral.alignment_${side}`,
    title: `Alignment A vs chance A_rand per layer (${side} side)`,
    help: side === "data" ? "alignment" : "kernels", note: ALIGNMENT_NOTE[side],
    x: LAYER_AXIS, y: { title: "A (fraction of top-d_eff mass)" }, traces,
  };
}

function liftTrace(side, kernel, rows) {
  const extra = { colorIndex: colorOf(kernel), ...dashOf(kernel, side) };
  const x = rows.map((r) => r.layer);
  // Data side: a band of ±1.96 jackknife SE over windows (lift_interval).
  if (side === "data" && rows.some((r) => isInterval(r.lift_interval))) {
    return ivTrace(`${kname(kernel, side)} (95% interval)`, x,
      rows.map((r) => r.lift_interval ?? r.lift ?? null), extra);
  }
  return { name: kname(kernel, side), x, y: rows.map((r) => r.lift ?? null),
    role: side === "model" ? "baseline" : "estimate", ...extra };
}

function liftSpec(groups) {
  if (!groups.size) return null;
  const traces = [...groups].map(([key, rows]) => liftTrace(...key.split("|"), rows));
  traces.push({ name: "chance (lift = 1)", x: traces[0].x, y: traces[0].x.map(() => 1),
    role: "bound", color: "#868e96" });
  return {
    id: "spectral.lift", title: "Alignment lift A / A_rand per layer", help: "alignment",
    note: "The data-side K_lin lift (same next token) is model-free and compares across "
      + "models on the same corpus, contexts and N; K_proto uses this model's own prototypes.",
    x: LAYER_AXIS, y: { title: "lift (1 = chance)" }, traces,
  };
}

/** Capture curve at the last layer: c_i = ‖Qᵀu_i‖² against the kernel's eigenvalue rank. */
function captureSpec(align) {
  if (!align.length) return null;
  const last = Math.max(...align.map((a) => a.layer));
  const capture = align.filter((a) => a.layer === last && arr(a.capture).length);
  if (!capture.length) return null;
  return {
    id: "spectral.capture", title: `Capture curve c_i = ‖Qᵀu_i‖² (layer ${last})`,
    help: "capture-curve",
    note: "How much of each top eigenvector u_i of K_c lies in the span of the whitened "
      + "states; 1 = fully captured.",
    x: { title: "eigenvector index i (by eigenvalue, descending)" },
    y: { title: "captured fraction c_i (0–1)" },
    traces: capture.map((a) => ({ name: kname(a.kernel, a.side), x: idx(a.capture),
      y: a.capture, role: a.side === "model" ? "baseline" : "estimate",
      colorIndex: colorOf(a.kernel) })),
  };
}

function heldoutSpec(held) {
  if (!held.length) return null;
  return {
    id: "spectral.heldout_r2", title: "Held-out alignment: R² of ridge H^ℓ → Ḡ^data",
    help: "held-out-alignment",
    note: "Fitted on probe-train contexts, scored on test contexts (no in-sample inflation).",
    x: LAYER_AXIS, y: { title: "R² (fraction)" },
    traces: [{ name: "test R²", x: held.map((r) => r.layer), y: held.map((r) => r.r2 ?? null) }],
  };
}

/** Canonical correlations of the first and last held-out layers, in-sample and on test. */
function ccaSpec(held) {
  if (!held.length) return null;
  const ends = held.length === 1 ? [[held[0], 1]] : [[held[0], 0], [held[held.length - 1], 1]];
  const traces = [];
  for (const [r, ci] of ends) {
    if (arr(r.canonical_correlations).length) {
      traces.push({ name: `layer ${r.layer} in-sample`, x: idx(r.canonical_correlations),
        y: r.canonical_correlations, colorIndex: ci });
    }
    if (arr(r.canonical_correlations_test).length) {
      traces.push({ name: `layer ${r.layer} test`, x: idx(r.canonical_correlations_test),
        y: r.canonical_correlations_test, role: "baseline", colorIndex: ci });
    }
  }
  if (!traces.length) return null;
  return {
    id: "spectral.cca", title: "Canonical correlations between H^ℓ and Ḡ^data", help: "cca",
    note: "Ridge CCA; in-sample and on test contexts with the train-fitted pairs.",
    x: { title: "canonical pair index" }, y: { title: "correlation (0–1)" }, traces,
  };
}

const FISHER_NOTE = "Eigenvalues of the mean G(h) = Jᵀ(diag p − ppᵀ)J over the sampled "
  + "contexts, top tokens only, centred at the full mean: a lower bound of the full metric.";

function fisherSpec(fisher) {
  if (!isObj(fisher) || !arr(fisher.eigenvalues).length) return null;
  // `facts`: this result's own numbers; the compare page lists them per model.
  const facts = [["contexts", fisher.num_contexts],
    ["retained mass", Number(fisher.retained_mass).toFixed(3)]];
  return {
    id: "spectral.fisher", title: `Pullback Fisher metric spectrum (layer ${fisher.layer})`,
    help: "fisher", sharedNote: FISHER_NOTE, facts,
    note: `${FISHER_NOTE} ${facts.map(([k, v]) => `${k[0].toUpperCase()}${k.slice(1)}: ${v}.`)
      .join(" ")}`,
    x: LOG_INDEX, y: { title: "eigenvalue (log)", log: true },
    traces: [{ name: "Fisher eigenvalues", x: idx(fisher.eigenvalues),
      y: positive(fisher.eigenvalues) }],
  };
}

function dirichletTraces(d, i) {
  const f = arr(d.fisher);
  const label = klabel(d.kernel, d.side);
  return [{ name: `Fisher directions, ${label}`, x: idx(f), y: f, colorIndex: i },
    { name: `random (mean ± std), ${label}`, x: idx(f), y: f.map(() => d.random_mean),
      low: f.map(() => d.random_mean - d.random_std), high: f.map(() => d.random_mean
        + d.random_std), role: "baseline", colorIndex: i, kind: "line" }];
}

/** Dirichlet energies: the last layer's data-side entries only (one per kernel), legible. */
function dirichletSpec(sp) {
  const all = arr(sp.dirichlet).filter(isObj);
  if (!all.length) return null;
  const last = Math.max(...all.map((d) => d.layer));
  const dir = all.filter((d) => d.layer === last && d.side === "data").slice(0, 4);
  if (!dir.length) return null;
  const from = dir[0].directions_layer ?? sp.fisher?.layer ?? last;
  return {
    id: "spectral.dirichlet",
    title: `Dirichlet energy of layer-${from} Fisher vs random directions `
      + `(layer ${last}, data side)`,
    help: "dirichlet",
    note: `E_K(Hv)/Var(Hv) with v the top Fisher directions of the head at layer ${from} `
      + "(the same directions at every layer): low energy = smooth over the kernel graph. "
      + "Random: mean ± std.",
    x: { title: "Fisher direction rank" }, y: { title: "normalised energy" },
    traces: dir.flatMap(dirichletTraces),
  };
}

/** Chart specs of the spectral suite. */
export function specs(sp) {
  if (!isObj(sp)) return [];
  const align = arr(sp.alignment).filter(isObj);
  const groups = alignmentGroups(align);
  const held = byLayer(sp.heldout);
  return [kernelSpectraSpec(sp), ...representationSpecs(byLayer(sp.representation)),
    alignmentSpec(groups, "data"), alignmentSpec(groups, "model"), liftSpec(groups),
    captureSpec(align), heldoutSpec(held), ccaSpec(held), fisherSpec(sp.fisher),
    dirichletSpec(sp)].filter((s) => s && nonEmpty(s));
}

/** Scalar rows: N, retained mass, last-layer rank and data-side lifts, stage timings. */
export function scalars(sp) {
  if (!isObj(sp)) return [];
  const rows = [row("spectral.Contexts N", sp.num_contexts, "spectral.num_contexts"),
    row("spectral.Model-side retained mass", sp.model_side_retained_mass,
      "spectral.model_side_retained_mass")];
  const reps = arr(sp.representation);
  const lastAt = reps.reduce((best, r, i) => (isObj(r) && (best < 0
    || r.layer > reps[best].layer) ? i : best), -1);
  const last = lastAt >= 0 ? reps[lastAt] : null;
  if (last) {
    rows.push(row(`spectral.Effective rank (layer ${last.layer})`, last.effective_rank,
      `spectral.representation.${lastAt}.effective_rank`));
  }
  // The model-free kernel first: it is the one that compares across models.
  const align = arr(sp.alignment);
  const dataRows = align.map((a, i) => [a, i]).filter(([a]) => isObj(a)
    && a.layer === last?.layer && a.side === "data")
    .sort(([a], [b]) => (a.kernel === "lin" ? -1 : b.kernel === "lin" ? 1 : 0));
  for (const [a, i] of dataRows) {
    const what = a.kernel === "lin" ? "model-free" : a.kernel === "proto" ? "own prototypes" : "";
    const withIv = isInterval(a.lift_interval);
    rows.push(row(`spectral.Lift ${a.kernel} data side${what ? `, ${what}` : ""} `
      + `(layer ${a.layer})`, withIv ? a.lift_interval : a.lift,
    `spectral.alignment.${i}.${withIv ? "lift_interval" : "lift"}`));
  }
  for (const [k, v] of Object.entries(sp.stage_seconds || {})) {
    rows.push(row(`spectral.Seconds ${k}`, v, `spectral.stage_seconds.${k}`));
  }
  return rows.filter(([, v]) => v !== undefined && v !== null);
}

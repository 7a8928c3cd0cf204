// Curated charts of the surplus and spectral suites (schemas: surplus_schema.py,
// spectral_schema.py). JSON turns int dict keys into strings, so keys are sorted numerically.
// Every accessor tolerates a missing field: a chart without data is simply not produced.

import { fmt, fmtInterval, fmtNotDetected } from "./dom.js";
import { autoSpecs, isInterval } from "./specs.js";

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const arr = (v) => (Array.isArray(v) ? v : []);
const byNumKey = (obj) => (isObj(obj)
  ? Object.entries(obj).map(([k, v]) => [Number(k), v]).filter(([k]) => Number.isFinite(k))
    .sort((a, b) => a[0] - b[0])
  : []);
const est = (iv) => (isInterval(iv) ? iv.estimate : typeof iv === "number" ? iv : null);

function ivTrace(name, x, ivs, extra = {}) {
  return {
    name, x, y: ivs.map(est),
    low: ivs.map((v) => (isInterval(v) ? v.low : null)),
    high: ivs.map((v) => (isInterval(v) ? v.high : null)), role: "estimate", ...extra,
  };
}

const nonEmpty = (spec) => spec.traces.some((t) => t.y.some((v) => v !== null && v !== undefined));

// ------------------------------------------------------------------------------- surplus

/**
 * The verdict of Surplus_K: "detected" | "not detected" | "insufficient data" (fewer than 20
 * windows pooled), from the stored `verdict`, else (older results) from `detected` / the
 * interval; null when unknown.
 */
export function surplusVerdict(s, k) {
  const v = isObj(s?.verdict) ? s.verdict[k] : undefined;
  if (typeof v === "string") return v;
  const flag = isObj(s?.detected) ? s.detected[k] : undefined;
  if (typeof flag === "boolean") return flag ? "detected" : "not detected";
  const iv = isObj(s?.surplus) ? s.surplus[k] : undefined;
  if (isInterval(iv) && Number.isFinite(iv.low)) return iv.low > 0 ? "detected" : "not detected";
  return null;
}

/**
 * Whether Surplus_K was detected (its 95% interval lies above 0 with enough windows): true
 * only for the "detected" verdict; null when unknown.
 */
export function surplusDetected(s, k) {
  const v = surplusVerdict(s, k);
  return v === null ? null : v === "detected";
}

/**
 * Surplus_K as text: "estimate [low, high]", "not detected (≤ upper bound)", or
 * "insufficient data: estimate [low, high]".
 */
export function fmtSurplus(s, k) {
  const v = surplusVerdict(s, k);
  if (v === "insufficient data") return `insufficient data: ${fmtInterval(s?.surplus?.[k])}`;
  if (v === "not detected") return fmtNotDetected(s?.bounds?.[k]?.high);
  return fmtInterval(s?.surplus?.[k]);
}

const NOT_DETECTED_HOVER = "not detected: 95% interval not above 0 (the estimate is a floor; "
  + "the upper bound still holds)";
const INSUFFICIENT_HOVER = "insufficient data: fewer than 20 windows pooled (no verdict)";

/** `idealSurplus`: the exact section's values, used when the suite carries none itself. */
export function surplusSpecs(s, idealSurplus) {
  if (!isObj(s)) return [];
  const specs = [];
  const surplus = byNumKey(s.surplus);
  const bounds = byNumKey(s.bounds);
  const own = byNumKey(s.exact_surplus);
  const exact = own.length ? own : byNumKey(idealSurplus);
  if (surplus.length) {
    const verdicts = surplus.map(([k]) => surplusVerdict(s, k));
    const traces = [ivTrace("Surplus_K estimate (95% interval)", surplus.map(([k]) => k),
      surplus.map(([, v]) => v), {
        hollow: verdicts.map((v) => v !== null && v !== "detected"),
        hover: verdicts.map((v) => (v === "not detected" ? NOT_DETECTED_HOVER
          : v === "insufficient data" ? INSUFFICIENT_HOVER
            : v === "detected" ? "detected: 95% interval above 0" : "")),
      })];
    if (bounds.length) {
      // A bound, not an estimate: the chart's range follows the estimates (rangeFrom), so an
      // upper bound far above them becomes an edge marker with its value, not the axis.
      traces.push({
        name: "upper bound H(Y_{t+1:t+K−1} | Y_t)", x: bounds.map(([k]) => k),
        y: bounds.map(([, b]) => b?.high ?? null), role: "bound", kind: "markers",
      });
    }
    if (exact.length) {
      traces.push({ name: "exact (ideal sufficient statistic)", x: exact.map(([k]) => k),
        y: exact.map(([, v]) => v), role: "exact", kind: "markers" });
    }
    const any = (v) => verdicts.includes(v);
    specs.push({
      id: "surplus.by_k", title: "Information surplus Surplus_K by K", help: "surplus",
      note: "Surplus_K = Σ_j term_j, cross-fitted; the axis follows the estimates, the upper "
        + "bound H(Y_{t+1:t+K−1}|Y_t) is a marker. Trivial bound (K−1)·log|V| in the table."
        + (any("not detected") ? " Hollow markers: not detected (95% interval not above 0)." : "")
        + (any("insufficient data") ? " Hollow markers: insufficient data (< 20 windows)." : ""),
      x: { title: "K (tokens predicted)", category: false },
      y: { title: "nats", rangeFrom: "estimates" },
      traces,
    });
  }
  const terms = byNumKey(s.terms);
  const ceiling = byNumKey(s.ceiling);
  if (terms.length) {
    const x = terms.map(([j]) => j);
    const traces = [ivTrace("term_j", x, terms.map(([, t]) => t?.term), {
      hollow: terms.map(([, t]) => t?.state_used === false),
      hover: terms.map(([, t]) => (t?.state_used === false
        ? "state unused: the with-state readout kept its zero h_t weights (a floor)"
        : `no state: ${t?.no_state_choice ?? "?"}, with state: ${t?.with_state_choice ?? "?"}`)),
    })];
    if (ceiling.length) {
      traces.push(ivTrace("context ceiling C_j", ceiling.map(([j]) => j),
        ceiling.map(([, c]) => c?.ceiling), { role: "bound" }));
    }
    const drafter = terms.filter(([, t]) => isInterval(t?.drafter_term));
    if (drafter.length) {
      traces.push(ivTrace("frozen-head readout (drafter sharing the head)",
        drafter.map(([j]) => j), drafter.map(([, t]) => t.drafter_term), { role: "baseline" }));
    }
    specs.push({
      id: "surplus.terms", title: "Chain-rule terms and the context ceiling", help: "surplus-terms",
      note: "term_j = I(H_t; Y_{t+j} | Y_t…Y_{t+j−1}): the chosen no-state CE − the chosen "
        + "with-state CE. C_j = no-state CE − the model's own NLL at t+j (what the whole context "
        + "tells). 95% cluster bootstrap over all windows.",
      x: { title: "offset j (tokens ahead)" }, y: { title: "nats", rangeFrom: "estimates" }, traces,
    });
  }
  const shares = ceiling.filter(([, c]) => isInterval(c?.share));
  if (shares.length) {
    specs.push({
      id: "surplus.share", title: "Share of the context's information already in h_t",
      help: "context-ceiling",
      note: "term_j / C_j: 1 when h_t carries everything the context tells about y_{t+j}.",
      x: { title: "offset j (tokens ahead)" }, y: { title: "share" },
      traces: [ivTrace("term_j / C_j", shares.map(([j]) => j), shares.map(([, c]) => c.share))],
    });
  }
  const look = arr(s.lookahead).filter(isObj).sort((a, b) => a.j - b.j);
  if (look.length) {
    const x = look.map((l) => l.j);
    specs.push({
      id: "surplus.lookahead", title: "Lookahead information I(H_t; Y_{t+j}) by offset",
      help: "lookahead",
      note: "Lower bound H(Y) − CE(q(y_{t+j} | h_t)), H(Y) the held-out marginal; j = 0 is the "
        + "model's own head.",
      x: { title: "offset j (tokens ahead)" }, y: { title: "nats" },
      traces: [ivTrace("I(H_t; Y_{t+j}) ≥", x, look.map((l) => l.info)),
        { name: "H(Y_{t+j}) (upper bound)", x, y: look.map((l) => l.entropy_y ?? null),
          role: "bound" }],
    });
  }
  const acc = byNumKey(s.drafting?.acc).filter(([j]) => j >= 1);
  const eal = byNumKey(s.drafting?.expected_accepted_length);
  if (informative(acc)) {
    specs.push({
      id: "surplus.drafting_acc", title: "Drafting proxy: acceptance rate acc_j", help: "drafting",
      note: "Rate at which the with-state readout's argmax equals the model's greedy token at "
        + "t+j (a proxy for a drafter's acceptance).",
      x: { title: "offset j (tokens ahead)" }, y: { title: "fraction (0–1)" },
      traces: [{ name: "acc_j", x: acc.map(([j]) => j), y: acc.map(([, v]) => v), kind: "bar" }],
    });
  }
  if (informative(eal)) {
    specs.push({
      id: "surplus.drafting_length", title: "Drafting proxy: expected accepted length",
      help: "drafting",
      note: "Σ_k Π_{j≤k} acc_j, assuming independence (a proxy, not a measured speed-up).",
      x: { title: "K (tokens drafted)" }, y: { title: "tokens" },
      traces: [{ name: "expected accepted length", x: eal.map(([k]) => k),
        y: eal.map(([, v]) => v), kind: "bar" }],
    });
  }
  const per = arr(s.per_layer).filter(isObj).sort((a, b) => a.layer - b.layer);
  if (per.length) {
    specs.push({
      id: "surplus.per_layer", title: "Term 1 per layer: where future information lives",
      help: "surplus-per-layer",
      note: "I(H_t^ℓ; Y_{t+1} | Y_t) from readouts of layer ℓ (sampled contexts of one fold); "
        + "95% intervals.",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "nats" },
      traces: [ivTrace("term 1", per.map((p) => p.layer), per.map((p) => p.term1))],
    });
  }
  return specs.filter(nonEmpty);
}

/** A bar chart worth drawing: some finite value, and not all values equal. */
function informative(pairs) {
  const vals = pairs.map(([, v]) => v).filter(Number.isFinite);
  return vals.length > 0 && vals.some((v) => v !== vals[0]);
}

/** One-line text for a drafting proxy that has nothing to chart. */
function draftingMessage(s) {
  const acc = byNumKey(s.drafting?.acc).filter(([j]) => j >= 1);
  const vals = acc.map(([, v]) => v).filter(Number.isFinite);
  if (!vals.length) return "not measured (no greedy tokens known at t+j)";
  if (vals.every((v) => v === vals[0])) {
    return `acc_j = ${fmt(vals[0])} at every offset (nothing to chart)`;
  }
  return null;
}

export function surplusScalars(s) {
  if (!isObj(s)) return [];
  const rows = [];
  // Third element: the unit, where the value is display text rather than a number.
  for (const [k, v] of byNumKey(s.surplus)) {
    rows.push(surplusVerdict(s, k) === "detected" || surplusVerdict(s, k) === null
      ? [`surplus.Surplus K=${k}`, v] : [`surplus.Surplus K=${k}`, fmtSurplus(s, k), "nats"]);
    const verdict = surplusVerdict(s, k);
    if (verdict) rows.push([`surplus.Verdict K=${k}`, verdict, ""]);
  }
  for (const [j, c] of byNumKey(s.ceiling)) {
    rows.push([`surplus.Context ceiling C_${j}`, c?.ceiling, "nats"]);
    rows.push(isInterval(c?.share) ? [`surplus.Share term_${j} / C_${j}`, c.share, "ratio"]
      : [`surplus.Share term_${j} / C_${j}`, "no share: C_j ≤ 0 (the model's own loss is no "
        + "better than the no-state side)", ""]);
  }
  if (typeof s.capped === "boolean") {
    rows.push(["surplus.Probe cap", s.capped
      ? "CAPPED: a probe stopped at its step/epoch cap while still improving" : "no probe capped",
    ""]);
  }
  for (const [k, b] of byNumKey(s.bounds)) {
    rows.push([`surplus.Upper bound K=${k}`, b?.high]);
    rows.push([`surplus.Trivial bound (K−1)·log|V| K=${k}`, b?.trivial_high]);
  }
  for (const [k, v] of byNumKey(s.exact_surplus)) rows.push([`surplus.Exact surplus K=${k}`, v]);
  for (const [j, t] of byNumKey(s.terms)) {
    if (t?.no_state_choice) {
      rows.push([`surplus.Readouts j=${j}`, `no state: ${t.no_state_choice}; with state: `
        + `${t.with_state_choice}`, ""]);
    }
  }
  const message = s.drafting ? draftingMessage(s) : "not measured";
  if (message) rows.push(["surplus.Drafting proxy", message, ""]);
  rows.push(["surplus.H(Y) held-out marginal", s.marginal_entropy]);
  rows.push(["surplus.Probe layer", s.layer, ""]);
  rows.push(["surplus.Windows pooled", s.num_windows_pooled, ""]);
  rows.push(["surplus.Folds", s.folds, ""]);
  for (const [k, v] of Object.entries(s.num_contexts || {})) {
    // Test rows pool every fold (each window is test once); train/val are fold 0's.
    rows.push([`surplus.Positions (${k}, ${k === "test" ? "all folds" : "fold 0"})`, v, ""]);
  }
  rows.push(["surplus.Seconds", s.seconds]);
  return rows.filter(([, v]) => v !== undefined && v !== null);
}

// ------------------------------------------------------------------------------- spectral

const KERNEL_LABEL = { proto: "K_proto ⟨ḡ,ḡ'⟩", lin: "K_lin", bc: "K_bc (Bhattacharyya)",
  hel: "K_hel (Hellinger)" };
// Data side: K_lin = 1[y_i = y_j] needs no model (the comparable headline); K_proto is built
// from each model's OWN unembedding rows, a different kernel for every model.
const DATA_KERNEL_LABEL = { proto: "K_proto (own prototypes)",
  lin: "K_lin (model-free)" };
const klabel = (k, side) =>
  (side === "data" && DATA_KERNEL_LABEL[k]) || KERNEL_LABEL[k] || k;
const kname = (k, side) => `${side}-side ${klabel(k, side)}`;
const KERNEL_COLOR = { proto: 0, lin: 1, bc: 2, hel: 3 };
// Model-side A sits near 1 for every kernel near the head: distinct dashes keep the
// overlapping lines apart where colour alone would hide all but the top one.
const KERNEL_DASH = { proto: "solid", lin: "dash", bc: "dot", hel: "longdash" };

/** A few evenly spaced items (always first and last) to keep per-layer overlays legible. */
function spread(items, n) {
  if (items.length <= n) return items;
  const out = [];
  for (let i = 0; i < n; i += 1) out.push(items[Math.round((i * (items.length - 1)) / (n - 1))]);
  return [...new Set(out)];
}

const idx = (values) => values.map((_, i) => i + 1);

export function spectralSpecs(sp) {
  if (!isObj(sp)) return [];
  const specs = [];
  const spectra = arr(sp.spectra).filter((s) => isObj(s) && arr(s.eigenvalues).length);
  if (spectra.length) {
    specs.push({
      id: "spectral.kernel_spectra", title: "Eigenspectra of the kernels K/N (log–log)",
      help: "eigenspectra",
      note: "Top eigenvalues of each context kernel (Nyström scaling). Solid: data side (the "
        + "test of the theorem); dashed: model side (partly tautological near the head).",
      x: { title: "eigenvalue index i (log)", log: true },
      y: { title: "eigenvalue λ_i (log)", log: true },
      traces: spectra.map((s) => ({
        name: kname(s.kernel, s.side), x: idx(s.eigenvalues),
        y: s.eigenvalues.map((v) => (v > 0 ? v : null)),
        role: s.side === "model" ? "baseline" : "estimate", colorIndex: KERNEL_COLOR[s.kernel] ?? 5,
      })),
    });
  }
  const reps = arr(sp.representation).filter(isObj).sort((a, b) => a.layer - b.layer);
  if (reps.length) {
    specs.push({
      id: "spectral.representation_spectra",
      title: "Representation spectra per layer (covariance of H^ℓ, log–log)",
      help: "representation",
      x: { title: "eigenvalue index i (log)", log: true },
      y: { title: "eigenvalue λ_i (log)", log: true },
      traces: spread(reps, 8).map((r, i) => ({
        name: `layer ${r.layer}`, x: idx(arr(r.eigenvalues)),
        y: arr(r.eigenvalues).map((v) => (v > 0 ? v : null)), colorIndex: i,
      })),
    });
    const layers = reps.map((r) => r.layer);
    specs.push({
      id: "spectral.effective_rank", title: "Effective rank and participation ratio per layer",
      help: "representation",
      note: "Effective rank exp(−Σ q log q), q = λ/Σλ (RankMe); participation ratio (Σλ)²/Σλ².",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "dimensions" },
      traces: [
        { name: "effective rank", x: layers, y: reps.map((r) => r.effective_rank ?? null) },
        { name: "participation ratio", x: layers,
          y: reps.map((r) => r.participation_ratio ?? null), role: "baseline" }],
    });
    specs.push({
      id: "spectral.anisotropy", title: "Anisotropy and power-law slope per layer",
      help: "representation",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "mean cosine / exponent α" },
      traces: [
        { name: "anisotropy (mean pairwise cosine)", x: layers,
          y: reps.map((r) => r.anisotropy ?? null) },
        { name: "power-law slope α", x: layers, y: reps.map((r) => r.alpha ?? null),
          role: "baseline" }],
    });
  }
  const align = arr(sp.alignment).filter(isObj);
  const groups = new Map();
  for (const a of align) {
    const key = `${a.side}|${a.kernel}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(a);
  }
  for (const side of ["data", "model"]) {
    const traces = [];
    for (const [key, rows] of groups) {
      if (!key.startsWith(`${side}|`)) continue;
      rows.sort((a, b) => a.layer - b.layer);
      const kernel = key.split("|")[1];
      const x = rows.map((r) => r.layer);
      const c = KERNEL_COLOR[kernel] ?? 5;
      const label = klabel(kernel, side);
      const dash = KERNEL_DASH[kernel];
      traces.push({ name: `A, ${label}`, x, y: rows.map((r) => r.alignment ?? null),
        colorIndex: c, ...(side === "model" && dash ? { dash } : {}) });
      traces.push({ name: `A_rand (chance), ${label}`, x,
        y: rows.map((r) => r.alignment_random ?? null), role: "baseline", colorIndex: c });
    }
    if (traces.length) {
      specs.push({
        id: `spectral.alignment_${side}`,
        title: `Alignment A vs chance A_rand per layer (${side} side)`,
        help: side === "data" ? "alignment" : "kernels",
        note: side === "data"
          ? "Data side: kernels from the observed next token, the unbiased test of Theorem 7.6. "
            + "K_lin needs no model (same for every model on these contexts); K_proto uses "
            + "this model's own prototypes. A ∈ [0,1]; A_rand = (d_eff/(N−1))·tr(K_c)/Σλ is "
            + "the chance baseline."
          : "Model side: kernels from the model's own p; near the head A → 1 even untrained "
            + "(the kernels' lines overlap there: solid K_proto, dashed K_lin, dotted K_bc, "
            + "long-dashed K_hel).",
        x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "A (fraction of top-d_eff mass)" },
        traces,
      });
    }
  }
  if (groups.size) {
    const traces = [...groups].map(([key, rows]) => {
      const [side, kernel] = key.split("|");
      const extra = { colorIndex: KERNEL_COLOR[kernel] ?? 5,
        ...(side === "model" && KERNEL_DASH[kernel] ? { dash: KERNEL_DASH[kernel] } : {}) };
      // Data side: a band of ±1.96 jackknife SE over windows (lift_interval).
      if (side === "data" && rows.some((r) => isInterval(r.lift_interval))) {
        return ivTrace(`${kname(kernel, side)} (95% interval)`, rows.map((r) => r.layer),
          rows.map((r) => r.lift_interval ?? r.lift ?? null), extra);
      }
      return { name: kname(kernel, side), x: rows.map((r) => r.layer),
        y: rows.map((r) => r.lift ?? null), role: side === "model" ? "baseline" : "estimate",
        ...extra };
    });
    traces.push({ name: "chance (lift = 1)", x: traces[0].x, y: traces[0].x.map(() => 1),
      role: "bound", color: "#868e96" });
    specs.push({
      id: "spectral.lift", title: "Alignment lift A / A_rand per layer",
      help: "alignment",
      note: "The data-side K_lin lift (same next token) is model-free and compares across "
        + "models on the same corpus, contexts and N; K_proto uses this model's own prototypes.",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "lift (1 = chance)" }, traces,
    });
    // Capture curve at the last layer: c_i = ‖Qᵀu_i‖² against the kernel's eigenvalue rank.
    const last = Math.max(...align.map((a) => a.layer));
    const capture = align.filter((a) => a.layer === last && arr(a.capture).length);
    if (capture.length) {
      specs.push({
        id: "spectral.capture", title: `Capture curve c_i = ‖Qᵀu_i‖² (layer ${last})`,
        help: "capture-curve",
        note: "How much of each top eigenvector u_i of K_c lies in the span of the whitened "
          + "states; 1 = fully captured.",
        x: { title: "eigenvector index i (by eigenvalue, descending)" },
        y: { title: "captured fraction c_i (0–1)" },
        traces: capture.map((a) => ({ name: kname(a.kernel, a.side), x: idx(a.capture),
          y: a.capture, role: a.side === "model" ? "baseline" : "estimate",
          colorIndex: KERNEL_COLOR[a.kernel] ?? 5 })),
      });
    }
  }
  const held = arr(sp.heldout).filter(isObj).sort((a, b) => a.layer - b.layer);
  if (held.length) {
    specs.push({
      id: "spectral.heldout_r2", title: "Held-out alignment: R² of ridge H^ℓ → Ḡ^data",
      help: "held-out-alignment",
      note: "Fitted on probe-train contexts, scored on test contexts (no in-sample inflation).",
      x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "R² (fraction)" },
      traces: [{ name: "test R²", x: held.map((r) => r.layer), y: held.map((r) => r.r2 ?? null) }],
    });
    const lastHeld = held[held.length - 1];
    const firstHeld = held[0];
    const cc = [];
    for (const [r, ci] of [[firstHeld, 0], [lastHeld, 1]]) {
      if (held.length === 1 && ci === 0) continue;
      if (arr(r.canonical_correlations).length) {
        cc.push({ name: `layer ${r.layer} in-sample`, x: idx(r.canonical_correlations),
          y: r.canonical_correlations, colorIndex: ci });
      }
      if (arr(r.canonical_correlations_test).length) {
        cc.push({ name: `layer ${r.layer} test`, x: idx(r.canonical_correlations_test),
          y: r.canonical_correlations_test, role: "baseline", colorIndex: ci });
      }
    }
    if (cc.length) {
      specs.push({
        id: "spectral.cca", title: "Canonical correlations between H^ℓ and Ḡ^data",
        help: "cca",
        note: "Ridge CCA; in-sample and on test contexts with the train-fitted pairs.",
        x: { title: "canonical pair index" }, y: { title: "correlation (0–1)" }, traces: cc,
      });
    }
  }
  const fisher = sp.fisher;
  if (isObj(fisher) && arr(fisher.eigenvalues).length) {
    specs.push({
      id: "spectral.fisher", title: `Pullback Fisher metric spectrum (layer ${fisher.layer})`,
      help: "fisher",
      note: `Eigenvalues of the mean G(h) = Jᵀ(diag p − ppᵀ)J over ${fisher.num_contexts} `
        + `contexts, top tokens only (retained mass ${Number(fisher.retained_mass).toFixed(3)})`
        + ", centred at the full mean: a lower bound of the full metric.",
      x: { title: "eigenvalue index i (log)", log: true },
      y: { title: "eigenvalue (log)", log: true },
      traces: [{ name: "Fisher eigenvalues", x: idx(fisher.eigenvalues),
        y: fisher.eigenvalues.map((v) => (v > 0 ? v : null)) }],
    });
  }
  // Dirichlet energies: the last layer's entries only (one per kernel × side), to stay legible.
  const allDir = arr(sp.dirichlet).filter(isObj);
  const lastDir = allDir.length ? Math.max(...allDir.map((d) => d.layer)) : null;
  const dir = allDir.filter((d) => d.layer === lastDir && d.side === "data").slice(0, 4);
  if (dir.length) {
    const from = dir[0].directions_layer ?? sp.fisher?.layer ?? lastDir;
    specs.push({
      id: "spectral.dirichlet",
      title: `Dirichlet energy of layer-${from} Fisher vs random directions `
        + `(layer ${lastDir}, data side)`,
      help: "dirichlet",
      note: `E_K(Hv)/Var(Hv) with v the top Fisher directions of the head at layer ${from} `
        + "(the same directions at every layer): low energy = smooth over the kernel graph. "
        + "Random: mean ± std.",
      x: { title: "Fisher direction rank" }, y: { title: "normalised energy" },
      traces: dir.flatMap((d, i) => [
        { name: `Fisher directions, ${klabel(d.kernel, d.side)}`, x: idx(arr(d.fisher)),
          y: arr(d.fisher), colorIndex: i },
        { name: `random (mean ± std), ${klabel(d.kernel, d.side)}`,
          x: idx(arr(d.fisher)),
          y: arr(d.fisher).map(() => d.random_mean), low: arr(d.fisher).map(() =>
            d.random_mean - d.random_std), high: arr(d.fisher).map(() =>
            d.random_mean + d.random_std), role: "baseline", colorIndex: i, kind: "line" },
      ]),
    });
  }
  return specs.filter(nonEmpty);
}

export function spectralScalars(sp) {
  if (!isObj(sp)) return [];
  const rows = [["spectral.Contexts N", sp.num_contexts],
    ["spectral.Model-side retained mass", sp.model_side_retained_mass]];
  const reps = arr(sp.representation).filter(isObj);
  const last = reps.length ? reps.reduce((a, b) => (b.layer > a.layer ? b : a)) : null;
  if (last) rows.push([`spectral.Effective rank (layer ${last.layer})`, last.effective_rank]);
  // The model-free kernel first: it is the one that compares across models.
  const dataRows = arr(sp.alignment).filter((a) => isObj(a) && a.layer === last?.layer
    && a.side === "data").sort((a, b) => (a.kernel === "lin" ? -1 : b.kernel === "lin" ? 1 : 0));
  for (const a of dataRows) {
    const what = a.kernel === "lin" ? "model-free" : a.kernel === "proto" ? "own prototypes" : "";
    rows.push([`spectral.Lift ${a.kernel} data side${what ? `, ${what}` : ""} (layer ${a.layer})`,
      isInterval(a.lift_interval) ? a.lift_interval : a.lift]);
  }
  for (const [k, v] of Object.entries(sp.stage_seconds || {})) {
    rows.push([`spectral.Seconds ${k}`, v]);
  }
  return rows.filter(([, v]) => v !== undefined && v !== null);
}

// ------------------------------------------------------------------------------- dispatch

const KNOWN = {
  surplus: new Set(["max_k", "layer", "num_contexts", "num_windows", "terms", "surplus", "detected",
    "verdict", "num_windows_pooled", "folds", "all_positions", "capped", "ceiling",
    "marginal_entropy", "vocab_train", "bounds", "lookahead", "drafting", "per_layer",
    "exact_surplus", "probes", "seconds", "notes"]),
  spectral: new Set(["num_contexts", "layers", "spectra", "alignment", "heldout",
    "representation", "fisher", "dirichlet", "model_side_retained_mass", "stage_seconds",
    "notes"]),
};

/**
 * Specs and scalar rows of one result section ("surplus" | "spectral" | anything else): the
 * curated charts, plus a structural walk of fields this page does not know yet.
 */
export function sectionSpecs(result, key, title) {
  const section = isObj(result) ? result[key] : undefined;
  const present = section !== undefined && section !== null;
  const specs = [];
  const scalars = [];
  if (!present) return { specs, scalars, present, notes: [] };
  if (key === "surplus") {
    specs.push(...surplusSpecs(section, result.exact?.ideal_surplus));
    scalars.push(...surplusScalars(section));
  } else if (key === "spectral") {
    specs.push(...spectralSpecs(section));
    scalars.push(...spectralScalars(section));
  }
  const known = KNOWN[key];
  if (isObj(section) && known) {
    for (const [k, v] of Object.entries(section)) {
      if (!known.has(k)) autoSpecs(v, `${key}.${k}`, specs, scalars);
    }
  } else if (!known) {
    autoSpecs(section, key, specs, scalars, title);
  }
  const notes = isObj(section) ? arr(section.notes).map(String) : [];
  return { specs, scalars, present, notes };
}

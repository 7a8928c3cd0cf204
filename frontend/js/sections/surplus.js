// Surplus section (SurplusSuite): Surplus_K by K with its stored verdict, the chain-rule terms
// and context ceiling, lookahead, drafting proxy and per-layer term 1.
//
// The verdict ("detected" | "not detected" | "insufficient data") is the server's: the page
// reads `verdict[K]` (or the stored `detected[K]` flag) and never applies the rule itself.

import { fmt, fmtInterval, fmtNotDetected } from "../dom.js";
import { arr, byNumKey, isInterval, isObj, ivTrace, nonEmpty, row } from "./common.js";

export const KEY = "surplus";
export const SCHEMA = "SurplusSuite";
export const FIELDS = ["surplus", "verdict", "bounds", "exact_surplus", "terms",
  "ceiling", "lookahead", "drafting", "per_layer", "capped", "marginal_entropy", "layer",
  "num_windows_pooled", "folds", "num_contexts", "seconds", "probes", "notes"];
export const HIDDEN = {
  max_k: "the largest K is the last K of every by-K chart and row",
  detected: "the verdict's yes/no (true only for “detected”): the verdict is shown; read "
    + "only for results stored before the verdict",
};

/**
 * The stored verdict of Surplus_K, or null when the result has none. Results stored before
 * `detected` and `verdict` existed carry neither: for those alone the verdict is read off the
 * interval exactly as the server's headline reader does for them (schema/headline.py).
 */
export function verdictOf(s, k) {
  const v = isObj(s?.verdict) ? s.verdict[k] : undefined;
  if (typeof v === "string") return v;
  const flag = isObj(s?.detected) ? s.detected[k] : undefined;
  if (typeof flag === "boolean") return flag ? "detected" : "not detected";
  return legacyVerdict(s?.surplus?.[k]);
}

function legacyVerdict(iv) {
  if (!isInterval(iv) || !Number.isFinite(iv.low)) return null;
  return iv.low > 0 ? "detected" : "not detected";
}

/**
 * Surplus_K as text: "estimate [low, high]", "not detected (≤ upper bound)", or
 * "insufficient data: estimate [low, high]".
 */
export function fmtSurplus(s, k) {
  const v = verdictOf(s, k);
  if (v === "insufficient data") return `insufficient data: ${fmtInterval(s?.surplus?.[k])}`;
  if (v === "not detected") return fmtNotDetected(s?.bounds?.[k]?.high);
  return fmtInterval(s?.surplus?.[k]);
}

const HOVER = {
  "not detected": "not detected: 95% interval not above 0 (the estimate is a floor; the upper "
    + "bound still holds)",
  "insufficient data": "insufficient data: fewer than 20 windows pooled (no verdict)",
  detected: "detected: 95% interval above 0",
};

function byKSpec(s, idealSurplus) {
  const surplus = byNumKey(s.surplus);
  if (!surplus.length) return null;
  const bounds = byNumKey(s.bounds);
  const own = byNumKey(s.exact_surplus);
  const exact = own.length ? own : byNumKey(idealSurplus);
  const verdicts = surplus.map(([k]) => verdictOf(s, k));
  const traces = [ivTrace("Surplus_K estimate (95% interval)", surplus.map(([k]) => k),
    surplus.map(([, v]) => v), {
      hollow: verdicts.map((v) => v !== null && v !== "detected"),
      hover: verdicts.map((v) => HOVER[v] ?? ""),
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
  return {
    id: "surplus.by_k", title: "Information surplus Surplus_K by K", help: "surplus",
    note: "Surplus_K = Σ_j term_j, cross-fitted; the axis follows the estimates, the upper "
      + "bound H(Y_{t+1:t+K−1}|Y_t) is a marker. Trivial bound (K−1)·log|V| in the table."
      + (any("not detected") ? " Hollow markers: not detected (95% interval not above 0)." : "")
      + (any("insufficient data") ? " Hollow markers: insufficient data (< 20 windows)." : ""),
    x: { title: "K (tokens predicted)", category: false },
    y: { title: "nats", rangeFrom: "estimates" },
    traces,
  };
}

function termsSpec(s) {
  const terms = byNumKey(s.terms);
  if (!terms.length) return null;
  const ceiling = byNumKey(s.ceiling);
  const traces = [ivTrace("term_j", terms.map(([j]) => j), terms.map(([, t]) => t?.term), {
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
  return {
    id: "surplus.terms", title: "Chain-rule terms and the context ceiling", help: "surplus-terms",
    note: "term_j = I(H_t; Y_{t+j} | Y_t…Y_{t+j−1}): the chosen no-state CE − the chosen "
      + "with-state CE. C_j = no-state CE − the model's own NLL at t+j (what the whole context "
      + "tells). 95% cluster bootstrap over all windows.",
    x: { title: "offset j (tokens ahead)" }, y: { title: "nats", rangeFrom: "estimates" }, traces,
  };
}

function shareSpec(s) {
  const shares = byNumKey(s.ceiling).filter(([, c]) => isInterval(c?.share));
  if (!shares.length) return null;
  return {
    id: "surplus.share", title: "Share of the context's information already in h_t",
    help: "context-ceiling",
    note: "term_j / C_j: 1 when h_t carries everything the context tells about y_{t+j}.",
    x: { title: "offset j (tokens ahead)" }, y: { title: "share" },
    traces: [ivTrace("term_j / C_j", shares.map(([j]) => j), shares.map(([, c]) => c.share))],
  };
}

function lookaheadSpec(s) {
  const look = arr(s.lookahead).filter(isObj).sort((a, b) => a.j - b.j);
  if (!look.length) return null;
  const x = look.map((l) => l.j);
  return {
    id: "surplus.lookahead", title: "Lookahead information I(H_t; Y_{t+j}) by offset",
    help: "lookahead",
    note: "Lower bound H(Y) − CE(q(y_{t+j} | h_t)), H(Y) the held-out marginal; j = 0 is the "
      + "model's own head.",
    x: { title: "offset j (tokens ahead)" }, y: { title: "nats" },
    traces: [ivTrace("I(H_t; Y_{t+j}) ≥", x, look.map((l) => l.info)),
      { name: "H(Y_{t+j}) (upper bound)", x, y: look.map((l) => l.entropy_y ?? null),
        role: "bound" }],
  };
}

/** A bar chart worth drawing: some finite value, and not all values equal. */
function informative(pairs) {
  const vals = pairs.map(([, v]) => v).filter(Number.isFinite);
  return vals.length > 0 && vals.some((v) => v !== vals[0]);
}

const accOf = (s) => byNumKey(s.drafting?.acc).filter(([j]) => j >= 1);

function draftingSpecs(s) {
  const acc = accOf(s);
  const eal = byNumKey(s.drafting?.expected_accepted_length);
  const out = [];
  if (informative(acc)) {
    out.push({
      id: "surplus.drafting_acc", title: "Drafting proxy: acceptance rate acc_j", help: "drafting",
      note: "Rate at which the with-state readout's argmax equals the model's greedy token at "
        + "t+j (a proxy for a drafter's acceptance).",
      x: { title: "offset j (tokens ahead)" }, y: { title: "fraction (0–1)" },
      traces: [{ name: "acc_j", x: acc.map(([j]) => j), y: acc.map(([, v]) => v), kind: "bar" }],
    });
  }
  if (informative(eal)) {
    out.push({
      id: "surplus.drafting_length", title: "Drafting proxy: expected accepted length",
      help: "drafting",
      note: "Σ_k Π_{j≤k} acc_j, assuming independence (a proxy, not a measured speed-up).",
      x: { title: "K (tokens drafted)" }, y: { title: "tokens" },
      traces: [{ name: "expected accepted length", x: eal.map(([k]) => k),
        y: eal.map(([, v]) => v), kind: "bar" }],
    });
  }
  return out;
}

function perLayerSpec(s) {
  const per = arr(s.per_layer).filter(isObj).sort((a, b) => a.layer - b.layer);
  if (!per.length) return null;
  return {
    id: "surplus.per_layer", title: "Term 1 per layer: where future information lives",
    help: "surplus-per-layer",
    note: "I(H_t^ℓ; Y_{t+1} | Y_t) from readouts of layer ℓ (sampled contexts of one fold); "
      + "95% intervals.",
    x: { title: "layer ℓ (0 = embeddings)" }, y: { title: "nats" },
    traces: [ivTrace("term 1", per.map((p) => p.layer), per.map((p) => p.term1))],
  };
}

/** Chart specs; `idealSurplus`: the exact section's values, used when the suite has none. */
export function specs(s, result) {
  if (!isObj(s)) return [];
  const ideal = result?.exact?.ideal_surplus;
  return [byKSpec(s, ideal), termsSpec(s), shareSpec(s), lookaheadSpec(s), ...draftingSpecs(s),
    perLayerSpec(s)].filter((sp) => sp && nonEmpty(sp));
}

/** One-line text for a drafting proxy that has nothing to chart. */
function draftingMessage(s) {
  const vals = accOf(s).map(([, v]) => v).filter(Number.isFinite);
  if (!vals.length) return "not measured (no greedy tokens known at t+j)";
  if (vals.every((v) => v === vals[0])) {
    return `acc_j = ${fmt(vals[0])} at every offset (nothing to chart)`;
  }
  return null;
}

function surplusRows(s) {
  const rows = [];
  for (const [k, v] of byNumKey(s.surplus)) {
    const verdict = verdictOf(s, k);
    const at = `surplus.surplus.${k}`;
    // Display text (not detected, insufficient data) carries its unit as the third element.
    rows.push(verdict === "detected" || verdict === null
      ? row(`surplus.Surplus K=${k}`, v, at) : row(`surplus.Surplus K=${k}`, fmtSurplus(s, k), at,
        "nats"));
    if (verdict) rows.push(row(`surplus.Verdict K=${k}`, verdict, `surplus.verdict.${k}`, ""));
  }
  return rows;
}

function ceilingRows(s) {
  const rows = [];
  for (const [j, c] of byNumKey(s.ceiling)) {
    rows.push(row(`surplus.Context ceiling C_${j}`, c?.ceiling, `surplus.ceiling.${j}.ceiling`,
      "nats"));
    rows.push(isInterval(c?.share)
      ? row(`surplus.Share term_${j} / C_${j}`, c.share, `surplus.ceiling.${j}.share`, "ratio")
      : row(`surplus.Share term_${j} / C_${j}`, "no share: C_j ≤ 0 (the model's own loss is no "
        + "better than the no-state side)", `surplus.ceiling.${j}.share`, ""));
  }
  return rows;
}

function probeRows(s) {
  const rows = [];
  if (typeof s.capped === "boolean") {
    rows.push(row("surplus.Probe cap", s.capped
      ? "CAPPED: a probe stopped at its step/epoch cap while still improving" : "no probe capped",
    "surplus.capped", ""));
  }
  for (const [k, b] of byNumKey(s.bounds)) {
    rows.push(row(`surplus.Upper bound K=${k}`, b?.high, `surplus.bounds.${k}.high`));
    rows.push(row(`surplus.Trivial bound (K−1)·log|V| K=${k}`, b?.trivial_high,
      `surplus.bounds.${k}.trivial_high`));
  }
  for (const [k, v] of byNumKey(s.exact_surplus)) {
    rows.push(row(`surplus.Exact surplus K=${k}`, v, `surplus.exact_surplus.${k}`));
  }
  for (const [j, t] of byNumKey(s.terms)) {
    if (t?.no_state_choice) {
      rows.push(row(`surplus.Readouts j=${j}`, `no state: ${t.no_state_choice}; with state: `
        + `${t.with_state_choice}`, `surplus.terms.${j}.no_state_choice`, ""));
    }
  }
  return rows;
}

function setupRows(s) {
  const rows = [];
  const message = s.drafting ? draftingMessage(s) : "not measured";
  if (message) rows.push(row("surplus.Drafting proxy", message, "surplus.drafting", ""));
  rows.push(row("surplus.H(Y) held-out marginal", s.marginal_entropy, "surplus.marginal_entropy"));
  rows.push(row("surplus.Probe layer", s.layer, "surplus.layer", ""));
  rows.push(row("surplus.Windows pooled", s.num_windows_pooled, "surplus.num_windows_pooled", ""));
  rows.push(row("surplus.Folds", s.folds, "surplus.folds", ""));
  for (const [k, v] of Object.entries(s.num_contexts || {})) {
    // Test rows pool every fold (each window is test once); train/val are fold 0's.
    rows.push(row(`surplus.Positions (${k}, ${k === "test" ? "all folds" : "fold 0"})`, v,
      `surplus.num_contexts.${k}`, ""));
  }
  rows.push(row("surplus.Seconds", s.seconds, "surplus.seconds"));
  return rows;
}

/** Scalar rows: verdicts, ceilings, bounds, probe set-up. */
export function scalars(s) {
  if (!isObj(s)) return [];
  return [...surplusRows(s), ...ceilingRows(s), ...probeRows(s), ...setupRows(s)]
    .filter(([, v]) => v !== undefined && v !== null);
}

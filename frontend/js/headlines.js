// Headline numbers: which way is good, what chance gives, and how each is shown with its
// interval. Units and definitions come from the server's schema (the Headline component of
// /openapi.json, via units.js), so the models list, the compare page and the dashboard's cards
// read the one text the server declares.

import { fmt, fmtInterval, fmtNotDetected, h } from "./dom.js";
import { verdictOf } from "./sections/surplus.js";
import { fieldAt, unitLabel } from "./units.js";

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isIv = (v) => isObj(v) && isNum(v.estimate);

/** The help link target of a methods section. */
export const methodsUrl = (anchor) => `/methods#${anchor}`;

/** Natural log of the vocabulary size: the NLL and entropy of a uniform predictor. */
export function uniformNats(model) {
  const v = model?.vocab_size;
  return isNum(v) && v > 1 ? Math.log(v) : null;
}

/** `head[key]` with its interval `head[key_low]`, `head[key_high]`, or null without a value. */
export function estimateOf(head, key) {
  const estimate = head?.[key];
  if (!isNum(estimate)) return null;
  const low = head[`${key}_low`];
  const high = head[`${key}_high`];
  return isNum(low) && isNum(high) ? { estimate, low, high } : { estimate };
}

const fmtEst = (e) => (!e ? "—" : "low" in e ? fmtInterval(e) : fmt(e.estimate));

/** Surplus_2's verdict: the stored one, else derived from `detected` (older results). */
export function surplusVerdict(head) {
  const v = head?.surplus_k2_verdict;
  if (typeof v === "string" && v) return v;
  if (head?.surplus_k2_detected === true) return "detected";
  if (head?.surplus_k2_detected === false) return "not detected";
  return null;
}

/** A uniform-ish predictor is trivially calibrated: flag it so a small gap is not praised. */
export function nearUniform(head, model) {
  const u = uniformNats(model);
  return isNum(u) && isNum(head?.mean_entropy) && head.mean_entropy >= 0.9 * u;
}

const pct = (v) => `${fmt(100 * v, v < 0.1 ? 1 : 0)}%`;

/**
 * Every headline metric. `text`: the main display (with its interval); `sub`: a second line
 * (the labelled own-prototype lift, the ECE beside the gap, the estimate under a verdict);
 * `warn`: a caveat shown beside the value. `good` and `chance(model)` feed the tooltip with
 * the server's unit and definition. `field`: where the schema describes a metric the Headline
 * component does not carry (an AnalysisResult path); by default `Headline.<key>`.
 */
export const METRICS = [
  {
    key: "mean_nll", label: "NLL", anchor: "nll", arrow: "↓",
    good: "lower is better",
    chance: (m) => (uniformNats(m) ? `a uniform predictor scores ln V = ${fmt(uniformNats(m))}`
      : "a uniform predictor scores ln V (V = vocabulary size)"),
  },
  {
    key: "mean_entropy", label: "Entropy H(p)", anchor: "nll", arrow: "≈",
    good: "no better direction on its own: it should match the NLL (see the calibration gap)",
    chance: (m) => (uniformNats(m) ? `a uniform predictor has ln V = ${fmt(uniformNats(m))}`
      : "a uniform predictor has ln V"),
  },
  {
    key: "calibration_gap", label: "Calibration gap", anchor: "calibration",
    arrow: "→0",
    good: "closer to 0 is better, but only together with a low NLL",
    chance: () => "a uniform predictor has gap 0 and ECE ≈ 0 (trivially calibrated): a "
      + "near-uniform model is flagged instead of praised",
    text: (hd) => fmtEst(estimateOf(hd, "calibration_gap")),
    sub: (hd) => [isNum(hd.ece) ? `ECE ${fmt(hd.ece)}` : null,
      isNum(hd.calibration_gap_relative) ? `gap/H ${pct(hd.calibration_gap_relative)}` : null]
      .filter(Boolean).join(" · ") || null,
    warn: (hd, m) => (nearUniform(hd, m) ? "near-uniform predictions (entropy ≥ 90% of ln V): "
      + "a small gap and ECE are trivial here, not good calibration" : null),
    warnShort: "near-uniform",
  },
  {
    key: "ece", label: "Top-1 ECE", anchor: "calibration", arrow: "↓",
    good: "lower is better, together with a low NLL",
    chance: () => "≈ 0 for a uniform predictor (never confident, never right)",
  },
  {
    key: "top1_accuracy", label: "Top-1 accuracy", anchor: "nll", arrow: "↑",
    field: "entropy.summary.top1_accuracy",
    good: "higher is better",
    chance: (m) => (isNum(m?.vocab_size) ? `1/V = ${fmt(1 / m.vocab_size)}` : "1/V"),
  },
  {
    key: "surplus_k2", label: "Surplus K=2", anchor: "verdicts", arrow: "↑",
    good: "higher means more lookahead in the state",
    chance: () => "0 for a state with no lookahead (e.g. a random-init model)",
    text: (hd) => {
      const verdict = surplusVerdict(hd);
      if (verdict === "not detected") return fmtNotDetected(hd.surplus_k2_upper);
      if (verdict === "insufficient data") return "insufficient data";
      return fmtEst(estimateOf(hd, "surplus_k2"));
    },
    sub: (hd) => {
      const verdict = surplusVerdict(hd);
      const e = estimateOf(hd, "surplus_k2");
      return verdict && verdict !== "detected" && e ? `estimate ${fmtEst(e)}` : null;
    },
    warn: (hd) => (hd.surplus_capped === true
      ? "a probe stopped at its step cap while still improving: the estimate may be low" : null),
    warnShort: "probe capped",
  },
  {
    key: "alignment_lift_last", label: "Lift (model-free)",
    anchor: "alignment", arrow: "↑",
    good: "higher is better",
    chance: () => "1 = chance (A_rand, centred basis of N − 1 dimensions)",
  },
  {
    key: "alignment_lift_proto_last", label: "Lift (own prototypes)",
    anchor: "kernels", arrow: "↑",
    good: "higher is better within one model",
    chance: () => "1 = chance",
  },
  {
    key: "effective_rank_last", label: "Eff. rank (last)",
    anchor: "representation", arrow: "≈",
    good: "no better direction: describes how spread the representation is",
    chance: () => "a random-init model's is usually high (nearly isotropic states)",
  },
];

export const metric = (key) => METRICS.find((m) => m.key === key);

/** Unit and definition of a metric as the server's schema declares them ("" until loaded). */
export function schemaOf(m) {
  return m.field ? fieldAt(m.field) : fieldAt(m.key, "Headline");
}

/** The display text of a metric's unit ("" for a dimensionless number). */
export const metricUnit = (m) => unitLabel(schemaOf(m).unit);

/** The tooltip of a metric: definition, good direction, chance level, where it is defined. */
export function tooltip(m, model) {
  const { help } = schemaOf(m);
  const unit = metricUnit(m);
  return [`${m.label}${unit ? ` (${unit})` : ""}.${help ? ` ${help}` : ""}`,
    `Good: ${m.good}.`, `Chance: ${m.chance(model)}.`, `Methods: ${methodsUrl(m.anchor)}`]
    .join("\n");
}

/** The main text of a metric for one headline. */
export function metricText(m, head, model) {
  return m.text ? m.text(head, model) : fmtEst(estimateOf(head, m.key));
}

/** The "?" link to the metric's methods section. */
export function helpLink(m, model) {
  return h("a", { class: "help", href: methodsUrl(m.anchor), title: tooltip(m, model),
    "aria-label": `How ${m.label} is defined`, text: "?" });
}

/** A value cell's content: main text, optional second line, optional warning. */
export function metricCell(m, head, model) {
  const sub = m.sub ? m.sub(head, model) : null;
  const warn = m.warn ? m.warn(head, model) : null;
  return [h("span", { class: "v", text: metricText(m, head, model) }),
    sub ? h("div", { class: "sub muted small", text: sub }) : null,
    warn ? h("div", { class: "warn small", title: warn, "aria-label": warn,
      text: `⚠ ${m.warnShort || warn}` }) : null];
}

// ------------------------------------------------------------ headline of a result document

const dig = (obj, path) => path.split(".").reduce((o, k) => (isObj(o) ? o[k] : undefined), obj);

function lastLayerRow(rows, kernel) {
  const data = (Array.isArray(rows) ? rows : []).filter((r) => isObj(r) && r.side === "data"
    && r.kernel === kernel && Number.isInteger(r.layer));
  if (data.length === 0) return null;
  const last = Math.max(...data.map((r) => r.layer));
  return data.find((r) => r.layer === last);
}

function liftFields(row, prefix) {
  if (!row || !isNum(row.lift)) return {};
  const iv = isObj(row.lift_interval) ? row.lift_interval : {};
  return { [prefix]: row.lift, [`${prefix}_low`]: isNum(iv.low) ? iv.low : null,
    [`${prefix}_high`]: isNum(iv.high) ? iv.high : null };
}

const byK = (obj, k) => (isObj(obj) ? obj[k] ?? obj[String(k)] : undefined);

/** The contexts a result's kernels were built on (the server's contexts_key when it has one). */
export function contextsKey(head, result) {
  if (typeof head?.contexts_key === "string" && head.contexts_key) return head.contexts_key;
  const p = result?.provenance;
  const c = p?.config || {};
  const hash = p?.corpus?.hash;
  if (!hash) return null;
  return JSON.stringify([hash, c.n_contexts ?? null, c.window_len ?? p.corpus?.window_len ?? null,
    c.min_position ?? null, p.seed ?? c.seed ?? null, c.split ?? null,
    result?.spectral?.num_contexts ?? null]);
}

/**
 * The headline numbers of one result: the server's headline for it (when it has the
 * model-free lift fields) completed from the result document itself, which also supplies
 * the intervals the server headline does not carry (NLL, entropy, gap).
 */
export function headlineOf(result, serverHead) {
  const s = dig(result, "entropy.summary") || {};
  const own = {};
  for (const key of ["mean_nll", "mean_entropy", "calibration_gap", "perplexity",
    "top1_accuracy"]) {
    const v = s[key];
    if (isIv(v)) Object.assign(own, { [key]: v.estimate, [`${key}_low`]: v.low,
      [`${key}_high`]: v.high });
    else if (isNum(v)) own[key] = v;
  }
  const ece = isNum(s.ece) ? s.ece : dig(result, "entropy.calibration.ece");
  if (isNum(ece)) own.ece = ece;
  if (isNum(own.calibration_gap) && isNum(own.mean_entropy) && own.mean_entropy > 0) {
    own.calibration_gap_relative = own.calibration_gap / own.mean_entropy;
  }
  const sur = result?.surplus;
  const s2 = byK(sur?.surplus, 2);
  if (isIv(s2)) Object.assign(own, { surplus_k2: s2.estimate, surplus_k2_low: s2.low,
    surplus_k2_high: s2.high });
  // The verdict the analysis stored (never re-derived here: sections/surplus.js).
  const verdict = isObj(sur) ? verdictOf(sur, 2) : null;
  if (verdict) Object.assign(own, { surplus_k2_verdict: verdict,
    surplus_k2_detected: verdict === "detected" });
  const upper = byK(sur?.bounds, 2)?.high;
  if (isNum(upper)) own.surplus_k2_upper = upper;
  if (typeof sur?.capped === "boolean") own.surplus_capped = sur.capped;
  const align = result?.spectral?.alignment;
  Object.assign(own, liftFields(lastLayerRow(align, "lin"), "alignment_lift_last"),
    liftFields(lastLayerRow(align, "proto"), "alignment_lift_proto_last"));
  if (isNum(own.alignment_lift_last)) own.alignment_kernel = "lin";
  const reps = (result?.spectral?.representation || []).filter((r) => isObj(r)
    && Number.isInteger(r.layer));
  if (reps.length) {
    const last = reps.reduce((a, b) => (b.layer > a.layer ? b : a));
    if (isNum(last.effective_rank)) own.effective_rank_last = last.effective_rank;
  }
  const server = { ...(serverHead || {}) };
  // A server headline from before the model-free lift led with the own-prototype kernel
  // (K_proto first): its alignment_lift_* is shown as the own-prototype lift, never as the
  // model-free one.
  if (server.alignment_kernel !== "lin") {
    for (const end of ["", "_low", "_high"]) {
      const old = server[`alignment_lift_last${end}`];
      delete server[`alignment_lift_last${end}`];
      if (server.alignment_kernel === undefined && server[`alignment_lift_proto_last${end}`]
        === undefined) server[`alignment_lift_proto_last${end}`] = old;
    }
  }
  // The server's values win; the document fills what the server headline does not carry.
  // An interval goes with its own estimate: a server bound never joins the document's estimate.
  const merged = { ...own };
  const has = (v) => v !== null && v !== undefined;
  for (const [k, v] of Object.entries(server)) {
    const estimateKey = k.replace(/_(low|high)$/, "");
    if (has(v) && (estimateKey === k || has(server[estimateKey]))) merged[k] = v;
  }
  merged.contexts_key = contextsKey(merged, result);
  return merged;
}

/** The server's headline of `resultId` among a model's latest results, if listed there. */
export function serverHeadline(model, resultId) {
  const entry = (Array.isArray(model?.latest) ? model.latest : [])
    .find((e) => e.result_id === resultId);
  return entry?.headline || null;
}

/**
 * b − a with a 95% interval when both have one: the two intervals are treated as independent
 * and their half-widths on each side are added in quadrature.
 */
export function difference(a, b) {
  if (!a || !b) return null;
  const d = { estimate: b.estimate - a.estimate };
  if ("low" in a && "low" in b) {
    d.low = d.estimate - Math.hypot(b.estimate - b.low, a.high - a.estimate);
    d.high = d.estimate + Math.hypot(b.high - b.estimate, a.estimate - a.low);
  }
  return d;
}

export const fmtDifference = (d) => {
  if (!d) return "—";
  const sign = (v) => (v > 0 ? `+${fmt(v)}` : fmt(v));
  return "low" in d ? `${sign(d.estimate)} [${fmt(d.low)}, ${fmt(d.high)}]` : sign(d.estimate);
};

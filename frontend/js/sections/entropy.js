// Entropy section (EntropySuite): NLL and entropy by position, reliability, calibration, and
// the summary cards. The exact comparison's KL curve and data entropy join the position chart.

import { fmt, fmtCount, h, message } from "../dom.js";
import { methodsUrl } from "../headlines.js";
import { curveSpec, fmtNum, get, isCurve, isInterval, isNum, isObj, row } from "./common.js";

export const KEY = "entropy";
export const SCHEMA = "EntropySuite";
/** The fields this module draws (the rest of the suite goes to the generic walker). */
export const FIELDS = ["summary", "nll_by_position", "entropy_by_position", "calibration",
  "entropy_reliability", "unigram_entropy"];
/** Fields shown nowhere on purpose, with the reason. */
export const HIDDEN = {};

/** The y = x line over the range of both axes (reliability plots are drawn equal-aspect). */
function diag(xs, ys = []) {
  const finite = [...xs, ...ys].filter(isNum);
  if (finite.length === 0) return null;
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return { name: "calibrated (y = x)", x: [lo, hi], y: [lo, hi], role: "bound",
    color: "#868e96" };
}

function positionSpec(ent, exact) {
  const curves = [["NLL (mean)", ent.nll_by_position],
    ["Entropy H(p) (mean)", ent.entropy_by_position]];
  if (exact && isCurve(exact.kl_by_position)) {
    curves.push(["exact: KL(p* ‖ p)", exact.kl_by_position]);
  }
  const spec = curveSpec("entropy.by_position", "NLL and entropy by context position",
    curves, "nats / token");
  spec.help = "nll";
  if (exact && isInterval(exact.mean_true_entropy) && spec.traces.length) {
    const xs = spec.traces[0].x;
    spec.traces.push({ name: "exact: mean H(p*) (data entropy)", x: [xs[0], xs[xs.length - 1]],
      y: [exact.mean_true_entropy.estimate, exact.mean_true_entropy.estimate], role: "exact" });
  }
  return spec;
}

function reliabilitySpec(ent) {
  const rel = Array.isArray(ent.entropy_reliability) ? ent.entropy_reliability.filter(isObj) : [];
  if (!rel.length) return null;
  const x = rel.map((b) => b.mean_x);
  const y = rel.map((b) => b.mean_y);
  return {
    id: "entropy.reliability", title: "Entropy reliability: mean NLL per entropy bin",
    help: "reliability", equalAspect: true,
    note: "Equal-mass bins of the predicted entropy H(p_t); on the diagonal the model's "
      + "uncertainty matches its loss.",
    x: { title: "predicted entropy H(p_t) (nats)" }, y: { title: "mean NLL (nats)" },
    traces: [{ name: "mean NLL in bin", x, y }, diag(x, y)].filter(Boolean),
  };
}

function calibrationSpec(cal) {
  if (!cal || !Array.isArray(cal.bins) || !cal.bins.length) return null;
  const x = cal.bins.map((b) => b.mean_x);
  const y = cal.bins.map((b) => b.mean_y);
  return {
    id: "entropy.calibration", title: `Top-1 calibration (ECE ${fmtNum(cal.ece)})`,
    help: "calibration", equalAspect: true,
    note: "15 equal-mass bins of top-1 confidence against top-1 accuracy.",
    x: { title: "top-1 confidence (fraction)", fraction: true },
    y: { title: "top-1 accuracy (fraction)", fraction: true },
    traces: [{ name: "accuracy in bin", x, y }, diag(x, y)].filter(Boolean),
  };
}

/** Chart specs of the entropy suite (with the exact section's curves when there is one). */
export function specs(ent, result) {
  if (!isObj(ent)) return [];
  const exact = isObj(result?.exact) ? result.exact : null;
  const cal = isObj(ent.calibration) ? ent.calibration : null;
  return [positionSpec(ent, exact), reliabilitySpec(ent), calibrationSpec(cal)]
    .filter((sp) => sp && sp.traces.length);
}

/** Scalar rows the cards and charts do not already show. */
export function scalars(ent) {
  if (!isObj(ent)) return [];
  const rows = [];
  if (isNum(ent.unigram_entropy)) {
    rows.push(row("entropy.unigram_entropy H(Y)", ent.unigram_entropy, "entropy.unigram_entropy"));
  }
  const cal = isObj(ent.calibration) ? ent.calibration : null;
  if (cal && isNum(cal.ece)) {
    rows.push(row("entropy.ECE (top-1)", cal.ece, "entropy.calibration.ece"));
  }
  return rows;
}

/** The summary cards: perplexity, Gini and scored tokens (the headline cards hold the rest). */
export function cards(result) {
  const s = get(result, "entropy.summary");
  if (!s) return message("Entropy summary not computed in this result.", "info");
  const card = (label, value, unit, anchor) => h("div", { class: "stat" },
    h("div", { class: "stat-label" }, `${label} `, anchor ? h("a", { class: "help",
      href: methodsUrl(anchor), title: `${label}: see the methods`, text: "?" }) : null),
    h("div", { class: "stat-value", text: value }),
    h("div", { class: "stat-unit", text: unit }));
  return h("div", { class: "stats", id: "summary" },
    card("Perplexity", fmt(s.perplexity), "exp(mean NLL)", "nll"),
    card("Mean Gini (TV entropy)", fmt(s.mean_gini), "1 − Σp²", "entropy"),
    card("Tokens", fmtCount(s.num_tokens), "scored"));
}

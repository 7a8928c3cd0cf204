// Exact comparison (ExactComparison, synthetic sources whose true p* is known): a table of
// the exact quantities; its KL curve and data entropy are drawn on the entropy chart.

import { byNumKey, isObj, row } from "./common.js";

export const KEY = "exact";
export const SCHEMA = "ExactComparison";
export const FIELDS = ["source", "description", "mean_kl", "mean_true_entropy",
  "mean_cross_entropy", "nll_minus_cross_entropy", "identity_max_abs_error", "entropy_rate",
  "model_entropy_minus_true", "kl_by_position", "ideal_surplus", "extra"];
export const HIDDEN = {};

const TABLE = ["mean_kl", "mean_true_entropy", "mean_cross_entropy", "nll_minus_cross_entropy",
  "identity_max_abs_error", "entropy_rate", "model_entropy_minus_true"];

/** Charts of its own: none (the entropy section draws kl_by_position and H(p*)). */
export const specs = () => [];

/** Rows of the exact-comparison table, or [] without one. */
export function scalars(exact) {
  if (!isObj(exact)) return [];
  const rows = [row("exact.source", exact.source, "exact.source")];
  for (const k of TABLE) if (k in exact) rows.push(row(`exact.${k}`, exact[k], `exact.${k}`));
  for (const [k, v] of byNumKey(exact.ideal_surplus)) {
    rows.push(row(`exact.ideal surplus K=${k}`, v, `exact.ideal_surplus.${k}`));
  }
  for (const [k, v] of Object.entries(isObj(exact.extra) ? exact.extra : {})) {
    rows.push(row(`exact.${k}`, v, `exact.extra.${k}`));
  }
  return rows;
}

/** The sentence that says what the synthetic source is. */
export const description = (exact) => (isObj(exact) && exact.description
  ? String(exact.description) : null);

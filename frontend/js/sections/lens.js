// Logit-lens section (LensSuite): per-layer entropy / NLL / KL, agreement, predictive
// information, and the fidelity check of the lens.

import { isNum, isObj, row } from "./common.js";

export const KEY = "lens";
export const SCHEMA = "LensSuite";
export const FIELDS = ["layers", "fidelity", "unigram_entropy", "num_contexts"];
export const HIDDEN = {
  architecture: "how the lens reached the head (module names): debugging detail; the "
    + "provenance panel describes the model",
};

const LAYER_AXIS = { title: "layer ℓ (0 = embeddings)" };

function sortedLayers(lens) {
  return Array.isArray(lens.layers)
    ? lens.layers.filter(isObj).sort((a, b) => a.layer - b.layer) : [];
}

const column = (layers, k) => layers.map((l) => (isNum(l[k]) ? l[k] : null));

function natsSpec(layers, x) {
  return {
    id: "lens.nats", title: "Logit lens per layer: entropy, NLL, KL to the last layer",
    note: "p^ℓ = softmax(U·norm(h^ℓ)) on the sampled contexts (nats). The axis is scaled to "
      + "layers ≥ 1: the embeddings' lens is near-uniform guessing and would flatten the rest.",
    help: "lens", x: LAYER_AXIS,
    // Scaled to the layers after the embeddings (layer 0's NLL can be 100+ nats).
    y: { title: "nats", rangeFrom: "estimates",
      focusX: x.length > 2 ? [x[1], x[x.length - 1]] : undefined },
    traces: [{ name: "mean entropy H(p^ℓ)", x, y: column(layers, "mean_entropy") },
      { name: "mean NLL", x, y: column(layers, "mean_nll") },
      { name: "mean KL(p^L ‖ p^ℓ)", x, y: column(layers, "mean_kl_to_last") }],
  };
}

function agreementSpec(layers, x) {
  return {
    id: "lens.agreement", title: "Logit lens per layer: top-1 agreement and accuracy",
    help: "lens", x: LAYER_AXIS, y: { title: "fraction (0–1)", fraction: true },
    traces: [{ name: "top-1 agreement with last layer", x, y: column(layers, "top1_agreement") },
      { name: "top-1 accuracy", x, y: column(layers, "top1_accuracy") }],
  };
}

function predictiveInfoSpec(layers, x, hy) {
  const info = { name: "I(H^ℓ; Y) ≥ H(Y) − CE^ℓ", x, y: column(layers, "predictive_info"),
    floor: { value: 0, label: "vacuous: the bound is below 0 (I ≥ 0 always)" } };
  return {
    id: "lens.predictive_info", title: "Predictive information per layer",
    help: "predictive-information",
    note: "Lower bound on I(H^ℓ; Y) from the lens cross-entropy; upper bound H(Y), the "
      + "unigram entropy of next tokens. Below 0 the bound is vacuous (I ≥ 0 always): the "
      + "lens cannot decode that layer.",
    x: LAYER_AXIS, y: { title: "nats", rangeFrom: "estimates" },
    traces: [info, isNum(hy)
      ? { name: "upper bound H(Y)", x: [x[0], x[x.length - 1]], y: [hy, hy], role: "bound" }
      : null].filter(Boolean),
  };
}

/** Chart specs of the lens ([] without per-layer rows). */
export function specs(lens, result) {
  if (!isObj(lens)) return [];
  const layers = sortedLayers(lens);
  if (!layers.length) return [];
  const x = layers.map((l) => l.layer);
  const hy = isNum(lens.unigram_entropy) ? lens.unigram_entropy : result?.entropy?.unigram_entropy;
  return [natsSpec(layers, x), agreementSpec(layers, x), predictiveInfoSpec(layers, x, hy)]
    .filter((sp) => sp.traces.length);
}

/** Whether the per-layer lens has something to draw (else the tab says "not computed"). */
export const present = (lens) => isObj(lens) && sortedLayers(lens).length > 0;

export function scalars(lens) {
  if (!isObj(lens)) return [];
  const rows = [];
  if (isObj(lens.fidelity)) {
    const f = lens.fidelity;
    rows.push(row("lens.fidelity max relative error", f.max_relative_error,
      "lens.fidelity.max_relative_error"));
    rows.push(row("lens.fidelity tolerance", f.tolerance, "lens.fidelity.tolerance"));
    rows.push(row("lens.fidelity passed", f.passed ? "yes" : "NO", "lens.fidelity.passed"));
  }
  if (isNum(lens.num_contexts)) {
    rows.push(row("lens.contexts", lens.num_contexts, "lens.num_contexts"));
  }
  return rows;
}

// The dashboard's sections, one module each: what result fields it draws (FIELDS), what it
// leaves out on purpose (HIDDEN, with the reason), its chart specs and its scalar rows. Every
// other field of a section, and every top-level section no module claims, is drawn by the
// generic walker, so a field added to the schema shows up before anyone writes a chart for it.

import { arr, isObj } from "./common.js";
import * as entropy from "./entropy.js";
import * as exact from "./exact.js";
import * as lens from "./lens.js";
import * as spectral from "./spectral.js";
import * as surplus from "./surplus.js";
import { autoSpecs, walkUnclaimed } from "./walker.js";

export const SECTIONS = { entropy, lens, exact, surplus, spectral };

/** Top-level result fields the dashboard shows outside the sections (provenance panel). */
export const PAGE_FIELDS = ["schema_version", "provenance"];

/**
 * Specs, scalar rows, notes and probe fits of one section of `result`: the module's own charts
 * plus the walk of its unclaimed fields; for a key without a module, the walk of it all.
 */
export function sectionView(result, key, title) {
  const section = isObj(result) ? result[key] : undefined;
  const present = section !== undefined && section !== null;
  const view = { specs: [], scalars: [], present, notes: [], probes: [] };
  if (!present) return view;
  const mod = SECTIONS[key];
  if (!mod) {
    autoSpecs(section, key, view.specs, view.scalars, title);
    return view;
  }
  Object.assign(view, ownView(mod, section, result));
  const claimed = new Set([...mod.FIELDS, ...Object.keys(mod.HIDDEN)]);
  walkUnclaimed(section, key, claimed, view.specs, view.scalars);
  return view;
}

/** What a section module itself draws of `section`: its specs, rows, notes and probe fits. */
export function ownView(mod, section, result) {
  return {
    specs: mod.specs(section, result), scalars: mod.scalars(section, result),
    notes: mod.FIELDS.includes("notes") ? arr(section.notes).map(String) : [],
    probes: mod.FIELDS.includes("probes") ? arr(section.probes).filter(isObj) : [],
  };
}

/** Top-level result keys no section module and no page panel claims (drawn by the walker). */
export function unclaimedKeys(result) {
  if (!isObj(result)) return [];
  return Object.keys(result).filter((k) => !(k in SECTIONS) && !PAGE_FIELDS.includes(k)
    && result[k] !== null && result[k] !== undefined);
}

/** Every chart spec of a result's sections (the compare page overlays these). */
export function allSpecs(result) {
  return ["entropy", "lens", "surplus", "spectral"].flatMap((k) => sectionView(result, k).specs);
}

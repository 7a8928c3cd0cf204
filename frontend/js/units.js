// Units, good directions and help texts of result fields, read from the server's OpenAPI
// document: every numeric field of the result models declares "x-unit", "x-direction" and a
// "description" (markovlens/schema/common.py). The page never guesses a unit from a name: a
// field the schema does not describe simply has none ("").

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

let doc = null; // the OpenAPI document once loaded ({} when it could not be)
let loading = null;

/** Fetch /openapi.json once (later calls share the request); never throws. */
export function loadUnits() {
  if (doc) return Promise.resolve(doc);
  if (!loading) {
    loading = fetch("/openapi.json", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}))
      .then((d) => { doc = isObj(d) ? d : {}; return doc; });
  }
  return loading;
}

/** Use `d` as the OpenAPI document (tests; a page that already holds it). */
export function setSchemaDocument(d) {
  doc = isObj(d) ? d : {};
  loading = null;
}

const components = () => (isObj(doc?.components?.schemas) ? doc.components.schemas : {});

/** The component schema `name` (e.g. "AnalysisResult", "SurplusSuite"), or null. */
export function component(name) {
  const c = components()[name];
  return isObj(c) ? c : null;
}

function deref(node) {
  const ref = typeof node?.$ref === "string" ? node.$ref : null;
  if (!ref) return node;
  const name = ref.split("/").pop();
  return component(name) || {};
}

/** The concrete schemas a node may be: $ref followed, anyOf / oneOf / allOf flattened. */
function alternatives(node, seen = 0) {
  if (!isObj(node) || seen > 8) return [];
  const target = deref(node);
  const out = [target];
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    if (Array.isArray(target[key])) {
      for (const sub of target[key]) out.push(...alternatives(sub, seen + 1));
    }
  }
  return out.filter((n) => isObj(n) && n.type !== "null");
}

/** The schema of `node[key]`: a property, a list item, or a dict value (JSON keys by K). */
function child(node, key) {
  const alts = alternatives(node);
  for (const a of alts) if (isObj(a.properties) && key in a.properties) return a.properties[key];
  for (const a of alts) if (a.type === "array" && isObj(a.items)) return a.items;
  for (const a of alts) if (isObj(a.additionalProperties)) return a.additionalProperties;
  return null;
}

/** Metadata a field declares on itself (pydantic puts Field keys beside $ref / anyOf). */
function own(node) {
  const alts = isObj(node) ? [node, ...(Array.isArray(node.allOf) ? node.allOf : [])] : [];
  const meta = {};
  for (const a of alts) {
    if (!isObj(a)) continue;
    if (meta.unit === undefined && typeof a["x-unit"] === "string") meta.unit = a["x-unit"];
    if (meta.direction === undefined && typeof a["x-direction"] === "string") {
      meta.direction = a["x-direction"];
    }
    if (meta.help === undefined && typeof a.description === "string") {
      meta.help = a.description;
    }
  }
  return meta;
}

/**
 * Unit, good direction and help of the value at `path` in a result ("entropy.summary.mean_nll",
 * "surplus.surplus.2", "spectral.alignment.0.lift"), walking the AnalysisResult schema: numbers
 * inside a field with a unit (an Interval's estimate, a curve's points, a dict by K) carry that
 * unit. `known`: the path exists in the schema. Empty strings where nothing is declared.
 */
export function fieldAt(path, root = "AnalysisResult") {
  const none = { unit: "", direction: "", help: "", known: false };
  let node = component(root);
  if (!node) return none;
  let found = { unit: "", direction: "", help: "" };
  const keys = String(path).split(".").filter((k) => k !== "");
  for (let i = 0; i < keys.length; i += 1) {
    node = child(node, keys[i]);
    if (!node) return { ...found, known: false };
    const meta = own(node);
    if (meta.unit !== undefined) {
      found = { unit: meta.unit, direction: meta.direction || "", help: meta.help || "" };
    } else if (i === keys.length - 1 && meta.help && !found.help) {
      found = { ...found, help: meta.help };
    }
  }
  return { ...found, known: true };
}

export const unitAt = (path) => fieldAt(path).unit;
export const helpAt = (path) => fieldAt(path).help;

// How each unit of the schema's vocabulary reads on an axis or in a table.
const LABELS = {
  nats: "nats", bits: "bits", ratio: "ratio", probability: "fraction (0–1)", count: "count",
  tokens: "tokens", seconds: "seconds", bytes: "bytes", dimensionless: "", index: "index",
  eigenvalue: "eigenvalue",
};

/** The display text of a unit ("" for none or a dimensionless number). */
export function unitLabel(unit) {
  return unit in LABELS ? LABELS[unit] : String(unit || "");
}

/** A unit's display text at `path` ("" where the schema declares none). */
export const unitLabelAt = (path) => unitLabel(unitAt(path));

const DIRECTION_TEXT = { higher: "higher is better", lower: "lower is better",
  zero: "closer to 0 is better" };

/** The tooltip of a number: its help text and which way is good. */
export function tooltipAt(path) {
  const f = fieldAt(path);
  return [f.help, DIRECTION_TEXT[f.direction]].filter(Boolean).join(" ");
}

/** The property names of component `name`, or null when the document lacks it. */
export function propertiesOf(name) {
  const c = component(name);
  if (!c) return null;
  const names = new Set();
  for (const a of alternatives(c)) {
    if (isObj(a.properties)) Object.keys(a.properties).forEach((k) => names.add(k));
  }
  return [...names];
}

/** The component a property of AnalysisResult refers to (e.g. "surplus" → "SurplusSuite"). */
export function componentOf(key, root = "AnalysisResult") {
  const node = child(component(root), key);
  for (const n of [node, ...(node ? [...(node.anyOf || []), ...(node.allOf || [])] : [])]) {
    if (typeof n?.$ref === "string") return n.$ref.split("/").pop();
  }
  return null;
}

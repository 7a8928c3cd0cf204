// Submit: model source (+ revision), corpus (choose or upload), preset, advanced options.
// Limits, preset values and run-time estimates come from the server (/server-config), so the
// form cannot drift from what the server accepts; validated in the browser before sending,
// server errors shown next to the form. #/submit?from=<job> pre-fills it from that job.

import { api, apiToken, setApiToken } from "../api.js";
import { h, message, replace } from "../dom.js";
import { fmtSeconds } from "../jobstatus.js";

const MODEL_SCHEMES = ["hf:", "local:", "gguf:", "builtin:", "random-init:"];
const CORPUS_SCHEMES = ["builtin:", "upload:", "synthetic:", "hf-dataset:"];

/** Fallback bounds (AnalysisConfig's) for when the server's own cannot be read. */
const ADVANCED = [
  { name: "seed", label: "Seed", min: 0, max: 2 ** 31 - 1, hint: "fixes splits and sampling" },
  { name: "window_len", label: "Window length (tokens)", min: 8, max: 8192 },
  { name: "max_tokens", label: "Tokens analysed", min: 64, max: 2_000_000 },
  { name: "bootstrap_samples", label: "Bootstrap samples", min: 50, max: 100_000 },
  { name: "n_contexts", label: "Sampled contexts N", min: 16, max: 65_536,
    hint: "for the lens, surplus and spectral suites" },
  { name: "batch_size", label: "Batch size (empty: adapt)", min: 1, max: 4096 },
];

/** The advanced fields with the server's bounds where it states them. */
export function serverFields(limits) {
  return ADVANCED.map((f) => {
    const l = limits?.[f.name];
    return { ...f,
      min: typeof l?.minimum === "number" ? l.minimum : f.min,
      max: typeof l?.maximum === "number" ? l.maximum : f.max };
  });
}

/** The overrides of `config` relative to `preset` (nested sections compared key by key). */
export function overridesOf(config, preset) {
  const out = {};
  for (const [k, v] of Object.entries(config || {})) {
    if (k === "preset") continue;
    const base = preset?.[k];
    if (v && typeof v === "object" && !Array.isArray(v) && base && typeof base === "object") {
      const inner = overridesOf(v, base);
      if (Object.keys(inner).length) out[k] = inner;
    } else if (JSON.stringify(v) !== JSON.stringify(base)) out[k] = v;
  }
  return out;
}

/** Client-side checks; returns {field: message}. */
export function validate(values, fields = ADVANCED) {
  const errors = {};
  const model = values.model.trim();
  if (!model) errors.model = "Enter a model source, e.g. builtin:smollm2-135m or local:/path.";
  else if (!MODEL_SCHEMES.some((s) => model.startsWith(s)) || model.endsWith(":")) {
    errors.model = `Start with one of ${MODEL_SCHEMES.join(" ")} followed by a name.`;
  }
  if (values.corpusMode === "upload") {
    if (!values.file) errors.file = "Choose a text file to upload.";
    else if (values.file.size === 0) errors.file = "The file is empty.";
  } else {
    const corpus = values.corpus.trim();
    if (!corpus) errors.corpus = "Choose or type a corpus source.";
    else if (!CORPUS_SCHEMES.some((s) => corpus.startsWith(s)) || corpus.endsWith(":")) {
      errors.corpus = `Start with one of ${CORPUS_SCHEMES.join(" ")} followed by a name.`;
    }
  }
  for (const f of fields) {
    const raw = values.advanced[f.name];
    if (raw === "" || raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n)) errors[f.name] = "Enter a whole number.";
    else if (n < f.min || n > f.max) errors[f.name] = `Between ${f.min} and ${f.max}.`;
  }
  if (values.extra && values.extra.trim()) {
    try {
      const parsed = JSON.parse(values.extra);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("");
    } catch {
      errors.extra = "Enter a JSON object, e.g. {\"surplus\": {\"max_k\": 4}}.";
    }
  }
  return errors;
}

function field(id, label, input, hint) {
  const err = h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
  input.id = id;
  input.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return h("div", { class: "field", dataset: { field: id } },
    h("label", { for: id, text: label }), input,
    hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null, err);
}

/** Whole numbers in full (fmt rounds to 4 significant digits: 262,144 would read 262,100). */
const whole = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "—"));

/** "quick — 4,096 tokens, N = 2,400 · ≈ 1.5 min (…)" for the preset picker and its hint. */
function presetEstimate(preset) {
  const est = preset.estimate || {};
  const seen = typeof est.observed_median_seconds === "number"
    ? `; on this server: median ${fmtSeconds(est.observed_median_seconds)} over `
      + `${est.observed_jobs} job(s)` : "";
  return `${est.reference || "no reference time"}${seen}`;
}

function presetLabel(preset) {
  const c = preset.config || {};
  return `${preset.name} — ${whole(c.max_tokens)} tokens, N = ${whole(c.n_contexts)}, `
    + `${c.max_layers === null ? "every" : whole(c.max_layers)} layers`;
}

/** Every preset side by side: what it analyses and how long it takes. */
function presetTable(presets) {
  if (!presets.some((p) => p.estimate)) return null;
  return h("div", { class: "table-wrap" }, h("table", { class: "data", id: "preset-table" },
    h("caption", { text: "Presets: size and run time" }),
    h("thead", {}, h("tr", {}, ["Preset", "Tokens", "N contexts", "Layers", "Reference time",
      "On this server"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, presets.map((p) => {
      const c = p.config || {};
      const est = p.estimate || {};
      return h("tr", { dataset: { preset: p.name } },
        h("th", { scope: "row", text: p.name }),
        h("td", { class: "num", text: whole(c.max_tokens) }),
        h("td", { class: "num", text: whole(c.n_contexts) }),
        h("td", { class: "num", text: c.max_layers === null ? "every" : whole(c.max_layers) }),
        h("td", { text: est.reference || "—" }),
        h("td", { text: typeof est.observed_median_seconds === "number"
          ? `median ${fmtSeconds(est.observed_median_seconds)} (${est.observed_jobs} job(s))`
          : "no job yet" }));
    }))));
}

/** What the form needs from the server: corpora, limits and presets, the job to edit. */
async function loadContext(params) {
  const fromId = Number(params?.get("from")) || null;
  const [corporaOut, configOut, fromOut] = await Promise.allSettled([
    api.corpora(), api.serverConfig(), fromId ? api.jobDetail(fromId) : Promise.resolve(null)]);
  const serverConfig = configOut.status === "fulfilled" ? configOut.value : null;
  return {
    fromId,
    corpora: corporaOut.status === "fulfilled" ? corporaOut.value : [],
    corporaError: corporaOut.status === "rejected" ? corporaOut.reason.message : null,
    serverConfig,
    configError: configOut.reason?.message,
    from: fromOut.status === "fulfilled" ? fromOut.value : null,
    fromError: fromOut.reason?.message,
    fields: serverFields(serverConfig?.limits),
    presets: serverConfig?.presets || [{ name: "quick", config: {} },
      { name: "standard", config: {} }, { name: "full", config: {} }],
    synthetic: serverConfig?.synthetic || [],
  };
}

/** The corpus sources offered in the corpus field's list. */
function corpusOptions(ctx) {
  const known = new Set(["builtin:python-docs", ...ctx.synthetic.map((x) => x.source),
    ...ctx.corpora.map((c) => c.source)]);
  return [...known].map((src) => {
    const c = ctx.corpora.find((x) => x.source === src);
    const text = c?.name && c.name !== src ? `${c.name} (${src})` : src;
    return h("option", { value: src, text });
  });
}

/** Every input of the form, by name. */
function makeInputs(ctx) {
  const defaultPreset = ctx.serverConfig?.default_preset || "quick";
  const tokenInput = h("input", { type: "password", name: "api_token", autocomplete: "off",
    value: apiToken() });
  tokenInput.addEventListener("change", () => setApiToken(tokenInput.value.trim()));
  return {
    model: h("input", { type: "text", name: "model", autocomplete: "off",
      placeholder: "builtin:smollm2-135m", spellcheck: "false", list: "model-options" }),
    modelOptions: h("datalist", { id: "model-options" }),
    revision: h("input", { type: "text", name: "revision", placeholder: "main" }),
    corpus: h("input", { type: "text", name: "corpus", list: "corpus-options",
      value: "builtin:python-docs", spellcheck: "false" }),
    file: h("input", { type: "file", name: "file", accept: ".txt,.md,.rst,text/plain" }),
    corpusName: h("input", { type: "text", name: "corpus_name", placeholder: "my notes" }),
    modeChoose: h("input", { type: "radio", name: "corpus-mode", value: "choose",
      id: "mode-choose", checked: true }),
    modeUpload: h("input", { type: "radio", name: "corpus-mode", value: "upload",
      id: "mode-upload" }),
    preset: h("select", { name: "preset" }, ctx.presets.map((p) => h("option", {
      value: p.name, text: p.config?.max_tokens ? presetLabel(p) : p.name,
      selected: p.name === defaultPreset }))),
    presetHint: h("p", { class: "estimate", id: "preset-estimate" }),
    queue: h("input", { type: "text", name: "queue", placeholder: "default" }),
    force: h("input", { type: "checkbox", name: "force", id: "force" }),
    token: tokenInput,
    advanced: Object.fromEntries(ctx.fields.map((f) => [f.name,
      h("input", { type: "number", name: f.name, min: f.min, max: f.max, step: 1,
        inputmode: "numeric" })])),
    extra: h("textarea", { name: "extra", rows: 3, spellcheck: "false",
      placeholder: "{\"surplus\": {\"max_k\": 4}}" }),
    syntheticNote: h("div", { id: "synthetic-note", "aria-live": "polite" }),
  };
}

/** Placeholders and hints: the chosen preset's value of every advanced field. */
function syncPreset(main, ui, ctx) {
  const preset = ctx.presets.find((p) => p.name === ui.preset.value) || ctx.presets[0];
  ui.presetHint.textContent = preset.estimate ? `Run time: ${presetEstimate(preset)}.` : "";
  for (const f of ctx.fields) {
    const value = preset.config?.[f.name];
    const input = ui.advanced[f.name];
    input.placeholder = value === null || value === undefined
      ? (f.name === "batch_size" ? "adapt" : "") : `preset: ${value}`;
    const hint = main.querySelector(`#${f.name}-hint`);
    if (hint) {
      hint.textContent = `${f.hint ? `${f.hint}; ` : ""}${preset.name} preset: `
        + `${value === null || value === undefined ? "adapt" : whole(value)}; `
        + `allowed ${whole(f.min)}–${whole(f.max)}`;
    }
  }
}

/** The note under a synthetic corpus: its vocabulary and the models that fit it. */
function syntheticLines(info, fit, modelInput) {
  const lines = [h("strong", { text: `${info.source}: a vocabulary of ${info.vocab_size} `
    + "symbols. " }), "A pretrained model cannot run on it (its token ids would be "
    + "meaningless); use a checkpoint trained on this source."];
  if (fit.length) {
    lines.push(h("span", { text: ` Models that fit (${fit.length}): ` }),
      h("ul", { id: "fitting-models" }, fit.map((m) => h("li", {}, h("button", {
        type: "button", class: "small link", text: m,
        onclick: () => { modelInput.value = m; modelInput.focus(); } })))));
  } else {
    lines.push(h("span", { text: " No model on this server fits it yet: train one with " }),
      h("code", { text: `markovlens lab train --source ${info.source}` }),
      h("span", { text: " (checkpoints under a model root are listed here)." }));
  }
  return lines;
}

/** Synthetic corpora have tiny vocabularies: list the models that fit, or say none does. */
function corpusSyncer(ui, synthetic) {
  let shownFor = null;
  return () => {
    const corpus = ui.corpus.value.trim();
    // "change" fires again on blur (e.g. when a listed model is clicked): redraw only on news.
    const key = `${corpus}|${ui.modeUpload.checked}`;
    if (key === shownFor) return;
    shownFor = key;
    const info = synthetic.find((x) => x.source === corpus);
    const fit = info?.models || [];
    replace(ui.modelOptions, (info ? fit : []).map((m) => h("option", { value: m })));
    if (!corpus.startsWith("synthetic:") || ui.modeUpload.checked) {
      replace(ui.syntheticNote);
    } else if (!info) {
      replace(ui.syntheticNote, message(`Unknown synthetic source; known: `
        + `${synthetic.map((x) => x.source).join(", ") || "none"}.`, "info"));
    } else {
      replace(ui.syntheticNote, h("div", { class: "msg msg-info", role: "status" },
        syntheticLines(info, fit, ui.model)));
    }
  };
}

/** The corpus fieldset's two boxes (choose a source / upload a file), switched by the radios. */
function corpusBoxes(ui, ctx) {
  const chooseBox = h("div", { class: "corpus-choose" },
    field("corpus", "Corpus source", ui.corpus,
      "builtin:python-docs, upload:<id>, synthetic:<name> or hf-dataset:<name>:<split>"),
    h("datalist", { id: "corpus-options" }, corpusOptions(ctx)), ui.syntheticNote);
  const uploadBox = h("div", { class: "corpus-upload", hidden: true },
    field("file", "Text file", ui.file, "Plain UTF-8 text; it is stored on the server."),
    field("corpus_name", "Name (optional)", ui.corpusName));
  const syncCorpus = corpusSyncer(ui, ctx.synthetic);
  const syncMode = () => {
    chooseBox.hidden = !ui.modeChoose.checked;
    uploadBox.hidden = ui.modeChoose.checked;
    syncCorpus();
  };
  ui.modeChoose.addEventListener("change", syncMode);
  ui.modeUpload.addEventListener("change", syncMode);
  ui.corpus.addEventListener("input", syncCorpus);
  ui.corpus.addEventListener("change", syncCorpus);
  return { chooseBox, uploadBox, syncMode };
}

function advancedBox(ui, fields) {
  return h("details", { class: "advanced" }, h("summary", { text: "Advanced options" }),
    h("div", { class: "adv-grid" },
      fields.map((f) => field(f.name, f.label, ui.advanced[f.name], f.hint || " ")),
      field("extra", "Other overrides (JSON)", ui.extra,
        "any other config key, merged over the fields above"),
      field("queue", "Queue", ui.queue, "worker queue, e.g. cpu or gpu"),
      field("api_token", "API token", ui.token,
        "only if the server requires one; kept in this tab, sent as a bearer token"),
      h("div", { class: "field" }, h("label", { for: "force" }, ui.force,
        " Re-run even if an identical result exists"))));
}

/** The form: model, corpus and analysis fieldsets, the submit button and its status line. */
function buildForm(ui, ctx, boxes, advanced, submitBtn, status) {
  return h("form", { id: "submit-form", novalidate: true },
    h("fieldset", {}, h("legend", { text: "Model" }),
      field("model", "Model source", ui.model,
        "hf:<repo>, local:<dir>, gguf:<file>, builtin:smollm2-135m, random-init:<source>"),
      ui.modelOptions,
      field("revision", "Revision (optional)", ui.revision)),
    h("fieldset", {}, h("legend", { text: "Corpus" }),
      h("div", { class: "radios" },
        h("label", {}, ui.modeChoose, " Choose a corpus"),
        h("label", {}, ui.modeUpload, " Upload a text file")),
      boxes.chooseBox, boxes.uploadBox,
      ctx.corporaError ? message(`Could not list corpora: ${ctx.corporaError}`, "error") : null),
    h("fieldset", {}, h("legend", { text: "Analysis" }),
      field("preset", "Preset", ui.preset), ui.presetHint, presetTable(ctx.presets),
      ctx.serverConfig ? null : message("Could not read the server's limits and presets "
        + `(${ctx.configError}); the form uses built-in bounds.`, "error"),
      advanced),
    h("div", { class: "actions" }, submitBtn), status);
}

/** Mark the fields in `errors`; focus the first (opening "Advanced options" if it is there). */
function showErrors(form, errors) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const [name, text] of Object.entries(errors)) {
    const err = form.querySelector(`#${name}-error`);
    if (err) err.textContent = text;
    form.querySelector(`#${name}`)?.setAttribute("aria-invalid", "true");
  }
  const first = Object.keys(errors)[0];
  const input = first ? form.querySelector(`#${first}`) : null;
  const closed = input?.closest("details:not([open])");
  if (closed) closed.open = true; // an error inside "Advanced options" must be visible
  input?.focus();
}

function formValues(ui, fields) {
  return {
    model: ui.model.value, corpus: ui.corpus.value,
    corpusMode: ui.modeUpload.checked ? "upload" : "choose", file: ui.file.files[0],
    advanced: Object.fromEntries(fields.map((f) => [f.name, ui.advanced[f.name].value.trim()])),
    extra: ui.extra.value,
  };
}

/** Upload the corpus if asked, then submit the job; resolves to the server's job. */
async function sendJob(ui, values, status) {
  let corpus = values.corpus.trim();
  if (values.corpusMode === "upload") {
    replace(status, message("Uploading corpus…"));
    const created = await api.uploadCorpus(values.file, ui.corpusName.value.trim() || null);
    corpus = created.source;
  }
  const overrides = {
    ...(values.extra.trim() ? JSON.parse(values.extra) : {}),
    ...Object.fromEntries(Object.entries(values.advanced)
      .filter(([, v]) => v !== "").map(([k, v]) => [k, Number(v)])),
  };
  return api.submitJob({
    model: values.model.trim(), revision: ui.revision.value.trim() || null, corpus,
    preset: ui.preset.value, config: Object.keys(overrides).length ? overrides : null,
    queue: ui.queue.value.trim() || null, force: ui.force.checked,
  });
}

function submittedMessage(job) {
  return h("p", { class: "msg msg-ok", role: "status" },
    job.reused
      ? `An equal job exists: #${job.id} (${job.status}); tick "Re-run even if an identical `
        + "result exists\" to run it again. "
      : `Job #${job.id} queued (${job.status}). `,
    h("a", { href: `#/jobs?highlight=${job.id}`, text: "Follow its progress" }), " · ",
    h("a", { href: `#/job/${job.id}`, text: "its page" }));
}

/** Validate, then send; the status line says what happened. */
async function onSubmit(event, ui, ctx, form, submitBtn, status) {
  event.preventDefault();
  setApiToken(ui.token.value.trim());
  const values = formValues(ui, ctx.fields);
  const errors = validate(values, ctx.fields);
  showErrors(form, errors);
  replace(status);
  if (Object.keys(errors).length) {
    status.append(message("Fix the highlighted fields.", "error"));
    return;
  }
  submitBtn.disabled = true;
  try {
    const job = await sendJob(ui, values, status);
    replace(status, submittedMessage(job));
    status.dataset.jobId = String(job.id);
  } catch (err) {
    replace(status, h("p", { class: "msg msg-error server-error", role: "alert" },
      h("strong", { text: `Server refused the job${err.status ? ` (${err.status})` : ""}: ` }),
      err.message));
  } finally {
    submitBtn.disabled = false;
  }
}

/** Edit and resubmit: the job's sources, preset, queue and every override of its preset. */
function prefill(ui, ctx, advanced) {
  if (!ctx.fromId) return null;
  if (!ctx.from) return message(`Could not read job #${ctx.fromId}: ${ctx.fromError}`, "error");
  const job = ctx.from.job;
  ui.model.value = job.model_source;
  ui.revision.value = ctx.from.revision || "";
  ui.corpus.value = job.corpus_source;
  if (ctx.presets.some((p) => p.name === job.preset)) ui.preset.value = job.preset;
  ui.queue.value = job.queue === "cpu" ? "" : job.queue;
  ui.force.checked = true; // the same config again would only return the old job
  const preset = ctx.presets.find((p) => p.name === job.preset);
  const rest = overridesOf(job.config, preset?.config);
  for (const f of ctx.fields) {
    if (f.name in rest) {
      ui.advanced[f.name].value = rest[f.name] === null ? "" : String(rest[f.name]);
      delete rest[f.name];
    }
  }
  if (Object.keys(rest).length) ui.extra.value = JSON.stringify(rest, null, 1);
  advanced.open = true;
  return message(`Pre-filled from job #${job.id} (${job.status}); change what you need `
    + "and submit.", "info");
}

export async function render(main, { params } = { params: new URLSearchParams() }) {
  const ctx = await loadContext(params);
  const ui = makeInputs(ctx);
  const boxes = corpusBoxes(ui, ctx);
  ui.preset.addEventListener("change", () => syncPreset(main, ui, ctx));
  const status = h("div", { id: "submit-status", "aria-live": "polite" });
  const submitBtn = h("button", { type: "submit", id: "submit-job", text: "Submit job" });
  const advanced = advancedBox(ui, ctx.fields);
  const form = buildForm(ui, ctx, boxes, advanced, submitBtn, status);
  form.addEventListener("submit", (e) => onSubmit(e, ui, ctx, form, submitBtn, status));
  const fromNote = prefill(ui, ctx, advanced);
  replace(main, h("h1", { text: ctx.fromId ? `Edit and resubmit job #${ctx.fromId}`
    : "Submit an analysis" }),
    h("p", { class: "lede", text: "The worker loads the model, cuts the corpus into windows and "
      + "runs the entropy, surplus and spectral suites. Fields are checked before sending." }),
    fromNote, form);
  if (fromNote) fromNote.id = "from-note";
  syncPreset(main, ui, ctx);
  boxes.syncMode();
  return null;
}

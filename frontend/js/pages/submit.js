// Submit: model source (+ revision), corpus (choose or upload), preset, advanced options.
// Validated in the browser before sending; server errors are shown next to the form.

import { api, apiToken, setApiToken } from "../api.js";
import { h, message, replace } from "../dom.js";

const MODEL_SCHEMES = ["hf:", "local:", "gguf:", "builtin:", "random-init:"];
const CORPUS_SCHEMES = ["builtin:", "upload:", "synthetic:", "hf-dataset:"];

/** Bounds mirror AnalysisConfig (the server validates again). */
const ADVANCED = [
  { name: "seed", label: "Seed", min: 0, max: 2 ** 31 - 1, hint: "fixes splits and sampling" },
  { name: "window_len", label: "Window length (tokens)", min: 8, max: 8192 },
  { name: "max_tokens", label: "Tokens analysed", min: 64, max: 100_000_000 },
  { name: "bootstrap_samples", label: "Bootstrap samples", min: 50, max: 100_000 },
  { name: "n_contexts", label: "Sampled contexts N", min: 16, max: 1_000_000,
    hint: "for the lens, surplus and spectral suites" },
  { name: "batch_size", label: "Batch size (empty: adapt)", min: 1, max: 4096 },
];

/** Client-side checks; returns {field: message}. */
export function validate(values) {
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
  for (const f of ADVANCED) {
    const raw = values.advanced[f.name];
    if (raw === "" || raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isInteger(n)) errors[f.name] = "Enter a whole number.";
    else if (n < f.min || n > f.max) errors[f.name] = `Between ${f.min} and ${f.max}.`;
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

export async function render(main) {
  let corpora = [];
  let corporaError = null;
  try {
    corpora = await api.corpora();
  } catch (err) {
    corporaError = err.message;
  }
  const known = new Set(["builtin:python-docs", ...corpora.map((c) => c.source)]);
  const options = [...known].map((src) => {
    const c = corpora.find((x) => x.source === src);
    return h("option", { value: src, text: c?.name && c.name !== src ? `${c.name} (${src})` : src });
  });
  const modelInput = h("input", { type: "text", name: "model", autocomplete: "off",
    placeholder: "builtin:smollm2-135m", spellcheck: "false" });
  const revisionInput = h("input", { type: "text", name: "revision", placeholder: "main" });
  const corpusInput = h("input", { type: "text", name: "corpus", list: "corpus-options",
    value: "builtin:python-docs", spellcheck: "false" });
  const fileInput = h("input", { type: "file", name: "file", accept: ".txt,.md,.rst,text/plain" });
  const nameInput = h("input", { type: "text", name: "corpus_name", placeholder: "my notes" });
  const modeChoose = h("input", { type: "radio", name: "corpus-mode", value: "choose",
    id: "mode-choose", checked: true });
  const modeUpload = h("input", { type: "radio", name: "corpus-mode", value: "upload",
    id: "mode-upload" });
  const presetSelect = h("select", { name: "preset" },
    h("option", { value: "quick", text: "quick — 4k tokens, fast" }),
    h("option", { value: "standard", text: "standard — 16k tokens", selected: true }),
    h("option", { value: "full", text: "full — 262k tokens" }));
  const queueInput = h("input", { type: "text", name: "queue", placeholder: "default" });
  const forceInput = h("input", { type: "checkbox", name: "force", id: "force" });
  const tokenInput = h("input", { type: "password", name: "api_token", autocomplete: "off",
    value: apiToken() });
  tokenInput.addEventListener("change", () => setApiToken(tokenInput.value.trim()));
  const advInputs = Object.fromEntries(ADVANCED.map((f) => [f.name,
    h("input", { type: "number", name: f.name, min: f.min, max: f.max, step: 1,
      inputmode: "numeric" })]));

  const chooseBox = h("div", { class: "corpus-choose" },
    field("corpus", "Corpus source", corpusInput,
      "builtin:python-docs, upload:<id>, synthetic:<name> or hf-dataset:<name>:<split>"),
    h("datalist", { id: "corpus-options" }, options));
  const uploadBox = h("div", { class: "corpus-upload", hidden: true },
    field("file", "Text file", fileInput, "Plain UTF-8 text; it is stored on the server."),
    field("corpus_name", "Name (optional)", nameInput));
  const syncMode = () => {
    chooseBox.hidden = !modeChoose.checked;
    uploadBox.hidden = modeChoose.checked;
  };
  modeChoose.addEventListener("change", syncMode);
  modeUpload.addEventListener("change", syncMode);

  const status = h("div", { id: "submit-status", "aria-live": "polite" });
  const submitBtn = h("button", { type: "submit", id: "submit-job", text: "Submit job" });
  const form = h("form", { id: "submit-form", novalidate: true },
    h("fieldset", {}, h("legend", { text: "Model" }),
      field("model", "Model source", modelInput,
        "hf:<repo>, local:<dir>, gguf:<file>, builtin:smollm2-135m, random-init:<source>"),
      field("revision", "Revision (optional)", revisionInput)),
    h("fieldset", {}, h("legend", { text: "Corpus" }),
      h("div", { class: "radios" },
        h("label", {}, modeChoose, " Choose a corpus"),
        h("label", {}, modeUpload, " Upload a text file")),
      chooseBox, uploadBox,
      corporaError ? message(`Could not list corpora: ${corporaError}`, "error") : null),
    h("fieldset", {}, h("legend", { text: "Analysis" }),
      field("preset", "Preset", presetSelect),
      h("details", { class: "advanced" }, h("summary", { text: "Advanced options" }),
        h("div", { class: "adv-grid" },
          ADVANCED.map((f) => field(f.name, f.label, advInputs[f.name], f.hint)),
          field("queue", "Queue", queueInput, "worker queue, e.g. cpu or gpu"),
          field("api_token", "API token", tokenInput,
            "only if the server requires one; kept in this tab, sent as a bearer token"),
          h("div", { class: "field" }, h("label", { for: "force" }, forceInput,
            " Re-run even if an identical result exists"))))),
    h("div", { class: "actions" }, submitBtn), status);

  const showErrors = (errors) => {
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
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setApiToken(tokenInput.value.trim());
    const values = {
      model: modelInput.value, corpus: corpusInput.value,
      corpusMode: modeUpload.checked ? "upload" : "choose", file: fileInput.files[0],
      advanced: Object.fromEntries(ADVANCED.map((f) => [f.name, advInputs[f.name].value.trim()])),
    };
    const errors = validate(values);
    showErrors(errors);
    replace(status);
    if (Object.keys(errors).length) {
      status.append(message("Fix the highlighted fields.", "error"));
      return;
    }
    submitBtn.disabled = true;
    try {
      let corpus = values.corpus.trim();
      if (values.corpusMode === "upload") {
        replace(status, message("Uploading corpus…"));
        const created = await api.uploadCorpus(values.file, nameInput.value.trim() || null);
        corpus = created.source;
      }
      const overrides = Object.fromEntries(Object.entries(values.advanced)
        .filter(([, v]) => v !== "").map(([k, v]) => [k, Number(v)]));
      const job = await api.submitJob({
        model: values.model.trim(), revision: revisionInput.value.trim() || null, corpus,
        preset: presetSelect.value, config: Object.keys(overrides).length ? overrides : null,
        queue: queueInput.value.trim() || null, force: forceInput.checked,
      });
      replace(status, h("p", { class: "msg msg-ok", role: "status" },
        `Job #${job.id} queued (${job.status}). `,
        h("a", { href: `#/jobs?highlight=${job.id}`, text: "Follow its progress" })));
      status.dataset.jobId = String(job.id);
    } catch (err) {
      replace(status, h("p", { class: "msg msg-error server-error", role: "alert" },
        h("strong", { text: `Server refused the job${err.status ? ` (${err.status})` : ""}: ` }),
        err.message));
    } finally {
      submitBtn.disabled = false;
    }
  });

  replace(main, h("h1", { text: "Submit an analysis" }),
    h("p", { class: "lede", text: "The worker loads the model, cuts the corpus into windows and "
      + "runs the entropy, surplus and spectral suites. Fields are checked before sending." }),
    form);
  return null;
}

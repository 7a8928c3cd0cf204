// One job (#/job/<id>): status with ETA, the resolved model, its config, the analysis's stage
// timings and an event log; cancel while active, "Edit and resubmit" (a pre-filled Submit
// form) always. Polls every second while the job is queued or running.

import { api } from "../api.js";
import { fmt, fmtCount, fmtDate, h, message, replace } from "../dom.js";
import { ACTIVE, fmtSeconds, progressCell } from "../jobstatus.js";

const POLL_MS = 1000;

function dl(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", { text: k }),
    h("dd", { text: v === null || v === undefined || v === "" ? "—" : String(v) })]));
}

function stagesTable(detail) {
  if (!detail.stages.length) {
    return message(detail.job.status === "succeeded" ? "No stage timings were recorded."
      : "Stage timings are recorded with the result (when the job succeeds).", "info");
  }
  const longest = Math.max(...detail.stages.map((s) => s.seconds), 1e-9);
  const sum = detail.stages.reduce((a, s) => a + s.seconds, 0);
  const table = h("table", { class: "data", id: "job-stages" },
    h("caption", { text: "Analysis stage timings (wall-clock seconds)" }),
    h("thead", {}, h("tr", {}, ["Stage", "Seconds", "Share", ""].map((t) =>
      h("th", { scope: "col", text: t })))),
    h("tbody", {}, detail.stages.map((s) => h("tr", {},
      h("th", { scope: "row", text: s.stage }),
      h("td", { class: "num", text: fmt(s.seconds) }),
      h("td", { class: "num", text: `${Math.round((100 * s.seconds) / (sum || 1))}%` }),
      h("td", {}, h("span", { class: "stage-bar", dataset: { w: s.seconds / longest } }))))));
  for (const bar of table.querySelectorAll(".stage-bar")) {
    bar.style.width = `${Math.round(Number(bar.dataset.w) * 160)}px`;
  }
  return table;
}

function logList(detail) {
  return h("ol", { class: "job-log", id: "job-log" }, detail.log.map((e) => h("li", {
    class: e.level === "error" ? "error" : "" },
  h("time", { datetime: e.at || "", text: e.at ? fmtDate(e.at) : "now" }),
  h("strong", { text: e.event }), e.detail ? ` — ${e.detail}` : "")));
}

export async function render(main, { args }) {
  const jobId = Number(args[0]);
  const serverConfig = await api.serverConfig().catch(() => null);
  let timer = null;
  let stopped = false;
  const notice = h("div", { "aria-live": "polite", id: "job-notice" });

  async function draw() {
    clearTimeout(timer);
    const detail = await api.jobDetail(jobId);
    const job = detail.job;
    const m = detail.model || {};
    const actions = h("div", { class: "toolbar" },
      h("a", { href: `#/submit?from=${job.id}`, class: "button-link", id: "resubmit",
        text: "Edit and resubmit" }),
      job.result_id ? h("a", { href: `#/model/${job.model_id}?result=${job.result_id}`,
        text: "View result" }) : null,
      ACTIVE.has(job.status) ? h("button", { type: "button", class: "small danger",
        text: "Cancel", onclick: async () => {
          try {
            await api.cancelJob(job.id);
            replace(notice, message(`Cancellation of job #${job.id} requested.`));
          } catch (err) {
            replace(notice, message(`Could not cancel: ${err.message}`, "error"));
          }
          draw().catch(() => {});
        } }) : null,
      h("a", { href: "#/jobs", text: "All jobs" }));
    replace(main,
      h("h1", { text: `Job #${job.id}` }),
      h("p", { class: "muted", text: `${job.model_source} · ${job.corpus_source} · ${job.preset}`
        + ` · queue ${job.queue}` }),
      actions, notice,
      h("div", { class: `job-status status-${job.status}`, id: "job-status",
        dataset: { status: job.status } },
      h("span", { class: `badge ${job.status}`, text: job.status }), " ",
      progressCell(job, serverConfig),
      job.error ? h("p", { class: "job-error", role: "alert", text: job.error }) : null),
      h("div", { class: "prov-grid" },
        h("div", {}, h("h4", { text: "Times" }), dl([
          ["submitted", fmtDate(job.created_at)], ["started", fmtDate(job.started_at)],
          ["finished", fmtDate(job.finished_at)],
          ["run time", fmtSeconds(detail.total_seconds)],
          ["attempts", `${job.attempts} of ${job.max_attempts}`]])),
        h("div", {}, h("h4", { text: "Model" }), dl([
          ["source", m.source], ["revision asked", detail.revision],
          ["revision", m.revision], ["content hash", m.content_hash],
          ["architecture", m.architecture], ["layers", m.num_layers],
          ["vocabulary", m.vocab_size], ["parameters", fmtCount(m.num_parameters)]]))),
      h("h2", { text: "Stage timings" }), stagesTable(detail),
      h("h2", { text: "Log" }), logList(detail),
      detail.notes.length ? h("details", {}, h("summary", { text: "Estimator notes" }),
        h("ul", { class: "notes" }, detail.notes.map((n) => h("li", { text: n })))) : null,
      h("h2", { text: "Config" }),
      h("pre", { class: "config", id: "job-config", text: JSON.stringify(job.config, null, 2) }));
    main.dataset.jobStatus = job.status;
    if (!stopped && ACTIVE.has(job.status)) timer = setTimeout(() => draw().catch(() => {}), POLL_MS);
  }

  await draw();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

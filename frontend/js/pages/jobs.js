// Jobs: the queue with live progress (polled every 1 s while any job is active), ETA, errors,
// cancel; each job links to its page (config, stage timings, log, edit and resubmit).

import { api } from "../api.js";
import { fmtDate, h, message, replace } from "../dom.js";
import { ACTIVE, progressCell } from "../jobstatus.js";

const POLL_MS = 1000;

function duration(job) {
  if (!job.started_at) return "—";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const s = Math.max(0, (end - new Date(job.started_at)) / 1000);
  return s < 90 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function jobRow(job, highlight, onCancel, serverConfig) {
  const cancel = ACTIVE.has(job.status)
    ? h("button", { type: "button", class: "small danger", text: "Cancel",
      "aria-label": `Cancel job ${job.id}`, onclick: () => onCancel(job) })
    : null;
  const result = job.result_id && job.model_id
    ? h("a", { href: `#/model/${job.model_id}?result=${job.result_id}`, text: "View result" })
    : null;
  return h("tr", { class: `job status-${job.status}${highlight ? " highlight" : ""}`,
    dataset: { jobId: job.id, status: job.status } },
    h("td", { class: "num" }, h("a", { href: `#/job/${job.id}`, text: `#${job.id}`,
      "aria-label": `Job ${job.id}: config, timings and log` })),
    h("td", { class: "name" }, h("div", { text: job.model_source }),
      h("div", { class: "muted small", text: `${job.corpus_source} · ${job.preset}`
        + `${job.queue ? ` · queue ${job.queue}` : ""}` })),
    h("td", {}, h("span", { class: `badge ${job.status}`, text: job.status })),
    h("td", { class: "progress-cell" }, progressCell(job, serverConfig)),
    h("td", { class: "small", text: `${fmtDate(job.created_at)} · ${duration(job)}`
      + (job.attempts > 1 ? ` · attempt ${job.attempts}/${job.max_attempts}` : "") }),
    h("td", {}, job.error ? h("p", { class: "job-error", text: job.error }) : null, result, cancel,
      job.status === "failed" || job.status === "cancelled"
        ? h("a", { href: `#/submit?from=${job.id}`, class: "resubmit", text: "Edit and resubmit" })
        : null));
}

export async function render(main, { params }) {
  const highlight = Number(params.get("highlight")) || null;
  const statusFilter = params.get("status") || "";
  const filter = h("select", { id: "status-filter", onchange: (e) => {
    location.hash = e.target.value ? `#/jobs?status=${e.target.value}` : "#/jobs";
  } }, ["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) =>
    h("option", { value: s, selected: s === statusFilter, text: s || "all" })));
  const notice = h("div", { "aria-live": "polite", id: "jobs-notice" });
  const tbody = h("tbody");
  const total = h("span", { class: "muted" });
  let timer = null;
  let stopped = false;
  // Run-time estimates for the ETA; the page works without them.
  const serverConfig = await api.serverConfig().catch(() => null);

  const onCancel = async (job) => {
    try {
      await api.cancelJob(job.id);
      replace(notice, message(`Cancellation of job #${job.id} requested.`));
    } catch (err) {
      replace(notice, message(`Could not cancel job #${job.id}: ${err.message}`, "error"));
    }
    refresh();
  };

  async function refresh() {
    clearTimeout(timer);
    try {
      const page = await api.jobs({ status: statusFilter || null, limit: 50 });
      const items = page.items || [];
      // Keep keyboard focus on the same control across redraws.
      const focused = document.activeElement?.closest?.("tr[data-job-id]")?.dataset.jobId;
      replace(tbody, items.map((j) => jobRow(j, j.id === highlight, onCancel, serverConfig)));
      if (focused) tbody.querySelector(`tr[data-job-id="${focused}"] button`)?.focus();
      total.textContent = `${items.length} of ${page.total ?? items.length} jobs`;
      if (items.length === 0) {
        replace(tbody, h("tr", {}, h("td", { colspan: 6, text: "No jobs." })));
      }
      main.dataset.active = String(items.filter((j) => ACTIVE.has(j.status)).length);
    } catch (err) {
      replace(notice, message(`Could not load jobs: ${err.message}`, "error"));
    }
    // Poll always (new jobs may arrive from the CLI); fast enough for a smooth progress bar.
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }

  replace(main, h("h1", { text: "Jobs" }),
    h("div", { class: "toolbar" }, h("label", { for: "status-filter", text: "Status" }), filter,
      total, h("a", { href: "#/submit", class: "button-link", text: "Submit a job" })),
    notice,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "jobs-table" },
      h("thead", {}, h("tr", {}, ["Job", "Model · corpus · preset", "Status", "Progress",
        "Created · duration", ""].map((t) => h("th", { scope: "col", text: t })))),
      tbody)));
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

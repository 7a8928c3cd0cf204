// A job's progress as a person reads it: a bar coloured by status (a failed job's bar is red
// and says where it stopped), its stage, elapsed time and an ETA.
//
// ETA: once the job is past loading (progress ≥ 12%), remaining = elapsed · (1 − p) / p; before
// that the progress fraction says little, so the median run time of earlier succeeded jobs of
// the same model (else the same preset) on this server stands in, when there are any.

import { h } from "./dom.js";

export const ACTIVE = new Set(["queued", "running"]);
const RATE_FROM = 0.12;

export function fmtSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function elapsedSeconds(job, now = Date.now()) {
  if (!job.started_at) return null;
  const end = job.finished_at ? new Date(job.finished_at).getTime() : now;
  return Math.max(0, (end - new Date(job.started_at).getTime()) / 1000);
}

/** Median run time of earlier jobs like this one, from /server-config estimates. */
export function typicalSeconds(job, serverConfig) {
  const preset = serverConfig?.presets?.find((p) => p.name === job.preset);
  const est = preset?.estimate;
  if (!est) return null;
  const byModel = est.by_model?.[job.model_source];
  if (typeof byModel === "number") return { seconds: byModel, basis: "this model's earlier jobs" };
  if (typeof est.observed_median_seconds === "number") {
    return { seconds: est.observed_median_seconds,
      basis: `${est.observed_jobs} earlier ${job.preset} job(s)` };
  }
  return null;
}

/** {text, seconds|null}: what is left of a running job, or why it cannot be said yet. */
export function eta(job, serverConfig, now = Date.now()) {
  if (job.status === "queued") return { text: "waiting for a worker", seconds: null };
  if (job.status !== "running") return { text: "", seconds: null };
  const elapsed = elapsedSeconds(job, now) ?? 0;
  const p = job.progress || 0;
  if (p >= RATE_FROM && p < 1) {
    const left = (elapsed * (1 - p)) / p;
    return { text: `≈ ${fmtSeconds(left)} left (from the rate so far)`, seconds: left };
  }
  const typical = typicalSeconds(job, serverConfig);
  if (typical) {
    const left = Math.max(0, typical.seconds - elapsed);
    return { text: `≈ ${fmtSeconds(left)} left (typical: ${fmtSeconds(typical.seconds)}, `
      + `${typical.basis})`, seconds: left };
  }
  return { text: "estimating… (no earlier job to go by yet)", seconds: null };
}

/** The progress cell: <progress> (kept for its value), percentage, stage, elapsed and ETA. */
export function progressCell(job, serverConfig) {
  const pct = Math.round((job.progress || 0) * 100);
  const failed = job.status === "failed";
  const bar = h("progress", { max: 100, value: pct, class: `status-${job.status}`,
    "aria-label": `Job ${job.id} progress`,
    "aria-valuetext": failed ? `failed at ${pct}%` : `${pct}% ${job.status}` });
  const pctText = failed ? `failed at ${pct}%` : `${pct}%`;
  const elapsed = elapsedSeconds(job);
  const left = eta(job, serverConfig);
  return [bar,
    h("span", { class: `pct${failed ? " failed" : ""}`, text: pctText }),
    h("div", { class: "stage muted small", text: job.stage || "" }),
    h("div", { class: "eta muted small", text: [
      elapsed !== null && ACTIVE.has(job.status) ? `running ${fmtSeconds(elapsed)}` : null,
      left.text || null].filter(Boolean).join(" · ") })];
}

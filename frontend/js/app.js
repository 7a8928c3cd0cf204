// Hash router: #/models, #/model/<id>[?result=<rid>&tab=<tab>], #/compare?results=1,2, #/submit,
// #/jobs. Each page module exports render(main, params) and may return a cleanup function.

import { api } from "./api.js";
import { chartsSettled, setChartContext } from "./charts.js";
import { h, message, replace } from "./dom.js";
import * as compare from "./pages/compare.js";
import * as dashboard from "./pages/dashboard.js";
import * as job from "./pages/job.js";
import * as jobs from "./pages/jobs.js";
import * as models from "./pages/models.js";
import * as submit from "./pages/submit.js";

const ROUTES = { models, model: dashboard, compare, submit, jobs, job };

let cleanup = null;
let firstRoute = true;

export function parseHash(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const [pathPart, query = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean);
  return { name: parts[0] || "models", args: parts.slice(1), params: new URLSearchParams(query) };
}

async function route() {
  const main = document.getElementById("main");
  const hash = location.hash;
  const { name, args, params } = parseHash(hash);
  const page = ROUTES[name];
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  for (const a of document.querySelectorAll("nav a[data-route]")) {
    const active = a.dataset.route === name || (name === "model" && a.dataset.route === "models")
      || (name === "job" && a.dataset.route === "jobs");
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!page) {
    replace(main, h("h1", { text: "Not found" }), message(`No page “${name}”.`, "error"));
    return;
  }
  replace(main, h("p", { class: "loading", text: "Loading…" }));
  setChartContext({}); // exported figures carry the context of the page that set it, no other
  main.dataset.page = name;
  main.dataset.ready = "false";
  main.dataset.renderedHash = "";
  try {
    cleanup = await page.render(main, { args, params });
    await chartsSettled(); // the first chart of a page loads Plotly: "ready" means drawn
  } catch (err) {
    replace(main, h("h1", { text: "Something went wrong" }), message(err.message, "error"));
  }
  // Which route finished rendering: "ready" alone can still be the previous page's between a
  // hash change and its handler.
  main.dataset.renderedHash = hash;
  main.dataset.ready = "true";
  // After in-app navigation, put keyboard and screen-reader focus at the new page's start.
  if (!firstRoute && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
  firstRoute = false;
}

async function showHealth() {
  const el = document.getElementById("health");
  try {
    const info = await api.health();
    el.textContent = `v${info.version} · ${info.database} · queue ${info.queue}`;
  } catch (err) {
    el.textContent = `server unreachable: ${err.message}`;
    el.classList.add("bad");
  }
}

window.addEventListener("hashchange", route);
route();
showHealth();

// Thin client for the REST API v1. Errors carry the server's readable "detail".

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : describeDetail(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** FastAPI 422 bodies carry a list of {loc, msg}; turn them into one readable line each. */
export function describeDetail(detail) {
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
      })
      .join("; ");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return String(detail ?? "request failed");
}

const TOKEN_KEY = "markovlens.apiToken";

/** The API token for servers that require one (kept for this browser tab only). */
export function apiToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setApiToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token simply is not remembered
  }
}

// Sent with every request: the server refuses writes without it (or a JSON body), so another
// web page cannot post a form or a body-less request to a server running on this machine.
const CLIENT_HEADER = "X-Markovlens-Client";

async function request(method, path, { body, form } = {}) {
  const init = { method, headers: { Accept: "application/json", [CLIENT_HEADER]: "web" } };
  const token = apiToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (form) init.body = form;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (err) {
    throw new ApiError(0, `cannot reach the server (${err.message})`);
  }
  const type = response.headers.get("content-type") || "";
  const payload = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = payload && typeof payload === "object" && "detail" in payload
      ? payload.detail
      : `${response.status} ${response.statusText}`;
    const hint = response.status === 401
      ? " (this server requires an API token: enter it on the Submit page)"
      : "";
    throw new ApiError(response.status, typeof detail === "string" ? detail + hint : detail);
  }
  return payload;
}

export const api = {
  health: () => request("GET", "/health"),
  models: () => request("GET", "/models"),
  model: (id) => request("GET", `/models/${encodeURIComponent(id)}`),
  corpora: () => request("GET", "/corpora"),
  uploadCorpus: (file, name) => {
    const form = new FormData();
    form.append("file", file);
    if (name) form.append("name", name);
    return request("POST", "/corpora", { form });
  },
  submitJob: (body) => request("POST", "/jobs", { body }),
  jobs: (params = {}) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, v);
    return request("GET", `/jobs?${q}`);
  },
  job: (id) => request("GET", `/jobs/${encodeURIComponent(id)}`),
  cancelJob: (id) => request("POST", `/jobs/${encodeURIComponent(id)}/cancel`),
  result: (id) => request("GET", `/results/${encodeURIComponent(id)}`),
  tokens: (id, window) => request("GET",
    `/results/${encodeURIComponent(id)}/tokens?window=${Number(window) || 0}`),
  jobDetail: (id) => request("GET", `/jobs/${encodeURIComponent(id)}/detail`),
  serverConfig: () => request("GET", "/server-config"),
  compare: (ids) => request("GET", `/compare?result_ids=${ids.map(Number).join(",")}`),
  csvUrl: (id) => `${BASE}/results/${encodeURIComponent(id)}/csv`,
  // The one CSV format is made by the server (api/csvexport.py); pages download its text.
  resultCsv: (id) => request("GET", `/results/${encodeURIComponent(id)}/csv`),
  compareCsv: (ids) => request("GET", `/compare/csv?result_ids=${ids.map(Number).join(",")}`),
};

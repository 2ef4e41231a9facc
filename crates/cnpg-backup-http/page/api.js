// The HTTP API of cnpg-backup, as the page calls it: bearer token, JSON in and out, problem
// documents turned into ApiError, and a restore's event stream read with fetch (EventSource
// cannot send an Authorization header).

const TOKEN_KEY = "cnpg-backup.token";

/** The API's base path, as the server that serves the page wrote it in the page. */
export const apiBase = (() => {
  const meta = document.querySelector('meta[name="cnpg-backup-api"]');
  const base = meta ? meta.getAttribute("content") : "/api/v1";
  return base.replace(/\/+$/, "");
})();

/** An error answer of the API (a problem document), or a network failure. */
export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "request failed");
    this.problem = problem;
    this.status = problem.status || 0;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Takes a token from the URL fragment (`#token=…`, never sent to the server) and removes it. */
export function takeTokenFromFragment() {
  const hash = location.hash.replace(/^#/, "");
  if (!hash) return false;
  const params = new URLSearchParams(hash);
  const t = params.get("token");
  if (!t) return false;
  setToken(t);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  return true;
}

let onUnauthorized = () => {};
/** What to do when the API answers 401 (the token is wrong or expired). */
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

async function problemOf(res) {
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      const doc = await res.json();
      if (doc && typeof doc === "object") return { status: res.status, ...doc };
    } catch (_) { /* fall through */ }
  }
  return { status: res.status, title: res.statusText, detail: `${res.status} ${res.statusText}`, category: "http" };
}

/** Calls `method path` with an optional JSON body (or FormData); returns the parsed answer. */
export async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token() || ""}`, Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`${apiBase}/${path}`, init);
  } catch (e) {
    throw new ApiError({ status: 0, title: "network error", detail: `cannot reach the server: ${e.message}`, category: "network" });
  }
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401) onUnauthorized(problem);
    throw new ApiError(problem);
  }
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const put = (path, body) => call("PUT", path, body);

/**
 * Follows `restores/{id}/events`: calls `onRestore(view)` for each `restore` event until the
 * stream ends (a settled phase), `signal` aborts, or an `error` event arrives (thrown).
 */
export async function followRestore(id, onRestore, signal) {
  const res = await fetch(`${apiBase}/restores/${encodeURIComponent(id)}/events`, {
    headers: { Authorization: `Bearer ${token() || ""}`, Accept: "text/event-stream" },
    cache: "no-store",
    signal,
  });
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401) onUnauthorized(problem);
    throw new ApiError(problem);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
      if (!data.length) continue;
      const doc = JSON.parse(data.join("\n"));
      if (event === "restore") onRestore(doc);
      else if (event === "error") throw new ApiError(doc);
    }
  }
}

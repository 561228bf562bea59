// Shared by every view of the web page: the API call (with the token, if the server asks for one), a small
// DOM builder, number and time formats, and the live event stream. Plain ES modules: no build step.

const TOKEN_KEY = "storehouse.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

// What the server made of the stored token: "none" (no token stored), "unknown" (not sent yet), "accepted" (an
// answer other than 401 came back) or "refused" (401). The token button shows it; onTokenState(fn) follows it.
let tokenState = token() ? "unknown" : "none";
const tokenListeners = new Set();

export const tokenStateNow = () => tokenState;

export function onTokenState(fn) {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

function setTokenState(state) {
  if (state === tokenState) return;
  tokenState = state;
  tokenListeners.forEach((fn) => fn(state));
}

// a status the server answered a request that carried the stored token with
function sawStatus(status) {
  if (!token()) setTokenState("none");
  else if (status === 401) setTokenState("refused");
  else if (status < 500) setTokenState("accepted");
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
  setTokenState(value ? "unknown" : "none");
}

function headers(extra) {
  const all = { Accept: "application/json", ...(extra || {}) };
  if (token()) all.Authorization = `Bearer ${token()}`;
  return all;
}

// GET (or any method) a JSON API path such as "/api/projects"; throws ApiError with the server's message.
export async function api(path, options = {}) {
  const init = { ...options, headers: headers(options.headers) };
  if (options.body !== undefined && typeof options.body !== "string") {
    init.body = JSON.stringify(options.body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  sawStatus(response.status);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const body = /^application\/(.+\+)?json\b/.test(type) ? await response.json() : await response.text();
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || "http_error", error.message || `${response.status}`);
  }
  return body;
}

// "/api/projects/" + encoded segments: path("projects", p, "executions") -> /api/projects/p/executions
export function path(...segments) {
  return "/api/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
}

// path with a query string made of the non-empty values of params
export function withQuery(base, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${base}?${text}` : base;
}

// h("a", {href: "#/", class: "link", onclick: fn}, "text", child, [more children])
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  const add = (child) => {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) child.forEach(add);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  };
  children.forEach(add);
  return node;
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status || "unknown"}`, "data-status": status || "" }, status || "—");
}

// One format for every amount of a table's cost column, so the column reads in one precision: 2 decimals when
// every non-zero amount is a cent or more, else as many as the smallest amount needs to show two significant
// digits (at most 6: "$0.000012"); an amount that still rounds to zero shows as "< $0.000001".
export function costColumn(amounts) {
  const nonzero = amounts.filter((usd) => typeof usd === "number" && usd > 0);
  const smallest = nonzero.length ? Math.min(...nonzero) : 1;
  const decimals = smallest >= 0.01 ? 2 : Math.min(6, Math.ceil(-Math.log10(smallest)) + 1);
  const floor = 10 ** -decimals / 2;
  return (usd) => {
    if (usd === null || usd === undefined) return "—";
    if (usd > 0 && usd < floor) return `< $${(10 ** -decimals).toFixed(decimals)}`;
    return `$${usd.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })}`;
  };
}

// one amount on its own (a card, a total): 2 decimals from a cent up, two significant digits below
export function formatCost(usd) {
  if (usd === null || usd === undefined) return "—";
  if (usd === 0) return "$0.00";
  if (usd < 0.000001) return "< $0.000001";
  if (usd < 0.01) return `$${usd.toFixed(Math.min(6, 1 - Math.floor(Math.log10(usd))))}`;
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function formatTokens(n) {
  if (n === null || n === undefined) return "—";
  if (n >= 999_500) return `${(n / 1e6).toFixed(n >= 9_950_000 ? 0 : 1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return n.toLocaleString("en-US");
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(s < 9.995 ? 2 : 1)} s`;
  const whole = Math.round(s); // round once, so 119.6 s is "2 min 0 s", never "1 min 60 s"
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m} min ${whole % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// "2026-11-20T10:00:05.000Z" -> "2026-11-20 10:00:05" (UTC, as stored)
export function formatTime(ts) {
  if (!ts) return "—";
  return ts.replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "");
}

// Follow GET /api/projects/{p}/events. fetch, not EventSource, so the token header can be sent.
// onEvent({type, id, data}) is called for each event; onState("connected" | "retrying" | "stopped", status), if
// given, when the stream opens, drops (it reconnects after 1 s, resuming) or stops for good (a 4xx answer).
// Returns a function that stops following.
export function follow(project, onEvent, onState) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  const run = async () => {
    while (!stopped) {
      try {
        const extra = { Accept: "text/event-stream" };
        if (lastId) extra["Last-Event-ID"] = lastId;
        const response = await fetch(path("projects", project, "events"), {
          headers: headers(extra),
          signal: controller.signal,
        });
        sawStatus(response.status);
        if (response.status >= 400 && response.status < 500) {
          stopped = true; // 401 (token), 404: retrying would not help; the view's own calls show the error
          if (onState) onState("stopped", response.status);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        if (onState) onState("connected", response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = { type: "message", id: null, data: "" };
            const data = [];
            for (const line of block.split("\n")) {
              if (!line || line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "event") event.type = text;
              else if (field === "id") event.id = text;
              else if (field === "data") data.push(text);
            }
            if (event.id) lastId = event.id;
            event.data = data.join("\n");
            if (event.type !== "message" || event.data) onEvent(event);
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      if (!stopped && onState) onState("retrying", null);
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  run();
  return () => {
    stopped = true;
    controller.abort();
  };
}

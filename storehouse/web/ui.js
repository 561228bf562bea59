// What the views of app.js share: icons, the hashes of the routes, relative times and number formats beyond
// lib.js, the copy button, the empty state, and the JSON tree of a run's input, output and metadata.
import { formatDuration, formatTime, h } from "./lib.js";

export const STATUSES = ["completed", "failed", "running", "pending", "cancelled"];
export const LIVE_DEBOUNCE_MS = 300;
// A run still "running" with no update (its updatedAt) for this long is shown as stale: an agent that works
// writes its steps as it goes, so ten silent minutes mostly mean its process died without saying so.
export const STALE_AFTER_MS = 10 * 60 * 1000;
const AVATAR_COLOURS = ["#4f46e5", "#0e9384", "#c11574", "#175cd3", "#b54708", "#6927da", "#3e4784", "#067647"];

const ICONS = {
  search: "M7 12.5a5.5 5.5 0 1 0 0-11 5.5 5.5 0 0 0 0 11zM11 11l3.5 3.5",
  key: "M10.5 1.5a4 4 0 1 1-3.6 5.7L1.5 12.6v2h2.5v-1.5h1.5v-1.5h1.5l1.4-1.4a4 4 0 0 1 2.1-8.7zM11.5 4.5h.01",
  chevron: "M6 3.5l4.5 4.5L6 12.5",
  back: "M10 3.5L5.5 8l4.5 4.5",
  next: "M6 3.5l4.5 4.5L6 12.5",
  copy: "M5.5 5.5V2.8c0-.5.4-.8.8-.8h6.9c.5 0 .8.3.8.8v6.9c0 .5-.3.8-.8.8h-2.7M2.8 5.5h6.9c.5 0 .8.3.8.8v6.9c0 .5-.3.8-.8.8H2.8a.8.8 0 0 1-.8-.8V6.3c0-.4.3-.8.8-.8z",
  alert: "M8 1.8l6.5 11.7h-13zM8 6.5v3M8 11.5h.01",
  lock: "M4.5 7V5a3.5 3.5 0 0 1 7 0v2M3 7h10v7H3zM8 10v1.5",
  runs: "M5.5 4h9M5.5 8h9M5.5 12h9M1.5 4h.01M1.5 8h.01M1.5 12h.01",
  stats: "M1.5 14.5h13M4 12V8M8 12V3.5M12 12V6.5",
  tasks: "M1.5 4l1.5 1.5L5.5 3M1.5 10.5L3 12l2.5-2.5M8.5 4.5h6M8.5 11h6",
  box: "M2 5l6-3 6 3v6l-6 3-6-3zM2 5l6 3 6-3M8 8v6",
  clock: "M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM8 4.5V8l2.5 1.5",
  x: "M4 4l8 8M12 4l-8 8",
  inbox: "M1.5 9.5l2-6.5h9l2 6.5v4h-13zM1.5 9.5h4l1 1.5h3l1-1.5h4",
  filter: "M1.5 2.5h13l-5 6v5l-3 1.5v-6.5z",
};

export function icon(name, size = 16) {
  return h(
    "svg:svg",
    {
      width: size,
      height: size,
      viewBox: "0 0 16 16",
      fill: "none",
      stroke: "currentColor",
      "stroke-width": 1.6,
      "stroke-linecap": "round",
      "stroke-linejoin": "round",
      "aria-hidden": "true",
    },
    h("svg:path", { d: ICONS[name] }),
  );
}

export const enc = encodeURIComponent;
export const projectHash = (project) => `#/p/${enc(project)}`;
export const runHash = (project, id) => `#/p/${enc(project)}/runs/${enc(id)}`;
export const taskHash = (project, taskId) => `#/p/${enc(project)}/tasks/${enc(taskId)}`;

function hashOf(text) {
  let n = 0;
  for (const c of String(text)) n = (n * 31 + c.codePointAt(0)) >>> 0;
  return n;
}

export function avatar(project) {
  const colour = AVATAR_COLOURS[hashOf(project) % AVATAR_COLOURS.length];
  return h("span", { class: "avatar", style: { background: colour }, "aria-hidden": "true" }, project.slice(0, 1));
}

const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["week", 7 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

// "3 days ago", "in 2 hours" (the stored times are UTC; this is relative to the browser's clock)
export function relative(ts) {
  const at = Date.parse(ts);
  if (Number.isNaN(at)) return "";
  const seconds = (at - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      if (unit === "second" && Math.abs(seconds) < 30) return "just now";
      return relativeFormat.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

// formatDuration of lib.js expects whole milliseconds (an average is not)
export const duration = (ms) => formatDuration(ms === null || ms === undefined ? ms : Math.round(ms));

export function percent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "—";
  const value = ratio * 100;
  return `${value >= 99.95 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.title = "Copied";
  } catch {
    button.title = "Copy failed: select the text instead";
  }
}

export function copyButton(text, label) {
  const button = h("button", { class: "copy", type: "button", title: label, "aria-label": label }, icon("copy", 14));
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    event.preventDefault();
    copyText(typeof text === "function" ? text() : text, button);
  });
  return button;
}

export function empty(iconName, title, ...body) {
  return h("div", { class: "empty" }, h("div", { class: "icon" }, icon(iconName, 22)), h("h2", null, title), body);
}

// whether a run (its document: the list's summaries carry no updatedAt) is running but silent too long
export function isStale(run, now = Date.now()) {
  const at = time(run.updatedAt || run.startedAt);
  return run.status === "running" && at !== null && now - at > STALE_AFTER_MS;
}

// a stale run's status badge stops blinking, and "stale" follows it
export function markStale(badge, run) {
  badge.classList.add("is-stale");
  badge.after(staleBadge(run));
}

function staleBadge(run) {
  const at = run.updatedAt || run.startedAt;
  return h(
    "span",
    {
      class: "badge stale",
      "data-stale": "true",
      title:
        `Still "running", but nothing was written since ${formatTime(at)} UTC (${relative(at)}): ` +
        "its process may have stopped without saying so",
    },
    "stale",
  );
}

// a timestamp in milliseconds, or null if it is none
export const time = (ts) => {
  const at = Date.parse(ts);
  return Number.isNaN(at) ? null : at;
};

// a JSON value as a tree of <details>: objects and arrays fold, the first levels open; a folded branch is
// built when first opened, so a large output costs nothing until it is looked at
export function jsonTree(value, openDepth = 2) {
  if (value === null || value === undefined) return h("div", { class: "json-none" }, "none");
  return h("div", { class: "json" }, jsonNode(null, value, 0, openDepth));
}

function jsonNode(key, value, depth, openDepth) {
  const label =
    key === null
      ? null
      : typeof key === "number"
        ? [h("span", { class: "p" }, `${key}`), h("span", { class: "p" }, ": ")]
        : [h("span", { class: "k" }, JSON.stringify(key)), h("span", { class: "p" }, ": ")];
  if (value !== null && typeof value === "object") {
    const array = Array.isArray(value);
    const entries = array ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) return h("div", { class: "leaf" }, label, h("span", { class: "p" }, array ? "[]" : "{}"));
    const preview = array
      ? `${entries.length} item${entries.length === 1 ? "" : "s"}`
      : entries
          .slice(0, 4)
          .map(([k]) => k)
          .join(", ") + (entries.length > 4 ? ", …" : "");
    const open = depth < openDepth;
    const details = h(
      "details",
      { open },
      h(
        "summary",
        null,
        label,
        h("span", { class: "p" }, array ? "[" : "{"),
        h("span", { class: "pv" }, preview),
        h("span", { class: "p close" }, array ? "]" : "}"),
      ),
    );
    const fill = () => {
      if (details.dataset.filled) return;
      details.dataset.filled = "1";
      details.append(
        h(
          "div",
          { class: "kids" },
          entries.map(([k, v]) => jsonNode(k, v, depth + 1, openDepth)),
        ),
      );
    };
    if (open) fill();
    else details.addEventListener("toggle", fill);
    return details;
  }
  let shown;
  if (typeof value === "string") shown = h("span", { class: "s" }, JSON.stringify(value));
  else if (typeof value === "number") shown = h("span", { class: "n" }, String(value));
  else if (typeof value === "boolean") shown = h("span", { class: "b" }, String(value));
  else shown = h("span", { class: "z" }, "null");
  return h("div", { class: "leaf" }, label, shown);
}

export function jsonPane(title, value, openDepth = 2) {
  return h(
    "div",
    { class: "pane", "data-pane": title.toLowerCase() },
    h(
      "div",
      { class: "pane-title" },
      title,
      value === null || value === undefined
        ? null
        : copyButton(() => JSON.stringify(value, null, 2), `Copy ${title.toLowerCase()} as JSON`),
    ),
    jsonTree(value, openDepth),
  );
}

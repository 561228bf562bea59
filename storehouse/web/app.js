// The web page: a hash router, the page frame (top bar, breadcrumb, token form, project tabs) and the views of
// projects, of a project's runs and of one run. Stats and tasks live in stats.js and tasks.js.
//
// Routes: #/ projects · #/p/{project}?status=&tag=&q=&from=&to=&sort=&limit= runs · #/p/{project}/runs/{id} one run
//         #/p/{project}/stats · #/p/{project}/tasks[/{taskId}]
// Every list is one page from the server's index (never the whole project), so a project of 100,000 runs
// costs what a project of 100 does.
import {
  ApiError,
  api,
  follow,
  formatCost,
  formatDuration,
  formatTime,
  formatTokens,
  h,
  path,
  setToken,
  statusBadge,
  token,
  withQuery,
} from "./lib.js";

const STATUSES = ["completed", "failed", "running", "pending", "cancelled"];
const SORTS = ["-startedAt", "startedAt", "-duration", "duration", "-costUSD", "costUSD"];
const DEFAULT_SORT = "-startedAt";
const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;
const LIVE_DEBOUNCE_MS = 300;
const AGENT_COLOURS = ["#6172f3", "#0ba5ec", "#15b79e", "#dd2590", "#875bf7", "#e62e05", "#099250", "#c4320a"];
const AVATAR_COLOURS = ["#4f46e5", "#0e9384", "#c11574", "#175cd3", "#b54708", "#6927da", "#3e4784", "#067647"];

// ---------------------------------------------------------------------------------------------- small helpers

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

function icon(name, size = 16) {
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

const enc = encodeURIComponent;
const projectHash = (project) => `#/p/${enc(project)}`;
const runHash = (project, id) => `#/p/${enc(project)}/runs/${enc(id)}`;
const taskHash = (project, taskId) => `#/p/${enc(project)}/tasks/${enc(taskId)}`;

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function hashOf(text) {
  let n = 0;
  for (const c of String(text)) n = (n * 31 + c.codePointAt(0)) >>> 0;
  return n;
}

function avatar(project) {
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
function relative(ts) {
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
const duration = (ms) => formatDuration(ms === null || ms === undefined ? ms : Math.round(ms));

function percent(ratio) {
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

function copyButton(text, label) {
  const button = h("button", { class: "copy", type: "button", title: label, "aria-label": label }, icon("copy", 14));
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    event.preventDefault();
    copyText(typeof text === "function" ? text() : text, button);
  });
  return button;
}

function empty(iconName, title, ...body) {
  return h("div", { class: "empty" }, h("div", { class: "icon" }, icon(iconName, 22)), h("h2", null, title), body);
}

// ------------------------------------------------------------------------------------------------ page frame

const frame = {
  view: document.getElementById("view"),
  crumbs: document.getElementById("crumbs"),
  subbar: document.getElementById("subbar"),
  actions: document.getElementById("actions"),
  live: document.getElementById("live"),
  tokenButton: null,
  popover: null,
};

function setLive(mode) {
  frame.live.hidden = !mode;
  frame.live.classList.toggle("on", mode === "on");
  frame.live.querySelector(".txt").textContent = mode === "on" ? "Live" : "Connecting";
}

function setCrumbs(items) {
  const nodes = [];
  items.forEach((item, index) => {
    if (index) nodes.push(h("span", { class: "sep", "aria-hidden": "true" }, "›"));
    const last = index === items.length - 1;
    nodes.push(
      last || !item.href
        ? h("span", { class: "here", "aria-current": last ? "page" : null, title: item.label }, item.label)
        : h("a", { href: item.href }, item.label),
    );
  });
  frame.crumbs.replaceChildren(...nodes);
}

const TABS = [
  ["runs", "Runs", "runs", (p) => projectHash(p)],
  ["stats", "Stats", "stats", (p) => `${projectHash(p)}/stats`],
  ["tasks", "Tasks", "tasks", (p) => `${projectHash(p)}/tasks`],
];

function drawChrome(route) {
  const project = route.project;
  const tab = route.view === "run" ? "runs" : route.view;
  const tabLabel = (TABS.find(([key]) => key === tab) || [])[1];
  const crumbs = [{ label: "Projects", href: "#/" }];
  if (project) {
    crumbs.push({ label: project, href: projectHash(project) });
    if (tabLabel) crumbs.push({ label: tabLabel, href: TABS.find(([key]) => key === tab)[3](project) });
    if (route.view === "run") crumbs.push({ label: route.id });
    if (route.view === "tasks" && route.taskId) crumbs.push({ label: route.taskId });
  }
  setCrumbs(crumbs);
  document.title = project ? `${tabLabel || "Not found"} · ${project} · storehouse` : "Projects · storehouse";
  frame.subbar.hidden = !project;
  if (!project) {
    frame.subbar.replaceChildren();
    return;
  }
  frame.subbar.replaceChildren(
    h(
      "div",
      { class: "subbar-inner" },
      h("div", { class: "project-title" }, avatar(project), h("h1", null, project)),
      h(
        "nav",
        { class: "tabs", "aria-label": "Project views" },
        TABS.map(([key, label, iconName, target]) =>
          h(
            "a",
            { class: `tab${key === tab ? " active" : ""}`, href: target(project), "data-tab": key },
            icon(iconName, 15),
            label,
          ),
        ),
      ),
    ),
  );
}

function tokenForm(onDone, autofocus) {
  const input = h("input", {
    class: "input",
    type: "password",
    name: "token",
    placeholder: "Bearer token",
    autocomplete: "off",
    "aria-label": "API token",
    value: token(),
  });
  const form = h(
    "form",
    {
      class: "token-form",
      onsubmit: (event) => {
        event.preventDefault();
        setToken(input.value.trim());
        onDone();
      },
    },
    h("div", { class: "row" }, input, h("button", { class: "btn primary", type: "submit" }, "Save")),
    h("p", { class: "muted" }, "Kept in this browser (local storage) and sent with every API request."),
    token()
      ? h(
          "div",
          null,
          h(
            "button",
            {
              class: "btn small",
              type: "button",
              onclick: () => {
                setToken("");
                onDone();
              },
            },
            "Forget the token",
          ),
        )
      : null,
  );
  if (autofocus) setTimeout(() => input.focus(), 0);
  return form;
}

function drawTokenButton() {
  const button = h(
    "button",
    {
      class: "btn ghost small",
      type: "button",
      id: "token-button",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      title: token() ? "A token is set for this browser" : "Set the API token",
    },
    icon("key", 14),
    "Token",
    token() ? h("span", { class: "token-state", "aria-label": "set" }) : null,
  );
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    if (frame.popover) closePopover();
    else openPopover();
  });
  if (frame.tokenButton) frame.tokenButton.replaceWith(button);
  else frame.actions.append(button);
  frame.tokenButton = button;
}

function openPopover() {
  const done = () => {
    closePopover();
    drawTokenButton();
    render();
  };
  frame.popover = h(
    "div",
    { class: "popover", role: "dialog", "aria-label": "API token" },
    h("h3", { style: { marginBottom: "8px" } }, "API token"),
    tokenForm(done, true),
  );
  frame.popover.addEventListener("click", (event) => event.stopPropagation());
  frame.actions.append(frame.popover);
  frame.tokenButton.setAttribute("aria-expanded", "true");
}

function closePopover() {
  if (!frame.popover) return;
  frame.popover.remove();
  frame.popover = null;
  frame.tokenButton.setAttribute("aria-expanded", "false");
}

function showError(root, error) {
  if (error instanceof ApiError && error.status === 401) {
    const refused = Boolean(token());
    root.replaceChildren(
      h(
        "div",
        { class: "card auth", id: "auth" },
        h("div", { class: "icon" }, icon("lock", 22)),
        h("h1", null, refused ? "The token was refused" : "This server needs a token"),
        h(
          "p",
          null,
          refused
            ? "The token stored in this browser is not the server's. Paste the right one."
            : [
                "Paste the token the server was started with (",
                h("code", null, "--token"),
                " or ",
                h("code", null, "STOREHOUSE_TOKEN"),
                ").",
              ],
        ),
        tokenForm(() => {
          drawTokenButton();
          render();
        }, true),
      ),
    );
    return;
  }
  const message = error instanceof ApiError ? error.message : String((error && error.message) || error);
  root.replaceChildren(
    h(
      "div",
      { class: "card" },
      empty(
        "alert",
        error instanceof ApiError && error.status === 404 ? "Not found" : "Something went wrong",
        h("p", null, message),
        h("p", null, h("button", { class: "btn", onclick: () => render() }, "Try again")),
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------------------ the router

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const cut = raw.indexOf("?");
  const pathPart = cut < 0 ? raw : raw.slice(0, cut);
  const query = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  let parts;
  try {
    parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    return { view: "missing", query };
  }
  if (parts.length === 0) return { view: "projects", query };
  if (parts[0] !== "p" || !parts[1]) return { view: "missing", query };
  const project = parts[1];
  if (parts.length === 2) return { view: "runs", project, query };
  if (parts[2] === "runs" && parts.length === 4) return { view: "run", project, id: parts[3], query };
  if (parts[2] === "stats" && parts.length === 3) return { view: "stats", project, query };
  if (parts[2] === "tasks" && parts.length <= 4) return { view: "tasks", project, taskId: parts[3] || null, query };
  return { view: "missing", project, query };
}

const VIEWS = {
  projects: renderProjects,
  runs: renderRuns,
  run: renderRun,
  stats: async (root, ctx) => {
    const { renderStats } = await import("./stats.js");
    return renderStats(root, { project: ctx.route.project, navigate });
  },
  tasks: async (root, ctx) => {
    const { renderTasks } = await import("./tasks.js");
    return renderTasks(root, { project: ctx.route.project, taskId: ctx.route.taskId, navigate });
  },
  missing: async (root) => {
    root.append(
      h(
        "div",
        { class: "card" },
        empty("alert", "No such page", h("p", null, h("a", { href: "#/" }, "Back to the projects"))),
      ),
    );
  },
};

let active = { cleanups: [] };

function safely(fn) {
  try {
    fn();
  } catch (error) {
    console.warn("cleanup failed", error);
  }
}

async function render() {
  closePopover();
  active.cleanups.splice(0).forEach(safely);
  const mine = { cleanups: [] };
  active = mine;
  setLive(null);
  const route = parseHash();
  drawChrome(route);
  const root = h("div", { class: `view view-${route.view}` });
  frame.view.replaceChildren(root);
  const ctx = {
    route,
    current: () => active === mine,
    onCleanup: (fn) => (active === mine ? mine.cleanups.push(fn) : safely(fn)),
  };
  try {
    const cleanup = await VIEWS[route.view](root, ctx);
    if (typeof cleanup === "function") ctx.onCleanup(cleanup);
  } catch (error) {
    if (ctx.current()) showError(root, error);
    else if (!(error instanceof ApiError)) console.warn(error);
  }
}

// ---------------------------------------------------------------------------------------------- projects view

async function renderProjects(root, ctx) {
  const { projects, total } = await api(path("projects"));
  if (!ctx.current()) return;
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, "Projects"), h("p", { class: "muted" }, projectsSummary(projects, total))),
    ),
  );
  if (!projects.length) {
    root.append(
      h(
        "div",
        { class: "card" },
        empty(
          "inbox",
          "No runs recorded yet",
          h("p", null, "Record a run through the HTTP API, the Python library or the CLI, and it shows up here."),
          h(
            "pre",
            null,
            `curl -s ${location.origin}/api/projects/demo/executions \\\n` +
              `     -H 'content-type: application/json' -d '{"name": "triage", "status": "running"}'`,
          ),
        ),
      ),
    );
    return;
  }
  const mixes = new Map();
  const recent = h("div");
  root.append(
    h(
      "div",
      { class: "grid projects" },
      projects.map((project) => projectCard(project, mixes)),
    ),
    recent,
  );
  // the status mix of the first cards and their newest runs: small queries, each answered by the index
  const newest = [...projects].sort((a, b) => String(b.lastStartedAt).localeCompare(String(a.lastStartedAt)));
  await Promise.all([
    ...projects.slice(0, 48).map(async (project) => {
      try {
        drawMix(mixes.get(project.id), await api(path("projects", project.id, "executions", "stats")));
      } catch {
        /* the card stays without its bar */
      }
    }),
    drawRecent(recent, newest.slice(0, 12)),
  ]);
}

const RECENT = 8;

async function drawRecent(target, projects) {
  const pages = await Promise.all(
    projects.map((p) =>
      api(withQuery(path("projects", p.id, "executions"), { limit: RECENT })).catch(() => ({ executions: [] })),
    ),
  );
  const runs = pages
    .flatMap((page) => page.executions)
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
    .slice(0, RECENT);
  if (!runs.length) return;
  const open = (run) => navigate(runHash(run.projectId, run.id));
  target.replaceChildren(
    h(
      "section",
      { class: "card recent", id: "recent" },
      h(
        "div",
        { class: "card-head" },
        h("h2", null, "Latest runs"),
        h("span", { class: "muted" }, "across the projects"),
      ),
      h(
        "table",
        { class: "table" },
        h(
          "colgroup",
          null,
          ["130px", "auto", "160px", "160px", "110px", "100px"].map((width) => h("col", { style: { width } })),
        ),
        h(
          "tbody",
          null,
          runs.map((run) =>
            h(
              "tr",
              { "data-id": run.id, onclick: (event) => event.target.closest("a") || open(run) },
              h("td", null, statusBadge(run.status)),
              h("td", null, h("a", { class: "run-name", href: runHash(run.projectId, run.id) }, run.name || run.id)),
              h("td", null, h("a", { class: "tag", href: projectHash(run.projectId) }, run.projectId)),
              h("td", { class: "muted" }, h("span", { title: formatTime(run.startedAt) }, relative(run.startedAt))),
              h("td", { class: "num" }, duration(run.duration)),
              h("td", { class: "num" }, formatCost(run.costUSD)),
            ),
          ),
        ),
      ),
    ),
  );
}

function projectsSummary(projects, total) {
  const runs = projects.reduce((sum, p) => sum + p.executionCount, 0);
  const parts = [
    `${total} project${total === 1 ? "" : "s"}`,
    `${runs.toLocaleString("en-US")} run${runs === 1 ? "" : "s"}`,
  ];
  if (projects.every((p) => typeof p.costUSD === "number")) {
    parts.push(`${formatCost(projects.reduce((sum, p) => sum + p.costUSD, 0))} spent`);
  }
  return parts.join(" · ");
}

function projectCard(project, mixes) {
  const mix = h("div", { class: "mix", "aria-hidden": "true" });
  const rate = h("span", { class: "rate" });
  mixes.set(project.id, { mix, rate });
  const figure = (label, value, cls) =>
    h("div", { class: `figure ${cls}` }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  return h(
    "a",
    { class: "card project-card", href: projectHash(project.id), "data-project": project.id },
    h(
      "div",
      { class: "top" },
      avatar(project.id),
      h("span", { class: "name" }, project.id),
      h("span", { class: "chev" }, icon("chevron")),
    ),
    h(
      "div",
      { class: "figures" },
      figure("Runs", project.executionCount.toLocaleString("en-US"), "runs"),
      figure("Cost", project.costUSD === undefined ? "—" : formatCost(project.costUSD), "cost"),
      figure("Tasks", project.taskCount === undefined ? "—" : project.taskCount.toLocaleString("en-US"), "tasks"),
    ),
    mix,
    h(
      "div",
      { class: "foot" },
      h(
        "span",
        { title: formatTime(project.lastStartedAt) },
        project.lastStartedAt ? `Last run ${relative(project.lastStartedAt)}` : "No runs",
      ),
      rate,
    ),
  );
}

function drawMix({ mix, rate }, stats) {
  const total = stats.totalExecutions || 0;
  if (!total) return;
  rate.replaceChildren(h("b", null, percent(stats.successRate)), " succeeded");
  mix.replaceChildren(
    ...STATUSES.filter((s) => stats[s]).map((s) =>
      h("span", { class: `m-${s}`, style: { width: `${(stats[s] / total) * 100}%` }, title: `${stats[s]} ${s}` }),
    ),
  );
}

// ------------------------------------------------------------------------------------------------- runs view

// the page of the list the user was on, so coming back from a run returns to it
let listMemory = null;

function isDate(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
}

function readFilters(query) {
  const sort = query.get("sort");
  const limit = Number(query.get("limit"));
  return {
    status: (query.get("status") || "").split(",").filter((s) => STATUSES.includes(s)),
    tag: query.get("tag") || "",
    q: query.get("q") || "",
    from: isDate(query.get("from")) ? query.get("from") : "",
    to: isDate(query.get("to")) ? query.get("to") : "",
    sort: SORTS.includes(sort) ? sort : DEFAULT_SORT,
    limit: PAGE_SIZES.includes(limit) ? limit : DEFAULT_LIMIT,
  };
}

// the hash query of filters: only what differs from the defaults, commas kept readable
function filterQuery(f) {
  const parts = [];
  if (f.status.length) parts.push(`status=${f.status.join(",")}`);
  if (f.tag) parts.push(`tag=${enc(f.tag)}`);
  if (f.q) parts.push(`q=${enc(f.q)}`);
  if (f.from) parts.push(`from=${f.from}`);
  if (f.to) parts.push(`to=${f.to}`);
  if (f.sort !== DEFAULT_SORT) parts.push(`sort=${enc(f.sort)}`);
  if (f.limit !== DEFAULT_LIMIT) parts.push(`limit=${f.limit}`);
  return parts.join("&");
}

function listHash(project, f) {
  const query = filterQuery(f);
  return query ? `${projectHash(project)}?${query}` : projectHash(project);
}

const hasFilters = (f) => Boolean(f.status.length || f.tag || f.q || f.from || f.to);

function dayAfter(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString();
}

function listParams(f, cursor) {
  return {
    status: f.status.join(","),
    tag: f.tag,
    q: f.q.trim(),
    startedAfter: f.from ? `${f.from}T00:00:00.000Z` : "",
    startedBefore: f.to ? dayAfter(f.to) : "", // the "to" day is included
    sort: f.sort === DEFAULT_SORT ? "" : f.sort,
    limit: f.limit,
    cursor,
  };
}

function metric(label, value, sub, extra) {
  return h(
    "div",
    { class: "card metric" },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    h("div", { class: "sub" }, sub),
    extra,
  );
}

function drawMetrics(target, stats) {
  const rate = stats.totalExecutions ? stats.successRate : null;
  const bar = h(
    "div",
    { class: "bar" },
    h("span", { style: { width: `${Math.max(0, Math.min(1, rate || 0)) * 100}%` } }),
  );
  target.replaceChildren(
    metric(
      "Runs",
      stats.totalExecutions.toLocaleString("en-US"),
      `${stats.running} running · ${stats.pending} pending`,
    ),
    metric(
      "Success rate",
      percent(rate),
      `${stats.completed.toLocaleString("en-US")} completed · ${stats.failed.toLocaleString("en-US")} failed`,
      rate === null ? null : bar,
    ),
    metric("Total cost", formatCost(stats.totalCostUSD), `${formatCost(stats.averageCostUSD)} per run on average`),
    metric(
      "Tokens",
      formatTokens(stats.totalTokens),
      `${formatTokens(stats.inputTokens)} in · ${formatTokens(stats.outputTokens)} out`,
    ),
    metric("Average duration", duration(stats.averageDuration), `${duration(stats.totalDuration)} in all`),
  );
}

const COLUMNS = [
  { label: "Status" },
  { label: "Run" },
  { label: "Task", cls: "hide-md" },
  { label: "Tags", cls: "hide-md" },
  { label: "Started", sort: "startedAt" },
  { label: "Duration", sort: "duration", num: true },
  { label: "Tokens", num: true, cls: "hide-sm" },
  { label: "Cost", sort: "costUSD", num: true },
];

async function renderRuns(root, ctx) {
  const { project } = ctx.route;
  const f = readFilters(ctx.route.query);
  const state = { stack: [], cursor: null, seq: 0, shown: new Set(), fresh: 0, lastPage: null };
  const memoryKey = () => `${project}?${filterQuery(f)}`;
  if (listMemory && listMemory.key === memoryKey()) {
    state.stack = [...listMemory.stack];
    state.cursor = listMemory.cursor;
  }

  const metrics = h(
    "div",
    { class: "metrics", id: "metrics" },
    ["Runs", "Success rate", "Total cost", "Tokens", "Average duration"].map((label) =>
      metric(label, h("div", { class: "skeleton", style: { width: "60%", height: "22px", marginTop: "4px" } }), ""),
    ),
  );

  // --- toolbar: search, status chips, tag, date range
  const search = h("input", {
    class: "input",
    type: "search",
    name: "q",
    placeholder: "Search id or name",
    maxlength: 200,
    "aria-label": "Search by id or name",
    value: f.q,
  });
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Status" });
  const tagInput = h("input", {
    class: "input",
    name: "tag",
    placeholder: "any tag",
    "aria-label": "Tag",
    list: "tag-options",
    value: f.tag,
  });
  const tagOptions = h("datalist", { id: "tag-options" });
  const fromInput = h("input", {
    class: "input",
    type: "date",
    name: "from",
    "aria-label": "From (UTC)",
    value: f.from,
  });
  const toInput = h("input", { class: "input", type: "date", name: "to", "aria-label": "To (UTC)", value: f.to });
  const clear = h("button", { class: "btn ghost small", type: "button", id: "clear-filters" }, icon("x", 13), "Clear");

  const drawChips = () => {
    const chip = (label, on, onclick, dot) =>
      h(
        "button",
        {
          class: `chip${on ? " on" : ""}`,
          type: "button",
          "aria-pressed": String(on),
          "data-status": dot || "all",
          onclick,
        },
        dot ? h("span", { class: `dot ${dot}` }) : null,
        label,
      );
    chips.replaceChildren(
      chip("All", f.status.length === 0, () => {
        f.status = [];
        apply();
      }),
      ...STATUSES.map((s) =>
        chip(
          s[0].toUpperCase() + s.slice(1),
          f.status.includes(s),
          () => {
            f.status = f.status.includes(s) ? f.status.filter((x) => x !== s) : [...f.status, s];
            apply();
          },
          s,
        ),
      ),
    );
    clear.hidden = !hasFilters(f);
  };

  const toolbar = h(
    "div",
    { class: "toolbar" },
    h(
      "label",
      { class: "search" },
      icon("search", 15),
      search,
      h("span", { class: "kbd", "aria-hidden": "true" }, "/"),
    ),
    chips,
    h("label", { class: "field" }, "Tag", tagInput, tagOptions),
    h(
      "div",
      { class: "field dates", title: "Started between these days (UTC), both included" },
      "Started",
      fromInput,
      "–",
      toInput,
    ),
    h("div", { class: "spacer" }),
    clear,
  );

  // --- table and pager
  const thead = h("thead");
  const tbody = h("tbody");
  const table = h("table", { class: "table runs-table", id: "runs" }, thead, tbody);
  const range = h("span", { class: "range", id: "range" });
  const prev = h("button", { class: "btn", type: "button", id: "prev", disabled: true }, icon("back", 14), "Prev");
  const next = h("button", { class: "btn", type: "button", id: "next", disabled: true }, "Next", icon("next", 14));
  const size = h(
    "select",
    { class: "input", "aria-label": "Runs per page", name: "limit" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === f.limit }, `${n} per page`)),
  );
  const newer = h("div", { class: "newer", hidden: true });
  const pager = h("div", { class: "pager" }, range, h("div", { class: "buttons" }, size, prev, next));

  const drawHead = () => {
    thead.replaceChildren(
      h(
        "tr",
        null,
        COLUMNS.map((col) => {
          const cls = [col.num ? "num" : "", col.cls || ""].join(" ").trim() || null;
          if (!col.sort) return h("th", { class: cls, scope: "col" }, col.label);
          const on = f.sort.replace(/^-/, "") === col.sort;
          const descending = f.sort.startsWith("-");
          return h(
            "th",
            { class: cls, scope: "col", "aria-sort": on ? (descending ? "descending" : "ascending") : null },
            h(
              "button",
              {
                type: "button",
                title: `Sort by ${col.label.toLowerCase()}`,
                onclick: () => {
                  f.sort = on && descending ? col.sort : `-${col.sort}`;
                  apply();
                },
              },
              col.label,
              on ? h("span", { class: "arrow" }, descending ? "▼" : "▲") : null,
            ),
          );
        }),
      ),
    );
  };

  root.append(
    metrics,
    h("div", { class: "card runs-card" }, toolbar, newer, h("div", { class: "table-scroll" }, table), pager),
  );
  drawChips();
  drawHead();

  function row(run, longest, flash) {
    const runLink = runHash(project, run.id);
    const usage = run.tokenUsage || {};
    const error = run.error ? String(run.error) : "";
    return h(
      "tr",
      { "data-id": run.id, class: flash ? "flash" : null, tabindex: "0" },
      h("td", null, statusBadge(run.status)),
      h(
        "td",
        { class: "name-cell" },
        h(
          "a",
          { class: "run-name", href: runLink, title: run.name || run.id },
          run.name || h("span", { class: "muted" }, "(no name)"),
        ),
        h(
          "span",
          { class: "run-id", title: error || null },
          run.id,
          error
            ? h(
                "span",
                { style: { color: "var(--failed)" } },
                ` · ${error.length > 60 ? `${error.slice(0, 60)}…` : error}`,
              )
            : null,
        ),
      ),
      h(
        "td",
        { class: "hide-md" },
        run.taskId
          ? h("a", { class: "task-link", href: taskHash(project, run.taskId) }, run.taskId)
          : h("span", { class: "faint" }, "—"),
      ),
      h(
        "td",
        { class: "hide-md" },
        h(
          "div",
          { class: "tags" },
          (run.tags || []).map((tag) =>
            h(
              "a",
              {
                class: "tag",
                href: listHash(project, { ...f, tag }),
                title: `Only runs tagged ${tag}`,
                onclick: (event) => {
                  event.preventDefault();
                  event.stopPropagation();
                  f.tag = tag;
                  tagInput.value = tag;
                  apply();
                },
              },
              tag,
            ),
          ),
        ),
      ),
      h("td", { class: "started" }, formatTime(run.startedAt), h("span", { class: "rel" }, relative(run.startedAt))),
      h(
        "td",
        { class: "num" },
        h(
          "span",
          { class: "dur" },
          duration(run.duration),
          h(
            "span",
            { class: "track", "aria-hidden": "true" },
            h("span", { style: { width: `${longest ? Math.max(2, ((run.duration || 0) / longest) * 100) : 0}%` } }),
          ),
        ),
      ),
      h(
        "td",
        {
          class: "num hide-sm",
          title: `${(usage.input || 0).toLocaleString("en-US")} in · ${(usage.output || 0).toLocaleString("en-US")} out`,
        },
        formatTokens(usage.total),
      ),
      h("td", { class: "num" }, formatCost(run.costUSD)),
    );
  }

  function drawRows(page, flashIds) {
    const longest = Math.max(0, ...page.executions.map((run) => run.duration || 0));
    const previous = state.shown;
    state.shown = new Set(page.executions.map((run) => run.id));
    if (!page.executions.length) {
      const body = hasFilters(f)
        ? empty(
            "filter",
            "No runs match these filters",
            h("p", null, "Try another status, tag, date range or search."),
            h(
              "p",
              null,
              h("button", { class: "btn", type: "button", onclick: () => clearFilters() }, "Clear the filters"),
            ),
          )
        : empty(
            "inbox",
            `No runs in ${project} yet`,
            h("p", null, "New runs appear here as they are recorded; this page follows the project live."),
          );
      tbody.replaceChildren(h("tr", { class: "empty-row" }, h("td", { colspan: COLUMNS.length }, body)));
    } else {
      tbody.replaceChildren(
        ...page.executions.map((run) =>
          row(run, longest, flashIds && (flashIds.has(run.id) || (previous.size > 0 && !previous.has(run.id)))),
        ),
      );
    }
    const start = state.stack.length * f.limit;
    const count = page.executions.length;
    const fmt = (n) => n.toLocaleString("en-US");
    if (page.total === 0) range.replaceChildren("No runs");
    else if (count === 0) range.replaceChildren(`Nothing on this page, of ${fmt(page.total)}`);
    else range.replaceChildren(h("b", null, `${fmt(start + 1)}–${fmt(start + count)}`), ` of ${fmt(page.total)}`);
    prev.disabled = state.stack.length === 0;
    next.disabled = !page.nextCursor;
    const tags = new Set(page.executions.flatMap((run) => run.tags || []));
    tagOptions.replaceChildren(...[...tags].sort().map((tag) => h("option", { value: tag })));
  }

  async function load({ flashIds = null, raise = false } = {}) {
    const seq = ++state.seq;
    table.classList.add("loading");
    // no paging while a page is on its way: a second click would page from the page before
    prev.disabled = next.disabled = true;
    let page;
    try {
      page = await api(withQuery(path("projects", project, "executions"), listParams(f, state.cursor)));
    } catch (error) {
      if (seq !== state.seq) return;
      table.classList.remove("loading");
      prev.disabled = state.stack.length === 0;
      if (raise) throw error;
      const message = error instanceof ApiError ? error.message : String(error);
      tbody.replaceChildren(
        h(
          "tr",
          null,
          h("td", { colspan: COLUMNS.length }, h("div", { class: "notice" }, icon("alert"), h("span", null, message))),
        ),
      );
      return;
    }
    if (seq !== state.seq) return;
    table.classList.remove("loading");
    state.lastPage = page;
    drawRows(page, flashIds);
    listMemory = {
      key: memoryKey(),
      project,
      hash: listHash(project, f),
      stack: [...state.stack],
      cursor: state.cursor,
    };
  }

  async function loadStats() {
    try {
      drawMetrics(metrics, await api(path("projects", project, "executions", "stats")));
    } catch (error) {
      if (!(error instanceof ApiError)) console.warn(error);
    }
  }

  function firstPage() {
    state.stack = [];
    state.cursor = null;
    state.fresh = 0;
    newer.hidden = true;
  }

  function apply() {
    firstPage();
    history.replaceState(null, "", listHash(project, f));
    drawChips();
    drawHead();
    size.value = String(f.limit);
    load();
  }

  function clearFilters() {
    Object.assign(f, { status: [], tag: "", q: "", from: "", to: "" });
    search.value = tagInput.value = fromInput.value = toInput.value = "";
    apply();
  }

  let typing = null;
  const debounced = (fn, ms) => () => {
    clearTimeout(typing);
    typing = setTimeout(fn, ms);
  };
  search.addEventListener(
    "input",
    debounced(() => {
      if (f.q === search.value.trim()) return;
      f.q = search.value.trim();
      apply();
    }, 250),
  );
  const setTag = () => {
    const value = tagInput.value.trim();
    if (value === f.tag) return;
    f.tag = value;
    apply();
  };
  tagInput.addEventListener("change", setTag);
  tagInput.addEventListener("input", debounced(setTag, 400));
  fromInput.addEventListener("change", () => {
    f.from = isDate(fromInput.value) ? fromInput.value : "";
    apply();
  });
  toInput.addEventListener("change", () => {
    f.to = isDate(toInput.value) ? toInput.value : "";
    apply();
  });
  clear.addEventListener("click", clearFilters);
  size.addEventListener("change", () => {
    f.limit = Number(size.value);
    apply();
  });
  prev.addEventListener("click", () => {
    if (!state.stack.length) return;
    state.cursor = state.stack.pop();
    if (!state.stack.length) newer.hidden = true;
    load();
  });
  next.addEventListener("click", () => {
    if (!state.lastPage || !state.lastPage.nextCursor) return;
    state.stack.push(state.cursor);
    state.cursor = state.lastPage.nextCursor;
    load();
  });
  tbody.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    const tr = event.target.closest("tr[data-id]");
    if (tr) navigate(runHash(project, tr.dataset.id));
  });
  tbody.addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr[data-id]");
    if (tr && event.key === "Enter" && event.target === tr) navigate(runHash(project, tr.dataset.id));
  });
  const slash = (event) => {
    if (event.key !== "/" || event.target.closest("input, textarea, select")) return;
    event.preventDefault();
    search.focus();
  };
  document.addEventListener("keydown", slash);
  ctx.onCleanup(() => {
    clearTimeout(typing);
    document.removeEventListener("keydown", slash);
  });

  await Promise.all([load({ raise: true }), loadStats()]);
  if (!ctx.current()) return;

  // live: a change to the project refreshes the first page (a later page would shift under the reader,
  // so there a banner offers the newest runs instead)
  const touched = new Set();
  let timer = null;
  const refresh = async () => {
    const ids = new Set(touched);
    touched.clear();
    loadStats();
    if (state.stack.length === 0) {
      state.fresh = 0;
      await load({ flashIds: ids });
    } else if (state.fresh > 0) {
      newer.hidden = false;
      newer.replaceChildren(
        h(
          "button",
          {
            class: "btn small primary",
            type: "button",
            onclick: () => {
              firstPage();
              load();
            },
          },
          `${state.fresh} new run${state.fresh === 1 ? "" : "s"}: show the newest`,
        ),
      );
    }
  };
  setLive("connecting");
  const stop = follow(project, (event) => {
    if (event.type === "ready" || event.type === "reset") setLive("on");
    if (event.type === "reset") {
      clearTimeout(timer);
      timer = setTimeout(refresh, LIVE_DEBOUNCE_MS);
      return;
    }
    if (!event.type.startsWith("execution.")) return;
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch {
      /* an event without JSON data still means "something changed" */
    }
    if (event.type !== "execution.deleted" && data.executionId) touched.add(data.executionId);
    if (event.type === "execution.created") state.fresh += 1;
    clearTimeout(timer);
    timer = setTimeout(refresh, LIVE_DEBOUNCE_MS);
  });
  ctx.onCleanup(() => {
    clearTimeout(timer);
    stop();
  });
}

// --------------------------------------------------------------------------------------------------- one run

// a JSON value as a tree of <details>: objects and arrays fold, the first levels open; a folded branch is
// built when first opened, so a large output costs nothing until it is looked at
function jsonTree(value, openDepth = 2) {
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

function jsonPane(title, value, openDepth = 2) {
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

const time = (ts) => {
  const at = Date.parse(ts);
  return Number.isNaN(at) ? null : at;
};

// where each step's bar goes: by its times; a step without times goes after the one before it
function layoutSteps(run) {
  const steps = run.steps || [];
  const starts = steps.map((s) => time(s.startedAt)).filter((t) => t !== null);
  let t0 = time(run.startedAt);
  if (t0 === null || (starts.length && Math.min(...starts) < t0)) t0 = starts.length ? Math.min(...starts) : Date.now();
  let cursor = t0;
  const rows = steps.map((step) => {
    const start = time(step.startedAt);
    const end = time(step.completedAt);
    const row = { step, timed: start !== null, start: start === null ? cursor : start, end };
    cursor = Math.max(cursor, end !== null ? end : row.start);
    return row;
  });
  let t1 = Math.max(cursor, time(run.completedAt) || 0);
  const open = run.status === "running" || run.status === "pending";
  if (open) t1 = Math.max(t1, Date.now());
  for (const row of rows) {
    if (row.end === null && row.timed && (row.step.status === "running" || open)) {
      row.end = t1;
      row.open = true;
    }
  }
  return { t0, span: Math.max(t1 - t0, 1), rows };
}

// axis steps that read well on a clock: 1-2-5 below a second, then 1, 2, 5, 10, 15, 30 of seconds, minutes, hours
const SECOND = 1000;
const TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500].concat(
  ...[SECOND, 60 * SECOND, 3600 * SECOND].map((unit) => [1, 2, 5, 10, 15, 30].map((n) => n * unit)),
  [2, 3, 6, 12, 24].map((n) => n * 3600 * SECOND),
);

function niceTick(span) {
  const raw = span / 6;
  return TICKS.find((tick) => tick >= raw) || 24 * 3600 * SECOND * Math.ceil(raw / (24 * 3600 * SECOND));
}

function shortDuration(ms) {
  if (ms === 0) return "0";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${+(ms / 1000).toFixed(1)}s`;
  if (ms < 3600000) {
    const m = Math.floor(ms / 60000);
    const s = Math.round((ms % 60000) / 1000);
    return s ? `${m}m${s}s` : `${m}m`;
  }
  return `${+(ms / 3600000).toFixed(1)}h`;
}

// a step's duration: given, or from its times; a step still running counts until now
function stepDuration(row) {
  if (row.step.duration !== undefined && row.step.duration !== null) return row.step.duration;
  if (row.timed && row.end !== null) return row.end - row.start;
  return null;
}

function timeline(run) {
  const { t0, span, rows } = layoutSteps(run);
  const agents = [...new Set(rows.map((row) => row.step.agent || "—"))];
  const colour = (agent) => AGENT_COLOURS[agents.indexOf(agent || "—") % AGENT_COLOURS.length];
  const tick = niceTick(span);
  const ticks = [];
  for (let at = 0; at <= span + 1e-9 && ticks.length < 14; at += tick) ticks.push(at);
  const pct = (ms) => `${(ms / span) * 100}%`;
  const grid = () => ticks.slice(1).map((at) => h("span", { class: "grid-line", style: { left: pct(at) } }));

  const axis = h(
    "div",
    { class: "tl-row tl-axis" },
    h("span", { class: "h" }, "Step"),
    h(
      "div",
      { class: "tl-scale" },
      ticks.map((at) => h("span", { style: { left: pct(at) } }, shortDuration(at))),
    ),
    h("span", { class: "h num" }, "Duration"),
    h("span", { class: "h num" }, "Tokens"),
    h("span", { class: "h num" }, "Cost"),
  );

  const stepRows = rows.map((row, index) => {
    const { step } = row;
    const took = stepDuration(row);
    const left = row.start - t0;
    const width = row.end !== null && row.timed ? row.end - row.start : null;
    const classes = ["bar"];
    if (step.status === "failed") classes.push("failed");
    if (row.open) classes.push("running");
    if (!row.timed || width === null) classes.push("untimed");
    const tip = [
      `${step.name || `step ${index + 1}`}${step.agent ? ` · ${step.agent}` : ""}`,
      row.timed ? `starts at +${shortDuration(left)}` : "no times recorded",
      took === null ? null : duration(took),
      step.status,
    ]
      .filter(Boolean)
      .join(" · ");
    const bar = h(
      "div",
      {
        class: classes.join(" "),
        title: tip,
        style: {
          left: pct(left),
          width: width === null ? "2.5%" : pct(width),
          background: colour(step.agent),
        },
      },
      width !== null && width / span > 0.07 ? shortDuration(width) : "",
    );
    const usage = step.tokenUsage || {};
    const total = usage.total !== undefined ? usage.total : (usage.input || 0) + (usage.output || 0);
    const summary = h(
      "summary",
      { class: "tl-row" },
      h(
        "div",
        { class: "step-label" },
        h("span", { class: "idx" }, index + 1),
        h(
          "span",
          { class: "txt" },
          h("span", { class: "nm", title: step.name || "" }, step.name || step.id || `step ${index + 1}`),
          h(
            "span",
            { class: "ag" },
            h("i", { style: { background: colour(step.agent) } }),
            step.agent || "no agent",
            step.status && step.status !== "completed"
              ? [" · ", h("span", { class: `st-${step.status}` }, step.status)]
              : null,
          ),
        ),
      ),
      h("div", { class: "tl-track" }, grid(), bar),
      h("span", { class: "num" }, duration(took)),
      h(
        "span",
        {
          class: "num",
          title: `${(usage.input || 0).toLocaleString("en-US")} in · ${(usage.output || 0).toLocaleString("en-US")} out`,
        },
        step.tokenUsage ? formatTokens(total) : "—",
      ),
      h("span", { class: "num" }, formatCost(step.costUSD)),
    );
    const details = h("details", { class: "step", "data-step": step.id || index }, summary);
    let filled = false;
    details.addEventListener("toggle", () => {
      if (filled || !details.open) return;
      filled = true;
      details.append(
        h(
          "div",
          { class: "step-body" },
          step.error ? h("div", { class: "notice" }, icon("alert"), h("pre", null, String(step.error))) : null,
          jsonPane("Input", step.input, 2),
          jsonPane("Output", step.output, 2),
        ),
      );
    });
    return details;
  });

  const steps = run.steps || [];
  return h(
    "section",
    { class: "card", id: "steps" },
    h(
      "div",
      { class: "card-head" },
      h(
        "div",
        null,
        h("h2", null, "Steps"),
        h(
          "span",
          { class: "muted" },
          steps.length
            ? `${steps.length} step${steps.length === 1 ? "" : "s"} over ${duration(span)} · click a step for its input and output`
            : "no steps recorded",
        ),
      ),
      h(
        "div",
        { class: "legend" },
        agents.map((agent) => h("span", null, h("i", { style: { background: colour(agent) } }), agent)),
      ),
    ),
    steps.length
      ? h("div", { class: "timeline" }, axis, stepRows)
      : h("div", { class: "empty", style: { padding: "24px" } }, "This run recorded no steps."),
  );
}

function fact(label, value, sub) {
  return h(
    "div",
    { class: "fact" },
    h("div", { class: "label" }, label),
    h("div", { class: "value", title: typeof value === "string" ? value : null }, value),
    h("div", { class: "sub" }, sub || "\u00a0"),
  );
}

function runHead(project, run) {
  const usage = run.tokenUsage || {};
  const agents = new Set((run.steps || []).map((s) => s.agent).filter(Boolean));
  return h(
    "section",
    { class: "card run-head", id: "run-head" },
    h("div", { class: "run-title" }, h("h1", null, run.name || run.id), statusBadge(run.status)),
    h(
      "div",
      { class: "run-sub" },
      h(
        "span",
        { class: "nowrap" },
        h("span", { class: "mono", id: "run-id" }, run.id),
        " ",
        copyButton(run.id, "Copy the run id"),
      ),
      run.taskId
        ? h(
            "span",
            null,
            "Task ",
            h("a", { class: "mono", href: taskHash(project, run.taskId), id: "task-link" }, run.taskId),
          )
        : null,
      (run.tags || []).length
        ? h(
            "span",
            { class: "tags" },
            run.tags.map((tag) =>
              h("a", { class: "tag", href: listHash(project, { ...readFilters(new URLSearchParams()), tag }) }, tag),
            ),
          )
        : null,
      run.version ? h("span", { class: "faint" }, `version ${run.version}`) : null,
    ),
    h(
      "div",
      { class: "facts" },
      fact("Started", formatTime(run.startedAt), relative(run.startedAt)),
      fact(
        "Completed",
        run.completedAt ? formatTime(run.completedAt) : run.status === "running" ? "running…" : "—",
        run.completedAt ? relative(run.completedAt) : "",
      ),
      run.duration === null && run.status === "running" && time(run.startedAt) !== null
        ? fact("Duration", duration(Date.now() - time(run.startedAt)), "so far")
        : fact("Duration", duration(run.duration)),
      fact("Tokens", formatTokens(usage.total), `${formatTokens(usage.input)} in · ${formatTokens(usage.output)} out`),
      fact("Cost", formatCost(run.costUSD)),
      fact(
        "Steps",
        String((run.steps || []).length),
        agents.size ? `${agents.size} agent${agents.size === 1 ? "" : "s"}` : "",
      ),
    ),
    run.error
      ? h(
          "div",
          { class: "notice error-box", id: "run-error" },
          icon("alert"),
          h(
            "div",
            null,
            h("strong", null, "Error"),
            h("pre", null, typeof run.error === "string" ? run.error : JSON.stringify(run.error, null, 2)),
          ),
        )
      : null,
  );
}

function dataCard(run) {
  return h(
    "section",
    { class: "card", id: "data" },
    h("div", { class: "card-head" }, h("h2", null, "Input, output and metadata")),
    h(
      "div",
      { class: "card-body panes" },
      jsonPane("Input", run.input),
      jsonPane("Output", run.output),
      jsonPane("Metadata", run.metadata && Object.keys(run.metadata).length ? run.metadata : null),
    ),
  );
}

const HISTORY_LIMIT = 100;

function historyEntry(project, run, entry) {
  const content = entry.content;
  const text =
    content === null || content === undefined
      ? ""
      : typeof content === "string"
        ? content
        : JSON.stringify(content, null, 2);
  const long = text.length > 360 || text.split("\n").length > 4;
  const body = h(
    "div",
    { class: `content${long ? " clamped" : ""}` },
    text || h("span", { class: "faint" }, "no content"),
  );
  return h(
    "li",
    { "data-entry": entry.id },
    h(
      "div",
      { class: "when", title: entry.createdAt },
      formatTime(entry.createdAt),
      h("div", { class: "faint" }, relative(entry.createdAt)),
    ),
    h(
      "div",
      { class: "who" },
      h("span", { class: `type type-${entry.type}` }, entry.type),
      entry.role ? h("span", { class: "role" }, entry.role) : null,
    ),
    h(
      "div",
      null,
      body,
      long
        ? h(
            "button",
            {
              class: "btn ghost small",
              type: "button",
              onclick: (event) => {
                body.classList.toggle("clamped");
                event.target.textContent = body.classList.contains("clamped") ? "Show all" : "Show less";
              },
            },
            "Show all",
          )
        : null,
      entry.executionId
        ? h(
            "div",
            { class: "this-run" },
            entry.executionId === run.id
              ? "this run"
              : h("a", { href: runHash(project, entry.executionId) }, `run ${entry.executionId}`),
          )
        : null,
      entry.metadata && Object.keys(entry.metadata).length
        ? h("div", { style: { marginTop: "6px" } }, jsonTree(entry.metadata, 0))
        : null,
    ),
  );
}

async function drawHistory(target, project, run) {
  if (!run.taskId) {
    target.replaceChildren();
    return;
  }
  const head = (sub) =>
    h(
      "div",
      { class: "card-head" },
      h("div", null, h("h2", null, "Task history"), h("span", { class: "muted" }, sub)),
      h(
        "a",
        { class: "btn small", href: taskHash(project, run.taskId) },
        "Open task ",
        h("span", { class: "mono" }, run.taskId),
      ),
    );
  let page;
  try {
    page = await api(
      withQuery(path("projects", project, "tasks", run.taskId, "history"), { limit: HISTORY_LIMIT, order: "desc" }),
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
    target.replaceChildren(
      h(
        "section",
        { class: "card", id: "history" },
        head(""),
        h("div", { class: "card-body" }, h("div", { class: "notice" }, icon("alert"), String(error.message))),
      ),
    );
    return;
  }
  const { entries, total } = page;
  target.replaceChildren(
    h(
      "section",
      { class: "card", id: "history" },
      head(
        total > entries.length
          ? `the newest ${entries.length} of ${total} entries`
          : `${total} entr${total === 1 ? "y" : "ies"}, newest first`,
      ),
      entries.length
        ? h(
            "ul",
            { class: "history" },
            entries.map((entry) => historyEntry(project, run, entry)),
          )
        : h("div", { class: "empty", style: { padding: "24px" } }, `No history entries for task ${run.taskId}.`),
    ),
  );
}

async function renderRun(root, ctx) {
  const { project, id } = ctx.route;
  const fetchRun = async () => (await api(path("projects", project, "executions", id))).execution;
  let run;
  try {
    run = await fetchRun();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    root.append(
      h(
        "div",
        { class: "card" },
        empty(
          "alert",
          "No such run",
          h("p", null, `${project} has no run ${id}.`),
          h("p", null, h("a", { href: projectHash(project) }, "Back to the runs")),
        ),
      ),
    );
    return;
  }
  if (!ctx.current()) return;
  const back = listMemory && listMemory.project === project ? listMemory.hash : projectHash(project);
  if (run.name)
    setCrumbs([
      { label: "Projects", href: "#/" },
      { label: project, href: projectHash(project) },
      { label: "Runs", href: back },
      { label: run.name },
    ]);
  document.title = `${run.name || run.id} · ${project} · storehouse`;

  const main = h("div", { class: "stack" });
  const historySlot = h("div");
  const notice = h("div");
  const draw = () => main.replaceChildren(notice, runHead(project, run), timeline(run), dataCard(run), historySlot);
  root.append(h("a", { class: "back", href: back }, icon("back", 14), "All runs"), main);
  draw();
  await drawHistory(historySlot, project, run);
  if (!ctx.current()) return;

  let timer = null;
  setLive("connecting");
  const stop = follow(project, (event) => {
    if (event.type === "ready" || event.type === "reset") setLive("on");
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.type === "execution.updated" && data.executionId === id) {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          run = await fetchRun();
          if (ctx.current()) draw();
        } catch (error) {
          if (!(error instanceof ApiError)) console.warn(error);
        }
      }, LIVE_DEBOUNCE_MS);
    } else if (event.type === "execution.deleted" && data.executionId === id) {
      notice.replaceChildren(
        h("div", { class: "notice" }, icon("alert"), "This run has been deleted; what you see is its last version."),
      );
    } else if (event.type === "history.appended" && run.taskId && data.taskId === run.taskId) {
      drawHistory(historySlot, project, run).catch(() => {});
    }
  });
  ctx.onCleanup(() => {
    clearTimeout(timer);
    stop();
  });
}

// --------------------------------------------------------------------------------------------------- start

document.addEventListener("click", () => closePopover());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closePopover();
});
window.addEventListener("hashchange", () => render());
drawTokenButton();
render();

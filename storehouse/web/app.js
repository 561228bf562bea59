// The web page: a hash router and the page frame (top bar, breadcrumb, token form, project tabs) that mounts
// the views: projects.js, runs.js (a project's runs), run.js (one run), stats.js and tasks.js.
//
// Routes: #/ projects · #/p/{project}?status=&tag=&q=&from=&to=&sort=&limit= runs · #/p/{project}/runs/{id} one run
//         #/p/{project}/stats · #/p/{project}/tasks[/{taskId}]
// Every list is one page from the server's index (never the whole project), so a project of 100,000 runs
// costs what a project of 100 does.
//
// A view is called as view(root, ctx): ctx has the route, current() (false once the user has moved on),
// onCleanup(fn), and the frame's navigate, setLive and setCrumbs. It may return a cleanup function.
import { ApiError, h, onTokenState, setToken, token, tokenStateNow } from "./lib.js";
import { renderProjects } from "./projects.js";
import { renderRun } from "./run.js";
import { renderRuns } from "./runs.js";
import { avatar, empty, icon, projectHash } from "./ui.js";

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
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

// the token button's dot: none without a token, grey until the server answers, green once it accepted the token,
// red while it refuses it (401)
const TOKEN_STATES = {
  unknown: "A token is set for this browser; the server has not answered yet",
  accepted: "The server accepts the token set for this browser",
  refused: "The server refused the token set for this browser (401): set the right one",
};

function drawTokenButton() {
  const state = tokenStateNow();
  const button = h(
    "button",
    {
      class: "btn ghost small",
      type: "button",
      id: "token-button",
      "aria-haspopup": "dialog",
      "aria-expanded": frame.popover ? "true" : "false",
      title: TOKEN_STATES[state] || "Set the API token",
      "data-token-state": state,
    },
    icon("key", 14),
    "Token",
    state in TOKEN_STATES
      ? h("span", { class: `token-state ${state}`, role: "img", "aria-label": `token ${state}` })
      : null,
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
    const { project, taskId, query } = ctx.route;
    return renderTasks(root, { project, taskId, navigate, query });
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
    navigate,
    setLive,
    setCrumbs,
  };
  try {
    const cleanup = await VIEWS[route.view](root, ctx);
    if (typeof cleanup === "function") ctx.onCleanup(cleanup);
  } catch (error) {
    if (ctx.current()) showError(root, error);
    else if (!(error instanceof ApiError)) console.warn(error);
  }
}

// --------------------------------------------------------------------------------------------------- start

document.addEventListener("click", () => closePopover());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closePopover();
});
window.addEventListener("hashchange", () => render());
onTokenState(() => drawTokenButton());
drawTokenButton();
render();

// Tasks view, #/p/{project}/tasks[/{taskId}]: counts by status, the dependency graph, a filterable table, and
// for a selected task a panel with its fields, edges, transitions, runs, history and context preview.
//
// Requests: GET .../metrics (counts), .../tasks/order (every task with its edges, for the graph), the ready
// ones (.../tasks?ready=true), one page of .../tasks with the table's filters, and for a task its document,
// a page of its history, its context and its 10 newest runs. Runs are only ever asked for a page at a time.
// The overview is kept for a few seconds, so moving from task to task redraws at once.

import {
  api,
  follow,
  costColumn,
  formatDuration,
  formatTime,
  formatTokens,
  h,
  path,
  statusBadge,
  withQuery,
} from "./lib.js";
import { dependencyGraph } from "./graph.js";

const STATUSES = ["pending", "running", "succeeded", "failed", "cancelled"];
const PRIORITIES = ["critical", "high", "medium", "low"];
const PAGE = 50;
const HISTORY_PAGE = 50;
const GRAPH_MAX = 200; // beyond this many tasks the graph keeps the unfinished ones and their dependencies
const CACHE_MS = 5000;
const CONTEXT_CHARS = 4000;

const filtersByProject = new Map(); // the filters last used in each project, for a link without any
let cached = null; // {project, at, overview}
let lastTable = null; // {key, page}: the table as last drawn
const NO_FILTERS = { status: "", priority: "", ready: "", assignedTo: "", tag: "", offset: 0 };
const CHOICES = { status: STATUSES, priority: PRIORITIES, ready: ["true", "false"] };

// The table's filters and position come from the address (#/p/{p}/tasks[/{id}]?status=&priority=&ready=
// &assignedTo=&tag=&offset=), so a reload, a shared link and Back show the same page of the same tasks. What the
// address asks for that is no filter or no valid value of one is left out and said (ignored, one sentence each).
function readTaskFilters(project, query) {
  const keys = [...new Set(query.keys())];
  if (!keys.length && filtersByProject.has(project)) {
    // a link without a query (the Tasks tab, Back to before any filter): the filters last used, from the top
    return { filters: { ...filtersByProject.get(project), offset: 0 }, ignored: [] };
  }
  const filters = { ...NO_FILTERS };
  const ignored = [];
  for (const key of keys) {
    const value = query.get(key);
    if (key in CHOICES) {
      if (CHOICES[key].includes(value)) filters[key] = value;
      else ignored.push(`${key} “${value.slice(0, 40)}”: one of ${CHOICES[key].join(", ")}`);
    } else if (key === "assignedTo" || key === "tag") filters[key] = value;
    else if (key === "offset") {
      if (/^\d{1,9}$/.test(value)) filters.offset = Number(value);
      else ignored.push(`offset “${value.slice(0, 40)}”: a position is a whole number`);
    } else {
      ignored.push(`“${key.slice(0, 40)}”: not a filter of this table (${Object.keys(NO_FILTERS).join(", ")})`);
    }
  }
  return { filters, ignored };
}

function tasksHash(project, taskId, filters) {
  const query = Object.entries(filters)
    .filter(([key, value]) => value !== NO_FILTERS[key] && value !== "")
    .map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`)
    .join("&");
  const base = `#/p/${encodeURIComponent(project)}/tasks${taskId ? `/${encodeURIComponent(taskId)}` : ""}`;
  return query ? `${base}?${query}` : base;
}

async function readyIds(project) {
  const ids = new Set();
  for (let offset = 0; offset < 20000; offset += 1000) {
    const page = await api(withQuery(path("projects", project, "tasks"), { ready: "true", limit: 1000, offset }));
    page.tasks.forEach((task) => ids.add(task.id));
    if (offset + 1000 >= page.total) break;
  }
  return ids;
}

async function loadOverview(project, fresh = false) {
  if (!fresh && cached && cached.project === project && Date.now() - cached.at < CACHE_MS) return cached.overview;
  const [metrics, order, ready] = await Promise.all([
    api(path("projects", project, "metrics")),
    api(path("projects", project, "tasks", "order")),
    readyIds(project),
  ]);
  const overview = { metrics, tasks: order.tasks, byId: new Map(order.tasks.map((t) => [t.id, t])), ready };
  cached = { project, at: Date.now(), overview };
  return overview;
}

function readyTag(on) {
  return on
    ? h("span", { class: "ready-pill", title: "pending, and everything it is blocked by has succeeded" }, "ready")
    : null;
}

function priorityTag(priority) {
  return h("span", { class: `priority priority-${priority}`, "data-priority": priority }, priority);
}

function taskLink(project, task, navigate, text) {
  const hash = `#/p/${encodeURIComponent(project)}/tasks/${encodeURIComponent(task.id)}`;
  return h(
    "a",
    {
      href: hash,
      class: "task-link",
      onclick: (event) => {
        event.preventDefault();
        event.stopPropagation();
        navigate(hash);
      },
    },
    text ?? task.id,
  );
}

function graphTasks(overview, selected) {
  const all = overview.tasks;
  if (all.length <= GRAPH_MAX) return { tasks: all, note: null };
  const keep = new Set();
  for (const task of all) {
    if ((task.status !== "succeeded" && task.status !== "cancelled") || task.id === selected) {
      keep.add(task.id);
      (task.dependencies || []).forEach((dep) => keep.add(dep.taskId));
    }
  }
  let tasks = all.filter((task) => keep.has(task.id));
  if (tasks.length > GRAPH_MAX) tasks = tasks.slice(0, GRAPH_MAX);
  return {
    tasks,
    note: `Showing ${tasks.length} of ${all.length} tasks: the unfinished ones and what they depend on.`,
  };
}

function metric(name, label, value, sub, extra) {
  return h(
    "div",
    { class: "card metric", "data-count": name },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, typeof value === "number" ? value.toLocaleString("en-US") : value),
    h("div", { class: "sub" }, sub),
    extra,
  );
}

function countCards(overview) {
  const { metrics, ready } = overview;
  const by = metrics.tasksByStatus || {};
  const total = metrics.totalTasks || 0;
  const readyCount = metrics.readyTasks ?? ready.size;
  const done = by.succeeded || 0;
  const mix = h("div", { class: "mix", role: "img", "aria-label": "tasks by status" });
  for (const status of STATUSES) {
    if (by[status])
      mix.append(
        h("span", { class: `t-${status}`, style: `flex-grow: ${by[status]}`, title: `${status}: ${by[status]}` }),
      );
  }
  const bar = h("div", { class: "bar" }, h("span", { style: `width: ${total ? (100 * done) / total : 0}%` }));
  return [
    metric(
      "all",
      "Tasks",
      total,
      total ? `${(by.pending || 0) + (by.running || 0)} open · ${done} done` : "none yet",
      mix,
    ),
    metric("ready", "Ready to start", readyCount, `of ${by.pending || 0} pending`),
    metric("running", "Running", by.running || 0, "in progress now"),
    metric(
      "succeeded",
      "Done",
      `${total ? Math.round((100 * done) / total) : 0}%`,
      `${done} of ${total} succeeded`,
      bar,
    ),
    metric("failed", "Failed", by.failed || 0, `${by.cancelled || 0} cancelled`),
  ];
}

function filterBar(filters, overview, apply) {
  const by = overview.metrics.tasksByStatus || {};
  const chip = (label, on, onclick, dot, count) =>
    h(
      "button",
      {
        class: `chip${on ? " on" : ""}`,
        type: "button",
        "aria-pressed": String(on),
        "data-filter-status": dot || "all",
        onclick,
      },
      dot ? h("span", { class: `dot t-${dot}` }) : null,
      label,
      count === undefined ? null : h("span", { class: "chip-count" }, count),
    );
  const chips = h(
    "div",
    { class: "chips", role: "group", "aria-label": "Status" },
    chip(
      "All",
      !filters.status && !filters.ready,
      () => apply({ status: "", ready: "" }),
      null,
      overview.metrics.totalTasks || 0,
    ),
    chip(
      "Ready",
      filters.ready === "true" && !filters.status,
      () => apply({ status: "", ready: "true" }),
      "ready",
      overview.ready.size,
    ),
    ...STATUSES.map((status) =>
      chip(
        status[0].toUpperCase() + status.slice(1),
        filters.status === status && !filters.ready,
        () => apply({ status: filters.status === status ? "" : status, ready: "" }),
        status,
        by[status] || 0,
      ),
    ),
  );
  const select = (name, label, options) =>
    h(
      "select",
      {
        class: "input",
        "aria-label": label,
        "data-filter": name,
        onchange: (event) => apply({ [name]: event.target.value }),
      },
      options.map(([value, text]) => h("option", { value, selected: filters[name] === value }, text)),
    );
  let timer = null;
  const text = (name, label, width) =>
    h("input", {
      class: "input",
      type: "search",
      placeholder: label,
      "aria-label": label,
      "data-filter": name,
      value: filters[name],
      style: `width: ${width}px`,
      oninput: (event) => {
        clearTimeout(timer);
        timer = setTimeout(() => apply({ [name]: event.target.value.trim() }, false), 250); // keep the focus
      },
    });
  const any = filters.status || filters.priority || filters.ready || filters.assignedTo || filters.tag;
  return h(
    "div",
    { class: "toolbar task-filters" },
    chips,
    select("priority", "priority", [
      ["", "Any priority"],
      ...PRIORITIES.map((p) => [p, p[0].toUpperCase() + p.slice(1)]),
    ]),
    select("ready", "readiness", [
      ["", "Ready or not"],
      ["true", "Ready"],
      ["false", "Not ready"],
    ]),
    text("assignedTo", "Assignee", 130),
    text("tag", "Tag", 110),
    h("div", { class: "spacer" }),
    any
      ? h(
          "button",
          {
            type: "button",
            class: "btn ghost small",
            onclick: () => apply({ status: "", priority: "", ready: "", assignedTo: "", tag: "" }),
          },
          "× Clear",
        )
      : null,
  );
}

// the table's columns; those marked are hidden on a narrow screen (760 px and less), where the rest must fit
const COLUMNS = [
  ["Task", false],
  ["Status", false],
  ["Ready", false],
  ["Priority", false],
  ["Assignee", true],
  ["Tags", true],
  ["Depends on", false],
  ["Updated", true],
];

function taskTable(project, page, filters, overview, selected, navigate, turn) {
  const open = (id) => navigate(`#/p/${encodeURIComponent(project)}/tasks/${encodeURIComponent(id)}`);
  const rows = page.tasks.map((task) => {
    const isReady = overview.ready.has(task.id);
    const deps = (task.dependencies || []).map((dep) => {
      const target = overview.byId.get(dep.taskId);
      return h(
        "span",
        { class: `dep-chip dep-${dep.type}`, title: `${dep.type} ${dep.taskId}${target ? ` (${target.status})` : ""}` },
        h("span", { class: "dot", style: `background: var(--t-${target ? target.status : "pending"})` }),
        dep.taskId,
      );
    });
    return h(
      "tr",
      {
        class: task.id === selected ? "selected" : "",
        "data-task-row": task.id,
        "data-status": task.status,
        "data-ready": String(isReady),
        tabindex: 0,
        onclick: () => open(task.id),
        onkeydown: (event) => event.key === "Enter" && open(task.id),
      },
      h("td", {}, h("div", { class: "task-title" }, task.title), h("div", { class: "task-id muted" }, task.id)),
      h("td", {}, statusBadge(task.status)),
      h("td", { class: "ready-cell" }, readyTag(isReady) || h("span", { class: "muted" }, "—")),
      h("td", {}, priorityTag(task.priority)),
      h("td", { class: "hide-sm" }, task.assignedTo || h("span", { class: "muted" }, "—")),
      h(
        "td",
        { class: "hide-sm" },
        (task.tags || []).map((tag) => h("span", { class: "tag" }, tag)),
      ),
      h("td", { class: "deps-cell" }, deps.length ? deps : h("span", { class: "muted" }, "—")),
      h("td", { class: "muted nowrap hide-sm" }, formatTime(task.updatedAt)),
    );
  });
  const first = page.total ? filters.offset + 1 : 0;
  const last = filters.offset + page.tasks.length;
  return h(
    "div",
    {},
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "table task-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            COLUMNS.map(([label, hideSmall]) => h("th", { class: hideSmall ? "hide-sm" : null }, label)),
          ),
        ),
        h(
          "tbody",
          {},
          rows.length
            ? rows
            : h(
                "tr",
                {},
                h(
                  "td",
                  { colspan: COLUMNS.length, class: "empty" },
                  overview.metrics.totalTasks ? "No task matches these filters." : "No tasks yet.",
                ),
              ),
        ),
      ),
    ),
    h(
      "div",
      { class: "pager" },
      h(
        "span",
        { class: "range", "data-total": page.total },
        page.total ? [h("b", {}, `${first}–${last}`), ` of ${page.total.toLocaleString("en-US")} tasks`] : "No tasks",
      ),
      h(
        "div",
        { class: "buttons" },
        h(
          "button",
          { type: "button", class: "btn", disabled: filters.offset === 0, onclick: () => turn(-1) },
          "‹ Prev",
        ),
        h("button", { type: "button", class: "btn", disabled: last >= page.total, onclick: () => turn(1) }, "Next ›"),
      ),
    ),
  );
}

function section(title, count, ...body) {
  return h(
    "details",
    { class: "detail-section", open: true },
    h(
      "summary",
      {},
      h("span", {}, title),
      count === null || count === undefined ? null : h("span", { class: "count num" }, count),
    ),
    ...body,
  );
}

function edgeList(project, edges, navigate, empty) {
  if (!edges.length) return h("p", { class: "muted small" }, empty);
  return h(
    "ul",
    { class: "edge-list" },
    edges.map(({ task, type, id }) =>
      h(
        "li",
        { "data-edge": id },
        h("span", { class: `edge-type edge-type-${type}` }, type),
        task ? taskLink(project, task, navigate, task.title) : h("span", {}, id),
        task ? statusBadge(task.status) : null,
      ),
    ),
  );
}

function transitionList(transitions) {
  if (!transitions.length) return h("p", { class: "muted small" }, "No moves yet: created in this status.");
  return h(
    "ol",
    { class: "moves" },
    transitions
      .slice()
      .reverse()
      .map((move) =>
        h(
          "li",
          { class: `move-item to-${move.to}` },
          h(
            "div",
            { class: "move" },
            statusBadge(move.from),
            h("span", { class: "arrow-right" }, "→"),
            statusBadge(move.to),
          ),
          h(
            "div",
            { class: "muted small" },
            formatTime(move.at),
            move.actor ? ` · ${move.actor}` : "",
            move.reason ? ` · ${move.reason}` : "",
          ),
        ),
      ),
  );
}

function runTable(project, page) {
  if (!page.executions.length) return h("p", { class: "muted small" }, "No run recorded for this task.");
  const cost = costColumn(page.executions.map((run) => run.costUSD));
  return h(
    "table",
    { class: "table compact run-table" },
    h(
      "tbody",
      {},
      page.executions.map((run) =>
        h(
          "tr",
          { "data-run": run.id },
          h(
            "td",
            {},
            h(
              "a",
              { href: `#/p/${encodeURIComponent(project)}/runs/${encodeURIComponent(run.id)}`, class: "mono" },
              run.name || run.id,
            ),
          ),
          h("td", {}, statusBadge(run.status)),
          h("td", { class: "muted nowrap" }, formatTime(run.startedAt)),
          h("td", { class: "num" }, formatDuration(run.duration)),
          h("td", { class: "num" }, formatTokens(run.tokenUsage ? run.tokenUsage.total : null)),
          h("td", { class: "num cost" }, cost(run.costUSD)),
        ),
      ),
    ),
  );
}

function historyEntry(entry) {
  const meta = entry.metadata || {};
  let detail = null;
  if (entry.type === "status_change" && meta.from && meta.to) {
    detail = h(
      "div",
      { class: "move" },
      statusBadge(meta.from),
      h("span", { class: "arrow-right" }, "→"),
      statusBadge(meta.to),
      meta.reason ? h("span", { class: "muted small" }, meta.reason) : null,
    );
  } else if (entry.type === "validation_result" && meta.validator) {
    detail = h(
      "div",
      { class: "small" },
      h("strong", {}, meta.validator),
      `: ${meta.status ?? "?"}`,
      meta.score !== undefined && meta.score !== null ? ` (score ${meta.score})` : "",
      meta.details ? ` · ${meta.details}` : "",
    );
  }
  const content =
    typeof entry.content === "string" ? entry.content : entry.content == null ? "" : JSON.stringify(entry.content);
  const body =
    content && !(entry.type === "status_change" && detail)
      ? h(
          "div",
          {
            class: "entry-content",
            title: "click to expand",
            onclick: (event) => event.currentTarget.classList.toggle("expanded"),
          },
          content,
        )
      : null;
  return h(
    "li",
    { class: `history-entry entry-${entry.type}`, "data-history-entry": entry.id, "data-type": entry.type },
    h(
      "div",
      { class: "entry-head" },
      h("span", { class: `type type-${entry.type}` }, entry.type),
      entry.role ? h("span", { class: "entry-role" }, entry.role) : null,
      h("span", { class: "entry-time muted" }, formatTime(entry.createdAt)),
    ),
    detail,
    body,
  );
}

function contextPreview(text) {
  const lines = text.split("\n").map((line) => {
    if (/^#{1,6} /.test(line)) return h("span", { class: "md-h" }, line, "\n");
    if (/^\[cut:/.test(line)) return h("span", { class: "md-cut" }, line, "\n");
    return `${line}\n`;
  });
  const copy = h(
    "button",
    {
      type: "button",
      class: "btn small",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = "Select and copy";
        }
        setTimeout(() => (copy.textContent = "Copy"), 1500);
      },
    },
    "Copy",
  );
  return [
    h(
      "div",
      { class: "context-head muted small" },
      `${text.length.toLocaleString("en-US")} characters, what an agent gets from /context`,
      copy,
    ),
    h("pre", { class: "context-preview", "data-context": "" }, lines),
  ];
}

async function renderDetail(panel, project, taskId, overview, navigate) {
  const base = path("projects", project, "tasks", taskId);
  const close = h(
    "button",
    {
      type: "button",
      class: "btn icon close",
      title: "close",
      onclick: () => navigate(tasksHash(project, null, filtersByProject.get(project) || NO_FILTERS)),
    },
    "×",
  );
  let task;
  try {
    task = (await api(base)).task;
  } catch (error) {
    panel.replaceChildren(
      close,
      h("div", { class: "empty" }, error.status === 404 ? `No task ${taskId} in ${project}.` : error.message),
    );
    return null;
  }
  const [history, context, runs] = await Promise.all([
    api(withQuery(`${base}/history`, { order: "desc", limit: HISTORY_PAGE })).catch((error) => ({ error })),
    api(withQuery(`${base}/context`, { format: "markdown", maxChars: CONTEXT_CHARS })).catch((error) => ({ error })),
    api(withQuery(path("projects", project, "executions"), { taskId, limit: 10 })).catch((error) => ({ error })),
  ]);
  const isReady = overview.ready.has(task.id);
  const dependencies = (task.dependencies || []).map((dep) => ({
    id: dep.taskId,
    type: dep.type,
    task: overview.byId.get(dep.taskId),
  }));
  const dependents = [];
  for (const other of overview.tasks) {
    for (const dep of other.dependencies || [])
      if (dep.taskId === task.id) dependents.push({ id: other.id, type: dep.type, task: other });
  }
  const fields = [
    ["Assigned to", task.assignedTo],
    ["Complexity", task.complexityScore ? `${task.complexityScore} / 10` : null],
    ["Tags", (task.tags || []).length ? task.tags.map((tag) => h("span", { class: "tag" }, tag)) : null],
    ["Created", formatTime(task.createdAt)],
    ["Updated", `${formatTime(task.updatedAt)} · version ${task.version}`],
    ["Result", task.resultSummary],
  ].filter(([, value]) => value !== null && value !== undefined && value !== "");
  const list = (title, items) =>
    items && items.length
      ? [
          h("h4", {}, title),
          h(
            "ul",
            { class: "plain-list" },
            items.map((item) => h("li", {}, typeof item === "string" ? item : JSON.stringify(item))),
          ),
        ]
      : [];

  const historyList = h("ol", { class: "history-list" });
  let shown = 0;
  const more = h("button", { type: "button", class: "btn small", hidden: true }, "Show older");
  const addHistory = (pageOf) => {
    pageOf.entries.forEach((entry) => historyList.append(historyEntry(entry)));
    shown += pageOf.entries.length;
    more.hidden = shown >= pageOf.total;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    addHistory(await api(withQuery(`${base}/history`, { order: "desc", limit: HISTORY_PAGE, offset: shown })));
    more.disabled = false;
  });
  let historyBody;
  if (history.error) historyBody = h("p", { class: "empty" }, history.error.message);
  else if (!history.total) historyBody = h("p", { class: "muted small" }, "Nothing recorded yet.");
  else {
    addHistory(history);
    historyBody = [historyList, more];
  }

  panel.dataset.taskId = task.id;
  panel.replaceChildren(
    h(
      "header",
      { class: "detail-head" },
      h(
        "div",
        { class: "detail-title" },
        h("h2", {}, task.title),
        h(
          "div",
          { class: "detail-tags" },
          statusBadge(task.status),
          readyTag(isReady),
          priorityTag(task.priority),
          h("code", { class: "task-code" }, task.id),
        ),
      ),
      close,
    ),
    h(
      "div",
      { class: "detail-grid" },
      h(
        "div",
        { class: "detail-col" },
        task.description ? h("p", { class: "description" }, task.description) : null,
        fields.length
          ? h(
              "dl",
              { class: "fields" },
              fields.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
            )
          : null,
        ...list("Requirements", task.requirements),
        ...list("Acceptance criteria", task.acceptanceCriteria),
        ...list("Affected files", task.affectedFiles),
        section(
          "Depends on",
          dependencies.length,
          edgeList(project, dependencies, navigate, "Nothing: it can start as soon as it is pending."),
        ),
        section("Needed by", dependents.length, edgeList(project, dependents, navigate, "No task depends on it.")),
        section("Transitions", (task.transitions || []).length, transitionList(task.transitions || [])),
        section(
          "Runs",
          runs.error ? null : runs.total,
          runs.error ? h("p", { class: "empty" }, runs.error.message) : runTable(project, runs),
          !runs.error && runs.total > runs.executions.length
            ? h(
                "p",
                { class: "muted small" },
                `The ${runs.executions.length} newest of ${runs.total.toLocaleString("en-US")}.`,
              )
            : null,
        ),
      ),
      h(
        "div",
        { class: "detail-col" },
        section("History", history.error ? null : history.total, historyBody),
        section(
          "Context preview",
          null,
          context && context.error
            ? h("p", { class: "empty" }, context.error.message)
            : contextPreview(String(context)),
        ),
      ),
    ),
  );
  return task;
}

export async function renderTasks(root, { project, taskId, navigate, query }) {
  const { filters, ignored } = readTaskFilters(project, query || new URLSearchParams());
  const open = (id) => navigate(tasksHash(project, id, filters));
  const remember = (push) => {
    filtersByProject.set(project, { ...filters });
    history[push ? "pushState" : "replaceState"](null, "", tasksHash(project, taskId, filters));
  };
  if (!(query && [...query.keys()].length)) remember(false); // the remembered filters, now in the address
  const addressNotice = ignored.length
    ? h(
        "div",
        { class: "notice warn", id: "address-notice", role: "status" },
        h("span", null, `Ignored in the address: ${ignored.join("; ")}.`),
      )
    : null;
  const counts = h("div", { class: "metrics task-metrics" });
  const graphBody = h("div", { class: "graph-wrap" });
  const graphNote = h("p", { class: "muted small graph-note", hidden: true });
  const tableBody = h("div", { class: "table-slot" });
  const filterSlot = h("div", { class: "filter-slot" });
  const panel = h(
    "section",
    { class: "card task-detail", "aria-live": "polite" },
    h("div", { class: "card-body muted" }, "Loading…"),
  );
  const legend = h(
    "div",
    { class: "graph-legend" },
    ["blocks", "requires", "related"].map((type) =>
      h(
        "span",
        { class: "legend-edge" },
        h(
          "svg:svg",
          { width: 26, height: 8, "aria-hidden": "true" },
          h("svg:line", { class: `graph-edge edge-${type}`, x1: 1, x2: 25, y1: 4, y2: 4 }),
        ),
        type,
      ),
    ),
    h("span", {}, h("span", { class: "ready-pill" }, "ready"), "can start now"),
  );
  const view = h(
    "div",
    { class: `tasks-view${taskId ? " with-detail" : ""}`, "data-view": "tasks" },
    counts,
    h(
      "section",
      { class: "card graph-card" },
      h(
        "header",
        { class: "card-head" },
        h("h3", {}, "Dependency graph"),
        h("span", { class: "muted" }, "arrows point from a task to what waits on it"),
        h("div", { class: "spacer" }),
        legend,
      ),
      graphBody,
      graphNote,
    ),
    taskId ? panel : null,
    h("section", { class: "card table-card" }, filterSlot, addressNotice, tableBody),
  );
  root.append(view);

  let overview;
  const drawOverview = () => {
    counts.replaceChildren(...countCards(overview));
    const { tasks, note } = graphTasks(overview, taskId);
    const graph = dependencyGraph({ tasks, ready: overview.ready, selected: taskId, onSelect: open });
    graphBody.replaceChildren(
      graph ||
        h(
          "div",
          { class: "empty", id: "no-tasks" },
          h("p", null, `No tasks in ${project} yet. Create one with the API:`),
          h(
            "pre",
            null,
            `curl -s ${location.origin}${path("projects", project, "tasks")} \\\n` +
              `  -H 'content-type: application/json' -d '{"id": "T-1", "title": "Write the retry policy"}'`,
          ),
        ),
    );
    graphNote.textContent = note || "";
    graphNote.hidden = !note;
  };
  let tableTicket = 0;
  const tableKey = () => `${project}?${JSON.stringify(filters)}`;
  const loadTable = async () => {
    const ticket = ++tableTicket;
    const key = tableKey();
    const { offset, ...rest } = filters;
    const page = await api(withQuery(path("projects", project, "tasks"), { ...rest, limit: PAGE, offset }));
    if (ticket !== tableTicket) return;
    lastTable = { key, page };
    tableBody.replaceChildren(taskTable(project, page, filters, overview, taskId, navigate, turn));
  };
  function apply(change, redraw = true) {
    Object.assign(filters, change, { offset: 0 });
    if (addressNotice) addressNotice.remove();
    remember(false);
    if (redraw) filterSlot.replaceChildren(filterBar(filters, overview, apply));
    loadTable();
  }
  function turn(direction) {
    filters.offset = Math.max(0, filters.offset + direction * PAGE);
    remember(true); // a step in the browser's history: Back returns to the page before
    loadTable();
  }

  try {
    overview = await loadOverview(project);
  } catch (error) {
    view.replaceChildren(
      h("div", { class: "card" }, h("div", { class: "empty" }, `Tasks unavailable: ${error.message}`)),
    );
    return () => {};
  }
  drawOverview();
  filterSlot.replaceChildren(filterBar(filters, overview, apply));
  // moving from task to task: draw the table as it was at once, then as it is
  if (lastTable && lastTable.key === tableKey())
    tableBody.replaceChildren(taskTable(project, lastTable.page, filters, overview, taskId, navigate, turn));
  await Promise.all([loadTable(), taskId ? renderDetail(panel, project, taskId, overview, navigate) : null]);

  // live: history is in the change feed (a status change is a history entry too), and so are the runs
  let timer = null;
  const stop = follow(project, (event) => {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const ofTask = (data.execution && data.execution.taskId) || null;
    if (event.type !== "history.appended" && !(taskId && ofTask === taskId)) return;
    if (timer !== null) return;
    timer = setTimeout(async () => {
      timer = null;
      overview = await loadOverview(project, true);
      drawOverview();
      filterSlot.replaceChildren(filterBar(filters, overview, apply));
      await Promise.all([loadTable(), taskId ? renderDetail(panel, project, taskId, overview, navigate) : null]);
    }, 1000);
  });
  return () => {
    stop();
    if (timer !== null) clearTimeout(timer);
  };
}

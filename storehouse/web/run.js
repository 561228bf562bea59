// One run (#/p/{project}/runs/{id}): its head, the steps' timeline, input, output and metadata, its task's
// history; redrawn live as the run changes.
import { ApiError, api, follow, formatCost, formatTime, formatTokens, h, path, statusBadge, withQuery } from "./lib.js";
import { listHash, listMemory, readFilters } from "./filters.js";
import { timeline } from "./timeline.js";
import {
  LIVE_DEBOUNCE_MS,
  copyButton,
  duration,
  empty,
  icon,
  isStale,
  jsonPane,
  jsonTree,
  projectHash,
  relative,
  markStale,
  runHash,
  taskHash,
  time,
} from "./ui.js";

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
  const status = h("span", { class: "run-status" }, statusBadge(run.status));
  const stale = isStale(run);
  const lastUpdate = run.updatedAt || run.startedAt;
  if (stale) markStale(status.firstChild, run);
  return h(
    "section",
    { class: "card run-head", id: "run-head" },
    h("div", { class: "run-title" }, h("h1", null, run.name || run.id), status),
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
        run.completedAt ? formatTime(run.completedAt) : run.status !== "running" ? "—" : stale ? "stale" : "running…",
        run.completedAt ? relative(run.completedAt) : stale ? `no update since ${relative(lastUpdate)}` : "",
      ),
      run.duration === null && run.status === "running" && time(run.startedAt) !== null
        ? stale
          ? fact("Duration", duration(time(lastUpdate) - time(run.startedAt)), "until the last update")
          : fact("Duration", duration(Date.now() - time(run.startedAt)), "so far")
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

export async function renderRun(root, ctx) {
  const { project, id } = ctx.route;
  const { setLive, setCrumbs } = ctx;
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

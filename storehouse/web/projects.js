// The projects view (#/): a card per project with its figures and status mix, and the latest runs across them.
import { api, costColumn, formatCost, formatTime, h, path, statusBadge, withQuery } from "./lib.js";
import { STATUSES, avatar, duration, empty, icon, percent, projectHash, relative, runHash } from "./ui.js";

export async function renderProjects(root, ctx) {
  const { projects, total } = await allProjects(ctx);
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
    drawRecent(recent, newest.slice(0, 12), ctx.navigate),
  ]);
}

const RECENT = 8;
const PROJECT_PAGE = 1000; // the largest page GET /api/projects gives

// Every project, page after page (offset paging, by id): a directory with thousands still shows them all.
async function allProjects(ctx) {
  const projects = [];
  let total = 0;
  do {
    const page = await api(withQuery(path("projects"), { limit: PROJECT_PAGE, offset: projects.length }));
    projects.push(...page.projects);
    total = page.total;
    if (!page.projects.length || !ctx.current()) break;
  } while (projects.length < total);
  return { projects, total };
}

async function drawRecent(target, projects, navigate) {
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
  const cost = costColumn(runs.map((run) => run.costUSD));
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
              h("td", { class: "num cost" }, cost(run.costUSD)),
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

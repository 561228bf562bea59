// A run's steps on a time axis: a bar per step, coloured by agent, laid out by the steps' times; a step opens
// on its input and output.
import { costColumn, formatTokens, h } from "./lib.js";
import { duration, icon, jsonPane, time } from "./ui.js";

const AGENT_COLOURS = ["#6172f3", "#0ba5ec", "#15b79e", "#dd2590", "#875bf7", "#e62e05", "#099250", "#c4320a"];

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

export function timeline(run) {
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

  const cost = costColumn(rows.map((row) => row.step.costUSD));
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
      h("span", { class: "num cost" }, cost(step.costUSD)),
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

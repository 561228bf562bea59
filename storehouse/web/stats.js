// Stats view, #/p/{project}/stats: summary cards from GET .../executions/stats, then four charts from
// GET .../executions/stats/daily (runs per day by status, cost, tokens, p50 and p95 duration). Both answers are
// computed by the server from its index, so the page costs the same with 100 runs or 100,000.
// The range (7, 14, 30 or 90 days) is remembered; the end day defaults to the day of the newest run.

import { api, follow, formatCost, formatDuration, formatTokens, h, path, withQuery } from "./lib.js";
import { DURATION_STEPS, chart, durationTick, shortDate } from "./charts.js";

const RANGES = [7, 14, 30, 90];
const RANGE_KEY = "storehouse.statsDays";
const RELOAD_MS = 3000; // after a change to the project's runs, at most one reload per this
const STATUS_SERIES = ["completed", "failed", "cancelled", "running", "pending"].map((status) => ({
  key: status,
  label: status,
  color: `var(--c-${status})`,
  value: (day) => (day.byStatus || {})[status] || 0,
}));

function savedRange() {
  const value = Number(localStorage.getItem(RANGE_KEY));
  return RANGES.includes(value) ? value : 30;
}

function shiftDate(text, days) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

function costTick(usd) {
  if (Number.isInteger(usd)) return `$${usd.toLocaleString("en-US")}`;
  if (usd < 0.01) return `$${+usd.toPrecision(2)}`;
  return `$${usd.toFixed(2)}`;
}

function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(rate * 100).toFixed(rate >= 0.995 || rate === 0 ? 0 : 1)}%`;
}

function card(name, label, value, sub, extra) {
  return h(
    "div",
    { class: "card metric stat-card", "data-card": name },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    h("div", { class: "sub" }, sub),
    extra,
  );
}

function statusMix(stats) {
  const bar = h("div", { class: "mix stat-mix", role: "img", "aria-label": "runs by status" });
  for (const s of STATUS_SERIES) {
    const count = stats[s.key] || 0;
    if (count)
      bar.append(
        h("span", {
          class: `m-${s.key}`,
          style: `flex-grow: ${count}`,
          title: `${s.key}: ${count.toLocaleString("en-US")}`,
        }),
      );
  }
  return bar;
}

function summaryCards(stats, daily) {
  const n = (value) => (value || 0).toLocaleString("en-US");
  const span = daily ? `${daily.days.length} days` : null;
  const inRange = daily ? daily.days.reduce((sum, d) => sum + d.runs, 0) : 0;
  const rangeCost = daily ? daily.days.reduce((sum, d) => sum + (d.costUSD || 0), 0) : 0;
  const rangeTokens = daily ? daily.days.reduce((sum, d) => sum + (d.tokens || 0), 0) : 0;
  const finished = (stats.completed || 0) + (stats.failed || 0) + (stats.cancelled || 0);
  const rate = stats.totalExecutions ? stats.successRate : null;
  return [
    card("runs", "Runs", n(stats.totalExecutions), span ? `${n(inRange)} in these ${span}` : "", statusMix(stats)),
    card(
      "success",
      "Success rate",
      percent(rate),
      `${n(stats.completed)} completed · ${n(stats.failed)} failed`,
      h("div", { class: "bar" }, h("span", { style: `width: ${Math.max(0, Math.min(1, rate || 0)) * 100}%` })),
    ),
    card(
      "cost",
      "Total cost",
      formatCost(stats.totalCostUSD || 0),
      span ? `${formatCost(rangeCost)} in these ${span}` : `${formatCost(stats.averageCostUSD || 0)} per run`,
    ),
    card(
      "tokens",
      "Tokens",
      formatTokens(stats.totalTokens || 0),
      span ? `${formatTokens(rangeTokens)} in these ${span}` : `${formatTokens(stats.inputTokens || 0)} in`,
    ),
    card(
      "duration",
      "Average duration",
      formatDuration(stats.averageDuration === null ? null : Math.round(stats.averageDuration || 0)),
      `over ${n(finished)} finished runs`,
    ),
  ];
}

// The project's retention policy (GET .../settings), in words: what is kept of its runs and of its history.
// A key the server does not send (an older server has no runTtlDays or maxRuns) or sends as null means no
// limit of that kind: "kept: all".
export function retentionWords(settings) {
  const n = (value) => value.toLocaleString("en-US");
  const limit = (value) => (Number.isInteger(value) && value > 0 ? value : null);
  const words = (days, most, unit) => {
    if (days === null && most === null) return "kept: all";
    const parts = [];
    if (days !== null) parts.push(`kept ${n(days)} day${days === 1 ? "" : "s"}`);
    if (most !== null) parts.push(`${days === null ? "kept: " : ""}at most ${n(most)}${unit(most)}`);
    return parts.join(", ");
  };
  const s = settings || {};
  const perTask = (most) => (most === 1 ? " entry per task" : " entries per task");
  return {
    runs: `Runs ${words(limit(s.runTtlDays), limit(s.maxRuns), () => "")}`,
    history: `History ${words(limit(s.historyTtlDays), limit(s.historyMaxEntriesPerTask), perTask)}`,
  };
}

function retentionLine(target, settings) {
  const { runs, history } = retentionWords(settings);
  target.replaceChildren(
    h("span", { class: "retention-label" }, "Retention"),
    h("span", { "data-retention": "runs" }, runs),
    h("span", { class: "sep", "aria-hidden": "true" }, "·"),
    h("span", { "data-retention": "history" }, history),
    h("span", { class: "muted small" }, "(PUT .../settings changes it; a read never shows what is past it)"),
  );
}

function chartCard(title, summary, made) {
  return h(
    "section",
    { class: "card chart-card" },
    h("header", { class: "chart-head" }, h("h3", {}, title), h("span", { class: "chart-summary num" }, summary)),
    made.element,
  );
}

export async function renderStats(root, { project }) {
  let range = savedRange();
  let until = null; // null: the day of the newest run
  let loading = 0;
  let charts = [];
  let timer = null;

  const rangeButtons = RANGES.map((days) =>
    h(
      "button",
      {
        type: "button",
        class: `chip${days === range ? " on" : ""}`,
        "data-days": days,
        "aria-pressed": String(days === range),
        onclick: () => {
          range = days;
          localStorage.setItem(RANGE_KEY, String(days));
          load();
        },
      },
      `${days} days`,
    ),
  );
  const dateInput = h("input", {
    type: "date",
    class: "input date-input",
    "aria-label": "last day",
    onchange: (event) => {
      until = event.target.value || null;
      load();
    },
  });
  const shift = (sign) => () => {
    if (!dateInput.value) return;
    until = shiftDate(dateInput.value, sign * range);
    load();
  };
  const latest = h("button", { type: "button", class: "btn", onclick: () => ((until = null), load()) }, "Latest");
  const spanLabel = h("span", { class: "range-label muted" });
  const toolbar = h(
    "div",
    { class: "card toolbar stats-toolbar" },
    h("div", { class: "chips", role: "group", "aria-label": "range" }, rangeButtons),
    h("div", { class: "date-nav" }, [
      h("button", { type: "button", class: "btn icon", title: "earlier", onclick: shift(-1) }, "‹"),
      dateInput,
      h("button", { type: "button", class: "btn icon", title: "later", onclick: shift(1) }, "›"),
      latest,
    ]),
    h("div", { class: "spacer" }),
    spanLabel,
  );
  const cards = h("div", { class: "metrics stat-cards" });
  const grid = h("div", { class: "chart-grid" });
  const retention = h("div", { class: "card retention", id: "retention" });
  const view = h("div", { class: "stats-view", "data-view": "stats" }, cards, retention, toolbar, grid);
  root.append(view);
  const loadRetention = async () => {
    try {
      retentionLine(retention, await api(path("projects", project, "settings")));
    } catch (error) {
      retention.replaceChildren(h("span", { class: "muted" }, `Retention unavailable: ${error.message}`));
    }
  };

  async function load() {
    const ticket = ++loading;
    rangeButtons.forEach((b) => {
      b.setAttribute("aria-pressed", String(Number(b.dataset.days) === range));
      b.classList.toggle("on", Number(b.dataset.days) === range);
    });
    view.classList.add("loading");
    const base = path("projects", project, "executions", "stats");
    const [stats, daily] = await Promise.all([
      api(base).catch((error) => ({ error })),
      api(withQuery(`${base}/daily`, { days: range, until })).catch((error) => ({ error })),
    ]);
    if (ticket !== loading) return; // a newer load started
    view.classList.remove("loading");
    charts.forEach((c) => c.destroy());
    charts = [];
    if (stats.error) cards.replaceChildren(h("div", { class: "empty" }, `Totals unavailable: ${stats.error.message}`));
    else cards.replaceChildren(...summaryCards(stats, daily.error ? null : daily));
    if (daily.error) {
      grid.replaceChildren(h("div", { class: "empty" }, `Daily figures unavailable: ${daily.error.message}`));
      spanLabel.textContent = "";
      return;
    }
    dateInput.value = daily.to;
    spanLabel.textContent = `${shortDate(daily.from)} – ${shortDate(daily.to)}, ${daily.to.slice(0, 4)}`;
    view.dataset.from = daily.from;
    view.dataset.to = daily.to;
    if (!stats.error && !stats.totalExecutions) {
      grid.replaceChildren(
        h(
          "div",
          { class: "card span-all" },
          h(
            "div",
            { class: "empty" },
            h("h2", {}, "No runs recorded yet"),
            h("p", {}, "Charts of runs, cost, tokens and durations per day appear here once runs are recorded:"),
            h(
              "pre",
              {},
              `curl -s ${location.origin}${path("projects", project, "executions")} \\\n` +
                `  -H 'content-type: application/json' -d '{"name": "triage", "status": "running"}'`,
            ),
          ),
        ),
      );
      return;
    }
    renderCharts(daily.days);
  }

  function renderCharts(days) {
    const sum = (key) => days.reduce((total, day) => total + (day[key] || 0), 0);
    const runs = chart({
      kind: "stacked",
      name: "runs",
      label: "runs per day by status",
      days,
      series: STATUS_SERIES,
      tickFormat: (v) => v.toLocaleString("en-US"),
    });
    const cost = chart({
      kind: "line",
      name: "cost",
      label: "cost per day",
      days,
      series: [{ key: "cost", label: "cost (USD)", color: "var(--c-cost)", area: true, value: (d) => d.costUSD }],
      tickFormat: costTick,
      valueFormat: formatCost,
    });
    const tokens = chart({
      kind: "line",
      name: "tokens",
      label: "tokens per day",
      days,
      series: [{ key: "tokens", label: "tokens", color: "var(--c-tokens)", area: true, value: (d) => d.tokens }],
      tickFormat: formatTokens,
      valueFormat: (v) => (v === null || v === undefined ? "—" : v.toLocaleString("en-US")),
    });
    const duration = chart({
      kind: "line",
      name: "duration",
      label: "p50 and p95 duration per day",
      days,
      series: [
        { key: "p50", label: "p50 (median)", color: "var(--c-p50)", value: (d) => d.p50Duration },
        { key: "p95", label: "p95", color: "var(--c-p95)", area: true, value: (d) => d.p95Duration },
      ],
      tickFormat: durationTick,
      valueFormat: formatDuration,
      steps: DURATION_STEPS,
    });
    charts = [runs, cost, tokens, duration];
    const p95 = days.map((d) => d.p95Duration).filter((v) => v !== null && v !== undefined);
    const total = sum("runs");
    const perDay = (value) => value / Math.max(1, days.length);
    grid.replaceChildren(
      chartCard("Runs per day", `${total.toLocaleString("en-US")} runs · ${+perDay(total).toFixed(1)} a day`, runs),
      chartCard("Cost per day", `${formatCost(sum("costUSD"))} · ${formatCost(perDay(sum("costUSD")))} a day`, cost),
      chartCard(
        "Tokens per day",
        `${formatTokens(sum("tokens"))} · ${formatTokens(Math.round(perDay(sum("tokens"))))} a day`,
        tokens,
      ),
      chartCard("Duration per day", p95.length ? `worst p95 ${formatDuration(Math.max(...p95))}` : "", duration),
    );
    if (!total) {
      grid.prepend(
        h(
          "div",
          { class: "notice info span-all" },
          `No runs in these ${days.length} days: ‹ and › move the range, Latest goes to the newest run.`,
        ),
      );
    }
  }

  // live: a run written anywhere (this page, the CLI, an agent) refreshes the figures, at most every RELOAD_MS
  const stop = follow(project, (event) => {
    if (!event.type.startsWith("execution.") || timer !== null || until !== null) return;
    timer = setTimeout(() => {
      timer = null;
      load();
    }, RELOAD_MS);
  });
  await Promise.all([load(), loadRetention()]);
  return () => {
    stop();
    if (timer !== null) clearTimeout(timer);
    charts.forEach((c) => c.destroy());
  };
}

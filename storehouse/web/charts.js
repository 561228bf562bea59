// Hand-drawn SVG charts for the stats view: stacked bars (runs per day by status) and line/area charts (cost,
// tokens, durations). No library, no build step. Every data point is an element carrying `data-date`,
// `data-series` and `data-value`, so tests (and curious people) can count and read them; a stacked bar is one
// point per day whose `data-value` is the day's total. Hovering a day shows a box with every series' value.
//
// chart({kind, name, days, series, tickFormat, valueFormat, height}) -> {element, destroy}
//   kind: "stacked" | "line"; days: [{date: "YYYY-MM-DD", ...}]; series: [{key, label, color, value(day), area}]
// The chart redraws itself at its container's width (ResizeObserver); destroy() stops observing.

import { h } from "./lib.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DEFAULT_STEPS = [1, 2, 2.5, 5];

function parseDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

// "Fri 20 Nov 2026"
export function longDate(text) {
  const date = parseDate(text);
  return `${WEEKDAYS[date.getUTCDay()]} ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
}

// "Nov 20"
export function shortDate(text) {
  const date = parseDate(text);
  return `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}`;
}

// Round axis ticks from 0 to at least max: about `count` steps of 1, 2, 2.5 or 5 times a power of ten, or one
// of `steps` (durations want 15 s, 30 s, 1 min... rather than 20,000 ms).
export function niceTicks(max, count = 4, steps = null) {
  if (!(max > 0)) return { top: 1, ticks: [0, 1] };
  const raw = max / count;
  let step;
  if (steps) step = steps.find((s) => s >= raw) || steps[steps.length - 1] * Math.ceil(raw / steps[steps.length - 1]);
  else {
    const power = 10 ** Math.floor(Math.log10(raw));
    step = DEFAULT_STEPS.map((m) => m * power).find((s) => s >= raw) || 10 * power;
  }
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks = [];
  for (let value = 0; value <= top + step / 2; value += step) ticks.push(Number(value.toPrecision(12)));
  return { top, ticks };
}

export const DURATION_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000,
  1800000, 3600000, 7200000, 10800000, 21600000, 43200000, 86400000,
];

// 1500 -> "1.5 s", 90000 -> "1.5 min": short enough for an axis
export function durationTick(ms) {
  if (ms === 0) return "0";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${+(ms / 60000).toFixed(1)} min`;
  return `${+(ms / 3600000).toFixed(1)} h`;
}

const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

// a rectangle whose top corners are rounded (the top of a bar)
function topRounded(x, y, w, height, r) {
  const rr = Math.max(0, Math.min(r, w / 2, height));
  return (
    `M${x},${y + height}V${y + rr}Q${x},${y} ${x + rr},${y}H${x + w - rr}Q${x + w},${y} ${x + w},${y + rr}` +
    `V${y + height}Z`
  );
}

function round(n) {
  return Math.round(n * 10) / 10;
}

export function chart(options) {
  const { kind, name, days, series, height = 230 } = options;
  const tickFormat = options.tickFormat || ((v) => String(v));
  const valueFormat = options.valueFormat || tickFormat;
  const hidden = new Set();
  const plot = h("div", { class: "chart-plot" });
  const tip = h("div", { class: "chart-tip", role: "status", hidden: true });
  const legend = h("div", { class: "chart-legend" });
  const element = h(
    "div",
    { class: `chart chart-${kind}`, "data-chart": name, "data-points": days.length },
    legend,
    plot,
  );
  plot.append(tip);
  let width = 0;

  for (const s of series) {
    const item = h(
      "button",
      {
        type: "button",
        class: "legend-item",
        "aria-pressed": "true",
        title: `Show or hide ${s.label}`,
        onclick: () => {
          if (hidden.has(s.key)) hidden.delete(s.key);
          else if (hidden.size < series.length - 1) hidden.add(s.key);
          item.setAttribute("aria-pressed", String(!hidden.has(s.key)));
          draw(true);
        },
      },
      h("span", { class: `swatch${s.dashed ? " dashed" : ""}`, style: `--swatch: ${s.color}` }),
      s.label,
    );
    legend.append(item);
  }

  const shown = () => series.filter((s) => !hidden.has(s.key));
  const total = (day) => shown().reduce((sum, s) => sum + (s.value(day) || 0), 0);

  function draw(force = false) {
    const measured = Math.floor(plot.clientWidth) || 560;
    if (!force && measured === width) return;
    width = measured;
    const visible = shown();
    let max = 0;
    for (const day of days) {
      if (kind === "stacked") max = Math.max(max, total(day));
      else for (const s of visible) max = Math.max(max, s.value(day) || 0);
    }
    const { top, ticks } = niceTicks(max, 4, options.steps);
    const labels = ticks.map(tickFormat);
    const left = Math.max(28, 12 + 6.6 * Math.max(...labels.map((l) => l.length)));
    const right = 10;
    const topPad = kind === "stacked" ? 18 : 12;
    const bottom = 26;
    const plotW = Math.max(40, width - left - right);
    const plotH = height - topPad - bottom;
    const band = plotW / Math.max(1, days.length);
    const xAt = (i) => left + band * (i + 0.5);
    const yAt = (v) => topPad + plotH - (plotH * v) / top;
    const root = svg("svg", {
      class: "chart-svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": options.label || name,
    });

    // weekends, then the grid and the y axis
    const back = svg("g", { class: "chart-back" });
    days.forEach((day, i) => {
      const weekday = parseDate(day.date).getUTCDay();
      if (band >= 8 && (weekday === 0 || weekday === 6)) {
        back.append(
          svg("rect", { class: "weekend", x: round(left + band * i), y: topPad, width: round(band), height: plotH }),
        );
      }
    });
    ticks.forEach((value, i) => {
      const y = round(yAt(value));
      back.append(svg("line", { class: i === 0 ? "axis" : "grid", x1: left, x2: left + plotW, y1: y, y2: y }));
      back.append(svg("text", { class: "tick y", x: left - 8, y: y + 3.5, "text-anchor": "end" }, labels[i]));
    });

    // the x axis: day numbers, the month where it starts or changes; thinned to fit, always ending on the last day
    const every = Math.max(1, Math.ceil(26 / band));
    const xLabels = [];
    let lastMonth = null;
    days.forEach((day, i) => {
      if ((days.length - 1 - i) % every !== 0) return;
      const date = parseDate(day.date);
      const month = date.getUTCMonth();
      const text = month !== lastMonth ? `${MONTHS[month]} ${date.getUTCDate()}` : String(date.getUTCDate());
      lastMonth = month;
      xLabels.push([xAt(i), text]);
    });
    let leftmost = Infinity;
    for (let n = xLabels.length - 1; n >= 0; n--) {
      const [x, text] = xLabels[n];
      const half = (text.length * 6.4) / 2;
      if (x + half + 6 > leftmost) continue; // would overlap the label on its right
      leftmost = x - half;
      back.append(svg("text", { class: "tick x", x: round(x), y: height - 8, "text-anchor": "middle" }, text));
    }
    root.append(back);

    const marks = svg("g", { class: "chart-marks" });
    if (kind === "stacked") drawBars(marks, visible, { xAt, yAt, band, plotH, topPad });
    else drawLines(marks, visible, { xAt, yAt, band, topPad, plotH });
    root.append(marks);

    // hover: one invisible column per day shows the box and a guide
    const guide = svg("line", {
      class: "chart-guide",
      y1: topPad,
      y2: topPad + plotH,
      x1: 0,
      x2: 0,
      visibility: "hidden",
    });
    root.append(guide);
    const hits = svg("g", { class: "chart-hits" });
    days.forEach((day, i) => {
      hits.append(
        svg("rect", {
          x: round(left + band * i),
          y: topPad,
          width: round(band),
          height: plotH,
          "data-hit": day.date,
          onmouseenter: () => show(i, guide, root, xAt, band),
        }),
      );
    });
    hits.addEventListener("mouseleave", () => {
      tip.hidden = true;
      guide.setAttribute("visibility", "hidden");
      root.querySelectorAll(".hover").forEach((node) => node.classList.remove("hover"));
    });
    root.append(hits);

    plot.querySelector("svg")?.remove();
    plot.prepend(root);
  }

  function drawBars(marks, visible, { xAt, yAt, band, topPad, plotH }) {
    const barW = Math.max(1, Math.min(38, band * 0.68));
    const showLabels = band >= 20;
    days.forEach((day, i) => {
      const sum = total(day);
      const column = svg("g", {
        class: "day-bar",
        "data-date": day.date,
        "data-series": name,
        "data-value": sum,
        "aria-label": `${day.date}: ${valueFormat(sum)}`,
      });
      const x = round(xAt(i) - barW / 2);
      let base = 0;
      const parts = visible.map((s) => [s, s.value(day) || 0]).filter(([, v]) => v > 0);
      parts.forEach(([s, value], index) => {
        const y0 = yAt(base);
        const y1 = yAt(base + value);
        base += value;
        const attrs = { class: "segment", "data-status": s.key, "data-value": value, style: `fill: ${s.color}` };
        if (index === parts.length - 1)
          column.append(svg("path", { ...attrs, d: topRounded(x, round(y1), round(barW), round(y0 - y1), 3) }));
        else column.append(svg("rect", { ...attrs, x, y: round(y1), width: round(barW), height: round(y0 - y1) }));
      });
      if (!parts.length)
        column.append(svg("rect", { class: "zero", x, y: round(topPad + plotH - 1), width: round(barW), height: 1 }));
      if (showLabels && sum > 0) {
        column.append(
          svg(
            "text",
            { class: "bar-label", x: round(xAt(i)), y: round(yAt(sum) - 5), "text-anchor": "middle" },
            valueFormat(sum),
          ),
        );
      }
      marks.append(column);
    });
  }

  function drawLines(marks, visible, { xAt, yAt, band, topPad, plotH }) {
    const radius = band >= 14 ? 3.2 : band >= 8 ? 2.2 : 0; // too close to tell apart: shown on hover only
    const areas = svg("g", { class: "areas" }); // every area under every line
    marks.append(areas);
    for (const s of visible) {
      const group = svg("g", { class: "series", "data-series-group": s.key, style: `--series: ${s.color}` });
      const runs = [];
      let current = [];
      days.forEach((day, i) => {
        const value = s.value(day);
        if (value === null || value === undefined) {
          if (current.length) runs.push(current);
          current = [];
        } else current.push([round(xAt(i)), round(yAt(value))]);
      });
      if (current.length) runs.push(current);
      if (s.area) {
        const bottom = topPad + plotH;
        for (const run of runs) {
          const line = run.map((p) => p.join(",")).join("L");
          const d = `M${run[0][0]},${bottom}L${line}L${run[run.length - 1][0]},${bottom}Z`;
          areas.append(svg("path", { class: "area", d, style: `fill: ${s.color}` }));
        }
      }
      for (const run of runs) {
        if (run.length > 1)
          group.append(
            svg("path", { class: `line${s.dashed ? " dashed" : ""}`, d: `M${run.map((p) => p.join(",")).join("L")}` }),
          );
      }
      days.forEach((day, i) => {
        const value = s.value(day);
        const missing = value === null || value === undefined;
        group.append(
          svg("circle", {
            class: missing ? "point missing" : "point",
            "data-date": day.date,
            "data-series": s.key,
            "data-value": missing ? "" : value,
            cx: round(xAt(i)),
            cy: missing ? topPad + plotH : round(yAt(value)),
            r: missing ? 0 : radius,
          }),
        );
      });
      marks.append(group);
    }
  }

  function show(i, guide, root, xAt, band) {
    const day = days[i];
    const x = xAt(i);
    root.querySelectorAll(".hover").forEach((node) => node.classList.remove("hover"));
    root.querySelectorAll(`[data-date="${day.date}"]`).forEach((node) => node.classList.add("hover"));
    guide.setAttribute("x1", round(x));
    guide.setAttribute("x2", round(x));
    guide.setAttribute("visibility", kind === "line" ? "visible" : "hidden");
    const rows = shown()
      .slice()
      .reverse()
      .filter((s) => kind !== "stacked" || s.value(day))
      .map((s) =>
        h(
          "div",
          { class: "tip-row" },
          h("span", { class: "swatch", style: `--swatch: ${s.color}` }),
          h("span", { class: "tip-label" }, s.label),
          h("span", { class: "tip-value num" }, valueFormat(s.value(day))),
        ),
      );
    tip.replaceChildren(h("div", { class: "tip-date" }, longDate(day.date)), ...rows);
    if (kind === "stacked") {
      tip.append(
        h(
          "div",
          { class: "tip-row tip-total" },
          h("span", { class: "tip-label" }, "total"),
          h("span", { class: "tip-value num" }, valueFormat(total(day))),
        ),
      );
    }
    tip.hidden = false;
    const tipW = tip.offsetWidth;
    const room = plot.clientWidth;
    const place = x + band / 2 + 10 + tipW <= room ? x + band / 2 + 10 : x - band / 2 - 10 - tipW;
    tip.style.left = `${Math.max(0, place)}px`;
    tip.style.top = "8px";
  }

  const observer = typeof ResizeObserver === "function" ? new ResizeObserver(() => draw()) : null;
  observer?.observe(plot);
  draw(true);
  return { element, destroy: () => observer?.disconnect() };
}

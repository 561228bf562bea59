// A project's runs (#/p/{project}): its figures, the filter toolbar, one page of the list by cursor, and the
// live refresh from the project's change feed.
import {
  ApiError,
  api,
  costColumn,
  follow,
  formatCost,
  formatTime,
  formatTokens,
  h,
  path,
  statusBadge,
  withQuery,
} from "./lib.js";
import {
  PAGE_SIZES,
  filterQuery,
  hasFilters,
  isDate,
  listHash,
  listMemory,
  listParams,
  readFilters,
  readPosition,
  rememberList,
} from "./filters.js";
import {
  LIVE_DEBOUNCE_MS,
  STALE_AFTER_MS,
  STATUSES,
  duration,
  empty,
  icon,
  isStale,
  markStale,
  percent,
  relative,
  runHash,
  taskHash,
  time,
} from "./ui.js";

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

export async function renderRuns(root, ctx) {
  const { project } = ctx.route;
  const { navigate, setLive } = ctx;
  const f = readFilters(ctx.route.query);
  // the page shown is in the address (at, cursor): a reload, a shared link and Back come to the same page.
  // stack holds the pages before it, for Prev; without them (a reload) Prev asks for the offset before.
  const state = { stack: [], pos: readPosition(ctx.route.query), seq: 0, shown: new Set(), fresh: 0, lastPage: null };
  const memoryKey = () => `${project}?${filterQuery(f)}`;
  if (listMemory && listMemory.key === memoryKey()) {
    const index = listMemory.pages.findIndex((p) => p.at === state.pos.at && p.cursor === state.pos.cursor);
    if (index >= 0) state.stack = listMemory.pages.slice(0, index);
  }
  const here = () => listHash(project, f, state.pos);

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

  // what the address asked for that is no filter or no valid value: said, not silently dropped
  const addressNotice = f.ignored.length
    ? h(
        "div",
        { class: "notice warn", id: "address-notice", role: "status" },
        icon("alert"),
        h("span", null, `Ignored in the address: ${f.ignored.join("; ")}.`),
      )
    : null;
  root.append(
    metrics,
    h(
      "div",
      { class: "card runs-card" },
      toolbar,
      addressNotice,
      newer,
      h("div", { class: "table-scroll" }, table),
      pager,
    ),
  );
  drawChips();
  drawHead();

  function row(run, longest, flash, cost) {
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
      h("td", { class: "num cost" }, cost(run.costUSD)),
    );
  }

  function drawRows(page, flashIds) {
    const longest = Math.max(0, ...page.executions.map((run) => run.duration || 0));
    const cost = costColumn(page.executions.map((run) => run.costUSD));
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
          row(run, longest, flashIds && (flashIds.has(run.id) || (previous.size > 0 && !previous.has(run.id))), cost),
        ),
      );
    }
    const start = state.pos.at;
    const count = page.executions.length;
    const fmt = (n) => n.toLocaleString("en-US");
    if (page.total === 0) range.replaceChildren("No runs");
    else if (count === 0) range.replaceChildren(`Nothing on this page, of ${fmt(page.total)}`);
    else range.replaceChildren(h("b", null, `${fmt(start + 1)}–${fmt(start + count)}`), ` of ${fmt(page.total)}`);
    prev.disabled = state.pos.at === 0;
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
      page = await api(withQuery(path("projects", project, "executions"), listParams(f, state.pos)));
    } catch (error) {
      if (seq !== state.seq) return;
      table.classList.remove("loading");
      prev.disabled = state.pos.at === 0;
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
    rememberList({ key: memoryKey(), project, hash: here(), pages: [...state.stack, { ...state.pos }] });
    markStaleRows(page, seq);
  }

  // a running run with no update for STALE_AFTER_MS is marked stale; the list's summaries carry no updatedAt, so
  // the documents of the running rows old enough to be stale are read (a few rows of the page, in parallel)
  async function markStaleRows(page, seq) {
    const now = Date.now();
    const candidates = page.executions.filter(
      (run) => run.status === "running" && time(run.startedAt) !== null && now - time(run.startedAt) > STALE_AFTER_MS,
    );
    await Promise.all(
      candidates.map(async (summary) => {
        let run;
        try {
          run = (await api(path("projects", project, "executions", summary.id))).execution;
        } catch {
          return; // deleted meanwhile, or the server is away: the row stays as it is
        }
        const badge = tbody.querySelector(`tr[data-id="${CSS.escape(summary.id)}"] .badge`);
        if (seq === state.seq && badge && !badge.classList.contains("is-stale") && isStale(run, now)) {
          markStale(badge, run);
          badge.closest("tr").dataset.stale = "true";
        }
      }),
    );
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
    state.pos = { at: 0, cursor: null };
    state.fresh = 0;
    newer.hidden = true;
  }

  // a move to another page is a step in the browser's history: Back returns to the page before
  function turnTo(pos) {
    state.pos = pos;
    history.pushState(null, "", here());
    load();
  }

  function apply() {
    firstPage();
    if (addressNotice) addressNotice.remove();
    history.replaceState(null, "", here());
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
    if (state.pos.at === 0) return;
    const before = state.stack.pop() || { at: Math.max(0, state.pos.at - f.limit), cursor: null };
    if (before.at === 0) newer.hidden = true;
    turnTo(before);
  });
  next.addEventListener("click", () => {
    if (!state.lastPage || !state.lastPage.nextCursor) return;
    state.stack.push({ ...state.pos });
    turnTo({ at: state.pos.at + state.lastPage.executions.length, cursor: state.lastPage.nextCursor });
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

  const opening = async () => {
    try {
      await load({ raise: true });
    } catch (error) {
      // a cursor from an old link (or typed by hand) the server cannot read: the first page instead, and why
      if (!(error instanceof ApiError) || error.status !== 400 || state.pos.at === 0) throw error;
      firstPage();
      history.replaceState(null, "", here());
      tbody.closest(".card").insertBefore(
        h(
          "div",
          { class: "notice warn", id: "position-notice", role: "status" },
          icon("alert"),
          h("span", null, `The page in the address could not be shown (${error.message}): this is the first page.`),
        ),
        newer,
      );
      await load({ raise: true });
    }
  };
  await Promise.all([opening(), loadStats()]);
  if (!ctx.current()) return;

  // live: a change to the project refreshes the first page (a later page would shift under the reader,
  // so there a banner offers the newest runs instead)
  const touched = new Set();
  let timer = null;
  const refresh = async () => {
    const ids = new Set(touched);
    touched.clear();
    loadStats();
    if (state.pos.at === 0) {
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
              history.pushState(null, "", here());
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

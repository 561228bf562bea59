// The runs list's filters, kept in the hash query (#/p/{project}?status=&tag=&q=&from=&to=&sort=&limit=) and
// sent as the API's parameters, and the list page last shown, which the one-run view links back to.
import { STATUSES, enc, projectHash } from "./ui.js";

const SORTS = ["-startedAt", "startedAt", "-duration", "duration", "-costUSD", "costUSD"];
const DEFAULT_SORT = "-startedAt";
export const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;

// the page of the list the user was on, so coming back from a run returns to it
export let listMemory = null;

export function rememberList(memory) {
  listMemory = memory;
}

export function isDate(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
}

export function readFilters(query) {
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
export function filterQuery(f) {
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

export function listHash(project, f) {
  const query = filterQuery(f);
  return query ? `${projectHash(project)}?${query}` : projectHash(project);
}

export const hasFilters = (f) => Boolean(f.status.length || f.tag || f.q || f.from || f.to);

function dayAfter(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString();
}

export function listParams(f, cursor) {
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

// The runs list's filters and page position, kept in the hash query
// (#/p/{project}?status=&tag=&q=&from=&to=&sort=&limit=&at=&cursor=) and sent as the API's parameters, and the
// list pages last shown, which the one-run view links back to and Prev steps back through.
import { STATUSES, enc, projectHash } from "./ui.js";

const SORTS = ["-startedAt", "startedAt", "-duration", "duration", "-costUSD", "costUSD"];
const DEFAULT_SORT = "-startedAt";
export const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;
const KEYS = ["status", "tag", "q", "from", "to", "sort", "limit", "at", "cursor"];

// the pages of the list the user went through, so coming back from a run returns to the page, and Prev to
// the ones before it: {key, project, hash, pages: [{cursor, at}, ...]}, the last being the one shown
export let listMemory = null;

export function rememberList(memory) {
  listMemory = memory;
}

export function isDate(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
}

const quoted = (text) => `“${text.length > 40 ? `${text.slice(0, 40)}…` : text}”`;
const oneOf = (items) => `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;

// The filters the hash query asks for. What it asks for that is no filter, or no valid value of one, is left
// out and said in f.ignored (one sentence each), for the page to show: a link with ?status=bogus shows all runs,
// and says why.
export function readFilters(query) {
  const ignored = [];
  const sort = query.get("sort");
  const limitText = query.get("limit");
  const limit = Number(limitText);
  const statuses = (query.get("status") || "").split(",").filter(Boolean);
  const bad = statuses.filter((s) => !STATUSES.includes(s));
  if (bad.length) ignored.push(`status ${bad.map(quoted).join(", ")}: a status is ${oneOf(STATUSES)}`);
  if (sort !== null && !SORTS.includes(sort)) ignored.push(`sort ${quoted(sort)}: the sorts are ${oneOf(SORTS)}`);
  if (limitText !== null && !PAGE_SIZES.includes(limit))
    ignored.push(`limit ${quoted(limitText)}: a page holds ${oneOf(PAGE_SIZES.map(String))} runs`);
  for (const key of ["from", "to"]) {
    const value = query.get(key);
    if (value !== null && !isDate(value)) ignored.push(`${key} ${quoted(value)}: a day is written YYYY-MM-DD`);
  }
  const at = query.get("at");
  if (at !== null && !/^\d{1,9}$/.test(at)) ignored.push(`at ${quoted(at)}: a position is a whole number`);
  for (const key of new Set(query.keys())) {
    if (!KEYS.includes(key)) ignored.push(`${quoted(key)}: not a filter of this list (${KEYS.slice(0, 7).join(", ")})`);
  }
  return {
    status: statuses.filter((s) => STATUSES.includes(s)),
    tag: query.get("tag") || "",
    q: query.get("q") || "",
    from: isDate(query.get("from")) ? query.get("from") : "",
    to: isDate(query.get("to")) ? query.get("to") : "",
    sort: SORTS.includes(sort) ? sort : DEFAULT_SORT,
    limit: PAGE_SIZES.includes(limit) ? limit : DEFAULT_LIMIT,
    ignored,
  };
}

// The page of the list the hash query points at: {at, cursor}, at being the position of its first run (0 for
// the first page) and cursor the API's cursor of that page, if the page was reached by Next.
export function readPosition(query) {
  const at = query.get("at");
  const position = /^\d{1,9}$/.test(at || "") ? Number(at) : 0;
  return { at: position, cursor: position > 0 ? query.get("cursor") || null : null }; // the first page has none
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

// the hash of the list with these filters, at this page (the first if none is given)
export function listHash(project, f, position) {
  const parts = [filterQuery(f)];
  if (position && position.at > 0) parts.push(`at=${position.at}`);
  if (position && position.at > 0 && position.cursor) parts.push(`cursor=${enc(position.cursor)}`);
  const query = parts.filter(Boolean).join("&");
  return query ? `${projectHash(project)}?${query}` : projectHash(project);
}

export const hasFilters = (f) => Boolean(f.status.length || f.tag || f.q || f.from || f.to);

function dayAfter(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString();
}

// the API's parameters for the page at position: its cursor if it has one, else its offset
export function listParams(f, position) {
  return {
    status: f.status.join(","),
    tag: f.tag,
    q: f.q.trim(),
    startedAfter: f.from ? `${f.from}T00:00:00.000Z` : "",
    startedBefore: f.to ? dayAfter(f.to) : "", // the "to" day is included
    sort: f.sort === DEFAULT_SORT ? "" : f.sort,
    limit: f.limit,
    cursor: position.cursor,
    offset: position.cursor || !position.at ? "" : position.at,
  };
}

// The API reference at /docs: reads /openapi.json and renders a sidebar of operations grouped by tag (or by
// path), a card per operation (parameters, request body, responses, each schema as a tree with its $refs
// resolved), the component schemas, and "Try it" for GET operations. Plain ES module, offline, no build step.

import { ApiError, api, h, setToken, token, withQuery } from "./lib.js";

const METHODS = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];
const REMEMBERED = "storehouse.docs.params"; // path and query values typed in one card, offered in the others
const OPEN_DEPTH = 1; // nested schemas open up to this depth; deeper ones start folded
const SAFE_INTEGER = Number.MAX_SAFE_INTEGER;
const TEXT_LIMIT = 20000; // characters of a text answer (an export) that Try it shows
const REASONS = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
  507: "Insufficient Storage",
};

// -- reading the document ---------------------------------------------------------------------------------

// The node a local JSON pointer ("#/components/schemas/Task") names, or undefined.
function resolve(doc, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .map((key) => decodeURIComponent(key).replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((node, key) => (node === undefined || node === null ? undefined : node[key]), doc);
}

function refName(ref) {
  return ref.split("/").pop();
}

// A parameter, request body or response, with its $ref (to components) followed.
function deref(doc, item) {
  let seen = 0;
  while (item && item.$ref && seen++ < 10) item = resolve(doc, item.$ref) || {};
  return item || {};
}

// Every operation of the document, in document order, with path-level parameters merged in.
function operations(doc) {
  const found = [];
  for (const [route, item] of Object.entries(doc.paths || {})) {
    const shared = (item.parameters || []).map((p) => deref(doc, p));
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const own = (op.parameters || []).map((p) => deref(doc, p));
      const key = (p) => `${p.in}:${p.name}`;
      const ownKeys = new Set(own.map(key));
      const params = [...shared.filter((p) => !ownKeys.has(key(p))), ...own];
      const id = op.operationId || `${method}${route.replace(/[^A-Za-z0-9]+/g, "-")}`;
      found.push({ method, route, op, id, params, group: null });
    }
  }
  assignGroups(found);
  return found;
}

// The words of a path that name things: /api/projects/{projectId}/tasks -> ["projects", "tasks"]
function resources(route) {
  return route.split("/").filter((s) => s && !s.startsWith("{") && s !== "api" && !/^v\d+$/.test(s));
}

// Each operation's group: its first tag; without tags, the resource its path names, the one after the
// top-level collection (/api/projects/{projectId}/tasks/{taskId} -> tasks), unless a later word of the path
// names a group of its own (/api/projects/{projectId}/tasks/{taskId}/history -> history, beside
// /api/projects/{projectId}/history).
function assignGroups(ops) {
  const primary = (route) => {
    const words = resources(route);
    return words[1] || words[0] || "other";
  };
  const named = new Set(ops.filter((item) => !item.op.tags?.length).map((item) => primary(item.route)));
  for (const item of ops) {
    if (item.op.tags?.length) {
      item.group = item.op.tags[0];
      continue;
    }
    const later = resources(item.route)
      .slice(2)
      .filter((word) => named.has(word));
    item.group = later.length ? later[later.length - 1] : primary(item.route);
  }
}

function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function groupsOf(doc, ops) {
  const groups = new Map();
  for (const tag of doc.tags || []) groups.set(tag.name, { name: tag.name, description: tag.description, ops: [] });
  for (const item of ops) {
    if (!groups.has(item.group)) groups.set(item.group, { name: item.group, description: null, ops: [] });
    groups.get(item.group).ops.push(item);
  }
  return [...groups.values()].filter((g) => g.ops.length);
}

function isEventStream(op) {
  return Object.values(op.responses || {}).some((r) => r && r.content && "text/event-stream" in r.content);
}

function slug(text) {
  return String(text)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

// -- small renderers --------------------------------------------------------------------------------------

// Text from the document: paragraphs, with `code` and ``code`` spans (the docstrings use both).
function prose(text, cls = "prose") {
  if (!text) return null;
  const paragraphs = String(text)
    .trim()
    .split(/\n\s*\n/);
  return h(
    "div",
    { class: cls },
    paragraphs.map((para) => {
      const parts = para.replace(/\s*\n\s*/g, " ").split(/(``[^`]+``|`[^`]+`)/);
      return h(
        "p",
        null,
        parts.map((part) => (part.startsWith("`") ? h("code", null, part.replace(/^`+|`+$/g, "")) : part)),
      );
    }),
  );
}

function methodBadge(method, cls = "method") {
  return h("span", { class: `${cls} m-${method}` }, method.toUpperCase());
}

// "/api/projects/{projectId}" with the {parameters} marked
function routeNode(route) {
  return h(
    "code",
    { class: "route" },
    route.split(/(\{[^}]+\})/).map((part) => (part.startsWith("{") ? h("span", { class: "route-param" }, part) : part)),
  );
}

function literal(value) {
  return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value);
}

function statusClass(code) {
  const first = String(code)[0];
  return { 1: "s-info", 2: "s-ok", 3: "s-redirect", 4: "s-client", 5: "s-server" }[first] || "s-default";
}

// JSON, indented, with its tokens marked for colour (built as text nodes: nothing is parsed as HTML).
function prettyJson(value) {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) return [String(value)];
  const nodes = [];
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  for (const match of text.matchAll(token)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    let cls = "j-num";
    if (match[1]) cls = match[2] ? "j-key" : "j-str";
    else if (match[3]) cls = "j-bool";
    else if (match[0] === "null") cls = "j-null";
    if (match[2]) nodes.push(h("span", { class: cls }, match[1]), match[2]);
    else nodes.push(h("span", { class: cls }, match[0]));
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

// -- schemas ----------------------------------------------------------------------------------------------

const NULL_TYPE = (s) =>
  s && (s.type === "null" || (Array.isArray(s.type) && s.type.length === 1 && s.type[0] === "null"));

// The schema to show for `schema`: a nullable anyOf/oneOf [X, null] becomes X with nullable set, and the
// annotations written beside it (description, default...) are kept. $refs stay, so they can be named.
function unwrap(schema) {
  schema = schema || {};
  for (const key of ["anyOf", "oneOf"]) {
    const variants = schema[key];
    if (Array.isArray(variants) && variants.length === 2 && variants.some(NULL_TYPE)) {
      const inner = variants.find((v) => !NULL_TYPE(v));
      const { [key]: _, ...rest } = schema;
      return { schema: { ...rest, ...inner, ...pick(rest) }, nullable: true };
    }
  }
  if (Array.isArray(schema.type) && schema.type.includes("null") && schema.type.length > 1) {
    const type = schema.type.filter((t) => t !== "null");
    return { schema: { ...schema, type: type.length === 1 ? type[0] : type }, nullable: true };
  }
  return { schema, nullable: schema.nullable === true };
}

// the annotations of the outer schema win over those of the referenced one
function pick(schema) {
  const out = {};
  for (const key of ["description", "default", "example", "examples", "title", "deprecated", "readOnly", "writeOnly"]) {
    if (key in schema) out[key] = schema[key];
  }
  return out;
}

// Follow a $ref (keeping the outer annotations); returns {schema, name} or {recursive: name}.
function follow(doc, schema, seen) {
  if (!schema || !schema.$ref) return { schema: schema || {}, name: null };
  const name = refName(schema.$ref);
  if (seen.has(schema.$ref)) return { schema: {}, name, recursive: true };
  const target = resolve(doc, schema.$ref) || {};
  const { $ref: _, ...outer } = schema;
  const followed = follow(doc, target, new Set([...seen, schema.$ref]));
  return { schema: { ...followed.schema, ...pick(outer) }, name, ref: schema.$ref };
}

// allOf parts merged into one object schema (properties and required united)
function merged(doc, schema, seen) {
  if (!Array.isArray(schema.allOf)) return schema;
  const { allOf, ...rest } = schema;
  const out = { ...rest, properties: { ...(rest.properties || {}) }, required: [...(rest.required || [])] };
  for (const part of allOf) {
    const resolved = merged(doc, follow(doc, part, seen).schema, seen);
    Object.assign(out.properties, resolved.properties || {});
    out.required.push(...(resolved.required || []));
    if (!out.type && resolved.type) out.type = resolved.type;
    if (!out.description && resolved.description) out.description = resolved.description;
  }
  return out;
}

// A short type label: "string", "ExecutionSummary[]", "map of integer", "string | integer"...
function typeLabel(doc, schema, seen, depth = 0) {
  if (depth > 4) return [h("span", { class: "t" }, "…")];
  const { schema: plain, nullable } = unwrap(schema);
  const parts = [];
  if (plain.$ref) {
    const name = refName(plain.$ref);
    parts.push(h("a", { class: "t t-ref", href: `#schema-${name}` }, name));
  } else if (plain.anyOf || plain.oneOf) {
    const variants = plain.anyOf || plain.oneOf;
    variants.forEach((v, i) => {
      if (i) parts.push(h("span", { class: "t-sep" }, " | "));
      parts.push(...typeLabel(doc, v, seen, depth + 1));
    });
  } else if (plain.type === "array" || (plain.items && !plain.type)) {
    const items = plain.items ? typeLabel(doc, plain.items, seen, depth + 1) : [h("span", { class: "t" }, "any")];
    parts.push(...items, h("span", { class: "t" }, "[]"));
  } else if (plain.type === "object" && !plain.properties && isSchema(plain.additionalProperties)) {
    parts.push(h("span", { class: "t" }, "map of "), ...typeLabel(doc, plain.additionalProperties, seen, depth + 1));
  } else {
    let type = plain.type;
    if (Array.isArray(type)) type = type.join(" | ");
    if (!type && plain.allOf) type = "object";
    if (!type && plain.enum) type = "enum";
    if (!type && "const" in plain) type = "const";
    parts.push(h("span", { class: "t" }, type || "any"));
  }
  if (nullable) parts.push(h("span", { class: "t-null" }, " | null"));
  return parts;
}

function isSchema(value) {
  return value && typeof value === "object" && !Array.isArray(value);
}

function range(schema) {
  const big = (n) => typeof n === "number" && Math.abs(n) >= SAFE_INTEGER;
  const min = big(schema.minimum) ? undefined : schema.minimum;
  const max = big(schema.maximum) ? undefined : schema.maximum;
  const exMin = schema.exclusiveMinimum;
  const exMax = schema.exclusiveMaximum;
  const out = [];
  if (min !== undefined && max !== undefined) out.push(`${min} … ${max}`);
  else if (min !== undefined) out.push(`≥ ${min}`);
  else if (max !== undefined) out.push(`≤ ${max}`);
  if (typeof exMin === "number") out.push(`> ${exMin}`);
  if (typeof exMax === "number") out.push(`< ${exMax}`);
  const len = (lo, hi, what) => {
    if (lo !== undefined && hi !== undefined) out.push(`${lo} … ${hi} ${what}`);
    else if (lo !== undefined) out.push(`≥ ${lo} ${what}`);
    else if (hi !== undefined) out.push(`≤ ${hi} ${what}`);
  };
  len(schema.minLength, schema.maxLength, "chars");
  len(schema.minItems, schema.maxItems, "items");
  return out;
}

// The facts worth showing beside a type: format, enum, default, range, pattern, examples.
function facts(schema, extra = {}) {
  const out = [];
  const fact = (label, ...value) =>
    out.push(h("span", { class: "fact" }, h("span", { class: "fact-k" }, label), ...value));
  if (schema.format) fact("format", h("code", null, schema.format));
  if (Array.isArray(schema.enum)) {
    fact("one of", ...schema.enum.map((v) => h("code", { class: "enum" }, v === null ? "null" : String(v))));
  }
  if ("const" in schema) fact("always", h("code", null, literal(schema.const)));
  if ("default" in schema && schema.default !== null) fact("default", h("code", null, literal(schema.default)));
  for (const r of range(schema)) fact("range", h("code", null, r));
  if (schema.pattern) fact("pattern", h("code", { class: "pattern" }, schema.pattern));
  if (schema.uniqueItems) fact("unique", "items");
  const example = extra.example !== undefined ? extra.example : schema.example;
  if (example !== undefined) fact("example", h("code", null, literal(example)));
  const examples = Array.isArray(schema.examples) ? schema.examples : [];
  if (examples.length) fact("examples", ...examples.slice(0, 4).map((e) => h("code", null, literal(e))));
  if (schema.readOnly) fact("read-only", "");
  if (schema.writeOnly) fact("write-only", "");
  return out.length ? h("div", { class: "facts" }, out) : null;
}

// What a schema nests: the properties of an object (or of the objects in an array), or the variants of a union.
function nested(doc, schema, seen) {
  const { schema: plain } = unwrap(schema);
  const { schema: target, recursive, ref } = follow(doc, plain, seen);
  if (recursive) return null;
  const inner = ref ? new Set([...seen, ref]) : seen;
  const full = merged(doc, target, inner);
  if (full.properties && Object.keys(full.properties).length) return { kind: "object", schema: full, seen: inner };
  if (full.type === "array" || full.items) {
    if (full.items) return nested(doc, full.items, inner);
    return null;
  }
  if (isSchema(full.additionalProperties) && !full.properties) return nested(doc, full.additionalProperties, inner);
  const variants = full.anyOf || full.oneOf;
  if (Array.isArray(variants) && variants.some((v) => nested(doc, v, inner))) {
    return { kind: "union", schema: full, variants, seen: inner, word: full.anyOf ? "any of" : "one of" };
  }
  return null;
}

// The properties (or variants) of a schema as a tree of rows; $refs already on the path are shown, not expanded.
function tree(doc, schema, seen, depth) {
  const inside = nested(doc, schema, seen);
  if (!inside) return null;
  if (inside.kind === "union") {
    return h(
      "div",
      { class: "tree" },
      h("div", { class: "tree-note" }, inside.word),
      inside.variants.map((variant, i) => row(doc, `#${i + 1}`, variant, false, inside.seen, depth, true)),
    );
  }
  const { schema: full } = inside;
  const required = new Set(full.required || []);
  const rows = Object.entries(full.properties).map(([name, prop]) =>
    row(doc, name, prop, required.has(name), inside.seen, depth),
  );
  const more = full.additionalProperties;
  const note = more === false ? "no other fields" : more === true ? "other fields are kept" : null;
  return h("div", { class: "tree" }, rows, note && h("div", { class: "tree-note" }, note));
}

// One property: name, type, required, description and facts; folding its own properties, if any.
function row(doc, name, schema, required, seen, depth, variant = false) {
  const { schema: plain } = unwrap(schema);
  const { schema: target, recursive } = follow(doc, plain, seen);
  const shown = { ...target, ...pick(plain) };
  const head = h(
    "div",
    { class: "prop-head" },
    h("code", { class: variant ? "prop-name variant" : "prop-name" }, name),
    h("span", { class: "prop-type" }, typeLabel(doc, schema, seen)),
    required && h("span", { class: "req" }, "required"),
    shown.deprecated && h("span", { class: "chip chip-warn" }, "deprecated"),
    recursive && h("span", { class: "chip" }, "recursive"),
    facts(shown),
  );
  const body = prose(shown.description, "prop-desc");
  const children = recursive ? null : tree(doc, plain, seen, depth + 1);
  if (!children) return h("div", { class: "prop" }, h("div", { class: "prop-line" }, head), body);
  return h(
    "details",
    { class: "prop", open: depth < OPEN_DEPTH },
    h("summary", { class: "prop-line" }, head),
    body,
    children,
  );
}

// A whole schema (request or response body, or a component): its type line, description, facts and tree.
function schemaBlock(doc, schema, seen = new Set(), { model = false } = {}) {
  if (!schema || typeof schema !== "object") return h("div", { class: "schema" }, h("span", { class: "t" }, "any"));
  const { schema: plain } = unwrap(schema);
  const { schema: target } = follow(doc, plain, seen);
  const full = merged(doc, target, seen);
  const own = { ...full, ...pick(plain) };
  return h(
    "div",
    { class: "schema" },
    model && own.properties ? null : h("div", { class: "schema-type" }, typeLabel(doc, schema, seen)),
    plain.$ref ? null : prose(own.description, model ? "prose" : "prop-desc"),
    facts(own),
    tree(doc, schema, seen, 0),
  );
}

function examplesOf(media) {
  const out = [];
  if (media.example !== undefined) out.push({ name: null, value: media.example });
  for (const [name, item] of Object.entries(media.examples || {})) {
    if (item && item.value !== undefined) out.push({ name: item.summary || name, value: item.value });
  }
  return out;
}

function contentBlocks(doc, content) {
  const entries = Object.entries(content || {});
  return entries.map(([type, media]) =>
    h(
      "div",
      { class: "media" },
      entries.length > 1 || !type.includes("json") ? h("div", { class: "media-type" }, h("code", null, type)) : null,
      schemaBlock(doc, media.schema),
      examplesOf(media).map((ex) =>
        h(
          "div",
          { class: "example" },
          h("div", { class: "example-title" }, ex.name ? `Example: ${ex.name}` : "Example"),
          h("pre", { class: "json" }, typeof ex.value === "string" ? ex.value : prettyJson(ex.value)),
        ),
      ),
    ),
  );
}

// -- an operation's card ----------------------------------------------------------------------------------

function paramType(doc, param) {
  const schema = param.schema || (param.content && Object.values(param.content)[0]?.schema) || {};
  const { schema: plain } = unwrap(schema);
  const { schema: target } = follow(doc, plain, new Set());
  const example = param.example !== undefined ? param.example : Object.values(param.examples || {})[0]?.value;
  return { label: typeLabel(doc, schema, new Set()), facts: facts({ ...target, ...pick(plain) }, { example }) };
}

function parametersTable(doc, params) {
  return h(
    "table",
    { class: "params" },
    h(
      "thead",
      null,
      h("tr", null, h("th", null, "Name"), h("th", null, "In"), h("th", null, "Type"), h("th", null, "Description")),
    ),
    h(
      "tbody",
      null,
      params.map((param) => {
        const type = paramType(doc, param);
        return h(
          "tr",
          { class: param.deprecated ? "deprecated" : null },
          h(
            "td",
            null,
            h("code", { class: "param-name" }, param.name),
            param.required && h("div", { class: "req" }, "required"),
          ),
          h("td", null, h("span", { class: `in in-${param.in}` }, param.in)),
          h("td", null, h("div", { class: "prop-type" }, type.label), type.facts),
          h("td", null, prose(param.description, "param-desc") || h("span", { class: "muted" }, "—")),
        );
      }),
    ),
  );
}

function responsesBlock(doc, responses) {
  const codes = Object.keys(responses || {}).sort(
    (a, b) => (a === "default") - (b === "default") || a.localeCompare(b),
  );
  return h(
    "div",
    { class: "responses" },
    codes.map((code) => {
      const response = deref(doc, responses[code]);
      const types = Object.keys(response.content || {});
      const hasBody = types.length > 0;
      const head = [
        h("span", { class: `status ${statusClass(code)}` }, code),
        h("span", { class: "resp-desc" }, response.description || REASONS[code] || ""),
        h("span", { class: "spacer" }),
        types.map((t) => h("code", { class: "ctype" }, t)),
      ];
      if (!hasBody && !response.headers)
        return h("div", { class: "resp resp-empty" }, h("div", { class: "resp-head" }, head));
      const headers = Object.entries(response.headers || {}).map(([name, header]) => ({
        name,
        in: "header",
        ...deref(doc, header),
      }));
      return h(
        "details",
        { class: "resp", open: String(code).startsWith("2") },
        h("summary", { class: "resp-head" }, head),
        h(
          "div",
          { class: "resp-body" },
          headers.length ? [h("div", { class: "media-type" }, "Headers"), parametersTable(doc, headers)] : null,
          contentBlocks(doc, response.content),
        ),
      );
    }),
  );
}

function operationCard(doc, item) {
  const { method, route, op, id, params } = item;
  const stream = isEventStream(op);
  const tryable = method === "get" && !stream;
  const panel = tryable ? tryPanel(item) : null;
  const card = h(
    "article",
    {
      class: `op${op.deprecated ? " deprecated" : ""}`,
      id: `op-${id}`,
      "data-method": method,
      "data-operation-id": id,
    },
    h(
      "header",
      { class: "op-head" },
      methodBadge(method),
      routeNode(route),
      h(
        "a",
        { class: "anchor", href: `#op-${id}`, title: "Link to this operation", "aria-label": "Link to this operation" },
        "#",
      ),
      h("span", { class: "spacer" }),
      op.deprecated && h("span", { class: "chip chip-warn" }, "deprecated"),
      tryable &&
        h(
          "button",
          {
            class: "try-toggle",
            type: "button",
            "aria-expanded": "false",
            onclick: (event) => panel.toggle(event.currentTarget),
          },
          "Try it",
        ),
    ),
    h("h3", { class: "op-summary" }, op.summary || `${method.toUpperCase()} ${route}`),
    op.operationId && h("div", { class: "op-id" }, "operationId ", h("code", null, op.operationId)),
    prose(op.description),
    stream &&
      h(
        "div",
        { class: "callout" },
        "This route streams Server-Sent Events and stays open, so it has no Try it here. Follow it with ",
        h("code", null, `curl -N ${location.origin}${route}`),
        ".",
      ),
    panel && panel.node,
    params.length ? h("section", { class: "block" }, h("h4", null, "Parameters"), parametersTable(doc, params)) : null,
    op.requestBody ? requestBlock(doc, deref(doc, op.requestBody)) : null,
    h("section", { class: "block" }, h("h4", null, "Responses"), responsesBlock(doc, op.responses)),
  );
  return card;
}

function requestBlock(doc, body) {
  return h(
    "section",
    { class: "block" },
    h(
      "h4",
      null,
      "Request body",
      body.required && h("span", { class: "req" }, "required"),
      Object.keys(body.content || {}).map((t) => h("code", { class: "ctype" }, t)),
    ),
    prose(body.description),
    contentBlocks(doc, body.content),
  );
}

// -- Try it -----------------------------------------------------------------------------------------------

function remembered() {
  try {
    return JSON.parse(sessionStorage.getItem(REMEMBERED) || "{}");
  } catch {
    return {};
  }
}

function remember(name, value) {
  const all = remembered();
  if (value) all[name] = value;
  else delete all[name];
  sessionStorage.setItem(REMEMBERED, JSON.stringify(all));
}

function inputFor(param) {
  const { schema } = unwrap(param.schema || {});
  const hint = param.example ?? schema.example ?? (schema.default !== undefined ? schema.default : "");
  const attrs = { name: param.name, "data-in": param.in, required: param.required, "aria-label": param.name };
  if (Array.isArray(schema.enum) || schema.type === "boolean") {
    const values = schema.enum || [true, false];
    const none = schema.default !== undefined ? `default (${schema.default})` : "—";
    return h(
      "select",
      attrs,
      h("option", { value: "" }, none),
      values.map((v) => h("option", { value: String(v) }, String(v))),
    );
  }
  const numeric = schema.type === "integer" || schema.type === "number";
  return h("input", {
    ...attrs,
    type: "text",
    inputmode: numeric ? "numeric" : null,
    placeholder: hint === "" ? "" : String(hint),
    spellcheck: "false",
    autocomplete: "off",
  });
}

function tryPanel(item) {
  const { route, op, params } = item;
  const usable = params.filter((p) => p.in === "path" || p.in === "query" || p.in === "header");
  const inputs = usable.map((param) => ({ param, input: inputFor(param) }));
  const result = h("div", { class: "try-result", hidden: true });
  const success = Object.keys(op.responses || {}).find((c) => c.startsWith("2")) || "200";
  // JSON answers go through lib.js's api(); exports (JSON Lines, CSV) are read as text, and only their start
  const types = Object.keys(op.responses?.[success]?.content || { "application/json": {} });
  const json = types.some((t) => t === "application/json" || t.endsWith("+json"));

  const send = async (event) => {
    event.preventDefault();
    const values = { path: {}, query: {}, header: {} };
    for (const { param, input } of inputs) {
      const value = input.value.trim();
      if (param.in === "path" || param.in === "query") remember(`${param.in}:${param.name}`, value);
      if (value) values[param.in][param.name] = value;
    }
    const missing = inputs
      .filter(({ param }) => param.in === "path" && !values.path[param.name])
      .map(({ param }) => param.name);
    if (missing.length) {
      show(result, { error: `fill in ${missing.join(", ")}` });
      return;
    }
    const url = withQuery(
      route.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(values.path[name])),
      values.query,
    );
    show(result, { pending: url });
    const started = performance.now();
    try {
      if (json) {
        const body = await api(url, { headers: values.header });
        const status = body === null ? "204" : success;
        show(result, { url, status, body, ms: performance.now() - started });
      } else {
        const answer = await fetchText(url, values.header);
        show(result, { url, ...answer, ms: performance.now() - started });
      }
    } catch (error) {
      const ms = performance.now() - started;
      if (error instanceof ApiError) {
        show(result, {
          url,
          status: String(error.status),
          body: { error: { code: error.code, message: error.message } },
          ms,
        });
      } else {
        show(result, { url, error: `the request failed: ${error.message || error}` });
      }
    }
  };

  const form = h(
    "form",
    { class: "try-form", onsubmit: send },
    inputs.length
      ? h(
          "div",
          { class: "try-fields" },
          inputs.map(({ param, input }) =>
            h(
              "label",
              { class: "try-field" },
              h(
                "span",
                { class: "try-label" },
                h("code", null, param.name),
                h("span", { class: `in in-${param.in}` }, param.in),
                param.required && h("span", { class: "req" }, "required"),
              ),
              input,
            ),
          ),
        )
      : h("p", { class: "muted" }, "This operation takes no parameters."),
    h(
      "div",
      { class: "try-actions" },
      h("button", { class: "send", type: "submit" }, "Send request"),
      h(
        "button",
        {
          class: "ghost",
          type: "button",
          onclick: () => {
            form.reset();
            result.hidden = true;
          },
        },
        "Clear",
      ),
    ),
  );
  const node = h("div", { class: "try", hidden: true }, h("div", { class: "try-title" }, "Try it"), form, result);
  return {
    node,
    toggle(button) {
      node.hidden = !node.hidden;
      button.textContent = node.hidden ? "Try it" : "Hide";
      button.setAttribute("aria-expanded", String(!node.hidden));
      if (node.hidden) return;
      const known = remembered();
      for (const { param, input } of inputs) {
        const value = known[`${param.in}:${param.name}`];
        if (!input.value && value && param.in === "path") input.value = value;
      }
      const first = inputs.find(({ input }) => !input.value);
      (first ? first.input : form.querySelector(".send")).focus({ preventScroll: true });
    },
  };
}

// GET a route that answers text (an export): the real status, and the first TEXT_LIMIT characters of the body,
// read as a stream and cancelled there, so a large export is not downloaded whole.
async function fetchText(url, extra) {
  const headers = { ...extra };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(url, { headers });
  const type = response.headers.get("content-type") || "";
  let text = "";
  let cut = false;
  if (response.body) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (text.length > TEXT_LIMIT) {
        cut = true;
        await reader.cancel();
        break;
      }
    }
  }
  let body = text.slice(0, TEXT_LIMIT);
  if (!cut && type.startsWith("application/json")) {
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON after all: shown as text
    }
  }
  const note = cut ? `${type}, the first ${TEXT_LIMIT.toLocaleString("en-US")} characters` : type;
  return { status: String(response.status), body, note };
}

function show(result, state) {
  result.hidden = false;
  if (state.pending) {
    result.replaceChildren(
      h("div", { class: "try-status" }, h("span", { class: "spinner" }), h("code", null, `GET ${state.pending}`)),
    );
    return;
  }
  if (state.error && !state.status) {
    result.replaceChildren(
      h("div", { class: "try-status" }, h("span", { class: "status s-client" }, "!"), h("span", null, state.error)),
    );
    return;
  }
  const auth = token() ? " -H 'Authorization: Bearer $STOREHOUSE_TOKEN'" : "";
  result.replaceChildren(
    h(
      "div",
      { class: "try-status" },
      h(
        "span",
        { class: `status ${statusClass(state.status)}`, "data-status": state.status },
        `${state.status} ${REASONS[state.status] || ""}`.trim(),
      ),
      h("span", { class: "muted" }, `${Math.round(state.ms)} ms`),
      state.note && h("span", { class: "muted" }, state.note),
      h("code", { class: "try-url" }, `GET ${state.url}`),
    ),
    h("pre", { class: "json response" }, typeof state.body === "string" ? state.body : prettyJson(state.body)),
    h("div", { class: "curl" }, h("code", null, `curl -s '${location.origin}${state.url}'${auth}`)),
  );
}

// -- the page ---------------------------------------------------------------------------------------------

function navigation(groups, schemas) {
  const nav = document.getElementById("nav");
  const sections = groups.map((group) =>
    h(
      "div",
      { class: "nav-group" },
      h(
        "div",
        { class: "nav-title" },
        capitalize(group.name),
        h("span", { class: "nav-count", "data-total": group.ops.length }, group.ops.length),
      ),
      group.ops.map((item) =>
        h(
          "a",
          {
            class: "nav-op",
            href: `#op-${item.id}`,
            title: `${item.method.toUpperCase()} ${item.route}`,
            "data-search": [item.method, item.route, item.op.summary, item.id, group.name].join(" ").toLowerCase(),
          },
          methodBadge(item.method, "nav-method"),
          h("span", { class: "nav-text" }, item.op.summary || item.route),
        ),
      ),
    ),
  );
  if (schemas.length) {
    sections.push(
      h(
        "div",
        { class: "nav-group" },
        h(
          "div",
          { class: "nav-title" },
          "Schemas",
          h("span", { class: "nav-count", "data-total": schemas.length }, schemas.length),
        ),
        schemas.map((name) =>
          h(
            "a",
            { class: "nav-schema", href: `#schema-${name}`, "data-search": `schema ${name}`.toLowerCase() },
            h("span", { class: "nav-text" }, name),
          ),
        ),
      ),
    );
  }
  nav.replaceChildren(...sections);
}

function applyFilter(text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const group of document.querySelectorAll(".nav-group")) {
    let inGroup = 0;
    for (const link of group.querySelectorAll("a")) {
      const hit = words.every((w) => link.dataset.search.includes(w));
      link.hidden = !hit;
      if (hit) inGroup += 1;
    }
    group.hidden = inGroup === 0;
    const count = group.querySelector(".nav-count");
    count.textContent = words.length ? `${inGroup} of ${count.dataset.total}` : count.dataset.total;
    shown += inGroup;
  }
  document.getElementById("nav-empty").hidden = shown > 0;
}

// mark the sidebar link of the card at the top of the view
function trackActive() {
  const links = new Map([...document.querySelectorAll("#nav a")].map((a) => [a.getAttribute("href").slice(1), a]));
  const visible = new Set();
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) visible.add(entry.target);
        else visible.delete(entry.target);
      }
      const top = [...visible].sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)[0];
      for (const link of links.values()) link.classList.remove("active");
      const link = top && links.get(top.id);
      const nav = document.querySelector(".sidebar");
      if (!link) {
        if (document.getElementById("main").scrollTop < 40) nav.scrollTop = 0; // back at the title
        return;
      }
      link.classList.add("active");
      const box = link.getBoundingClientRect();
      const frame = nav.getBoundingClientRect();
      if (box.top < frame.top + 120 || box.bottom > frame.bottom - 20)
        nav.scrollTop += box.top - frame.top - frame.height / 3;
    },
    { rootMargin: "0px 0px -70% 0px" },
  );
  document.querySelectorAll(".op, .model").forEach((card) => observer.observe(card));
}

function overview(doc, ops, schemas) {
  const info = doc.info || {};
  const servers = (doc.servers || []).map((s) => s.url);
  const security = Object.entries(doc.components?.securitySchemes || {});
  return h(
    "header",
    { class: "hero" },
    h(
      "div",
      { class: "hero-title" },
      h("h1", null, `${info.title || "API"} API`),
      info.version && h("span", { class: "chip chip-version" }, `v${info.version}`),
      doc.openapi && h("span", { class: "chip" }, `OpenAPI ${doc.openapi}`),
    ),
    prose(info.description, "prose hero-desc"),
    h(
      "dl",
      { class: "hero-facts" },
      h("div", null, h("dt", null, "Base URL"), h("dd", null, h("code", null, servers[0] || location.origin))),
      h("div", null, h("dt", null, "Operations"), h("dd", null, String(ops.length))),
      h("div", null, h("dt", null, "Schemas"), h("dd", null, String(schemas.length))),
      h(
        "div",
        null,
        h("dt", null, "Authentication"),
        h(
          "dd",
          null,
          security.length
            ? security.map(([name, s]) => h("code", null, `${name}: ${s.scheme || s.type}`))
            : "a bearer token on /api, when the server has one",
        ),
      ),
    ),
  );
}

// A component schema: its own card, anchored at #schema-<name>, so that type labels can link to it.
function modelCard(doc, name, schema) {
  return h(
    "article",
    { class: "model", id: `schema-${name}` },
    h(
      "header",
      { class: "op-head" },
      h("span", { class: "method m-schema" }, "SCHEMA"),
      h("code", { class: "route" }, name),
      h("a", { class: "anchor", href: `#schema-${name}`, title: "Link to this schema" }, "#"),
    ),
    schemaBlock(doc, schema, new Set([`#/components/schemas/${name}`]), { model: true }),
  );
}

function render(doc) {
  const ops = operations(doc);
  const groups = groupsOf(doc, ops);
  const componentSchemas = doc.components?.schemas || {};
  const schemas = Object.keys(componentSchemas).sort((a, b) => a.localeCompare(b));
  document.getElementById("version").textContent = doc.info?.version ? `v${doc.info.version}` : "";
  if (doc.info?.title) {
    document.title = `${doc.info.title} API`;
    document.querySelector(".brand-name").firstChild.textContent = `${doc.info.title} `;
  }
  navigation(groups, schemas);
  const sections = groups.map((group) =>
    h(
      "section",
      { class: "group", id: `group-${slug(group.name)}` },
      h("h2", { class: "group-title" }, capitalize(group.name)),
      prose(group.description),
      group.ops.map((item) => operationCard(doc, item)),
    ),
  );
  if (schemas.length) {
    sections.push(
      h(
        "section",
        { class: "group", id: "schemas" },
        h("h2", { class: "group-title" }, "Schemas"),
        schemas.map((name) => modelCard(doc, name, componentSchemas[name])),
      ),
    );
  }
  document.getElementById("content").replaceChildren(overview(doc, ops, schemas), ...sections);
  document.body.classList.add("ready");
  trackActive();
  // the cards did not exist when the browser looked for the #fragment; the main column takes the keys
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) target.scrollIntoView();
  if (document.activeElement === document.body) document.getElementById("main").focus({ preventScroll: true });
}

function setup() {
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => applyFilter(filter.value));
  filter.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      filter.value = "";
      applyFilter("");
      filter.blur();
    }
  });
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
    if (event.key === "/" && !typing) {
      event.preventDefault();
      filter.focus();
    }
  });
  const field = document.getElementById("token");
  field.value = token();
  field.addEventListener("change", () => setToken(field.value.trim()));
}

async function main() {
  setup();
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    render(await response.json());
  } catch (error) {
    document
      .getElementById("content")
      .replaceChildren(
        h("div", { class: "callout callout-error" }, `Could not load the API description: ${error.message || error}`),
      );
  }
}

main();

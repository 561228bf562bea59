// /docs: Swagger UI (vendored at web/vendor/swagger-ui, see its VERSION) over /openapi.json, with try-it and
// the API token. The init code lives here, not inline in docs.html, so the page keeps the Content-Security-Policy
// (script-src 'self'). The document gets a bearer security scheme here, so Swagger UI's Authorize button sets the
// token; it is the token the web page keeps (lib.js: local storage), both ways: set on one page, used on the other.
import { setToken, token } from "./lib.js";

const SCHEME = "bearer";

// an OpenAPI document whose every operation takes the bearer token (a server started without --token ignores it)
function withBearer(document) {
  const components = { ...(document.components || {}) };
  components.securitySchemes = {
    ...(components.securitySchemes || {}),
    [SCHEME]: {
      type: "http",
      scheme: "bearer",
      description: "the token the server was started with (--token or STOREHOUSE_TOKEN); none if it has none",
    },
  };
  return { ...document, components, security: [{ [SCHEME]: [] }] };
}

// The document names no tags, so Swagger UI would list every operation under "default": group them by what
// their path is about instead (an operation that has tags keeps them).
const GROUPS = [
  [/\/history/, "history"],
  [/\/events$/, "events"],
  [/\/export$/, "export"],
  [/\/settings$/, "settings"],
  [/\/executions/, "runs"],
  [/\/(tasks|metrics)/, "tasks"],
  [/./, "projects"],
];

function grouped(document) {
  const paths = {};
  for (const [route, item] of Object.entries(document.paths || {})) {
    const tag = GROUPS.find(([pattern]) => pattern.test(route))[1];
    paths[route] = Object.fromEntries(
      Object.entries(item).map(([key, op]) => [key, op && op.operationId && !op.tags ? { ...op, tags: [tag] } : op]),
    );
  }
  return { ...document, paths };
}

// keeps the page's stored token in step with Swagger UI's Authorize and Logout
const TokenSync = () => ({
  statePlugins: {
    auth: {
      wrapActions: {
        authorize: (original) => (payload) => {
          const entry = payload && payload[SCHEME];
          if (entry && typeof entry.value === "string") setToken(entry.value.trim());
          return original(payload);
        },
        logout: (original) => (names) => {
          if (!names || names.includes(SCHEME)) setToken("");
          return original(names);
        },
      },
    },
  },
});

async function start() {
  const root = document.getElementById("swagger-ui");
  let spec;
  try {
    const answer = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!answer.ok) throw new Error(`GET /openapi.json answered ${answer.status}`);
    spec = await answer.json();
  } catch (error) {
    root.textContent = `Could not load /openapi.json: ${error.message}`;
    return;
  }
  root.replaceChildren();
  const ui = window.SwaggerUIBundle({
    onComplete: () => token() && ui.preauthorizeApiKey(SCHEME, token()), // the Authorize button shows it as set
    spec: withBearer(grouped(spec)),
    dom_id: "#swagger-ui",
    deepLinking: true, // #/tag/operationId in the address opens that operation
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins: [TokenSync],
    layout: "BaseLayout",
    filter: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    validatorUrl: null, // the default sends the document to a validator on another host; this page stays offline
    requestInterceptor: (request) => {
      // a request made before Authorize (or with its value cleared) still carries the stored token
      const headers = request.headers || (request.headers = {});
      if (!headers.Authorization && token()) headers.Authorization = `Bearer ${token()}`;
      return request;
    },
  });
  window.ui = ui; // for a console user, as Swagger UI's own page does
}

start();

// The dependency graph of a project's tasks, drawn in SVG from left (what nothing holds back) to right.
//
// Layout (the Sugiyama recipe, small): a task's layer is the longest path to it from a root; an edge that
// skips layers gets a chain of invisible waypoints, one per skipped layer, so it bends around the nodes it
// would cross; nodes are ordered within layers by a few barycentre sweeps (down, then up), keeping the order
// with the fewest crossings; then each node is pulled towards its neighbours' height without overlapping.
// Edges are smooth curves with arrowheads, drawn from the task depended on to the task that depends on it:
// `blocks` solid, `requires` dashed, `related` dotted. Nodes are coloured by status; a ready task wears a
// "ready" tag. Every node carries data-task-id, data-status and data-ready; every edge data-from, data-to and
// data-type.
//
// dependencyGraph({tasks, ready: Set, selected, onSelect}) -> SVG element (or null when there are no tasks)

import { h } from "./lib.js";

const NODE_W = 200;
const NODE_H = 50;
const LAYER_GAP = 56;
const ROW_GAP = 18;
const WAYPOINT_H = 10;
const PAD = 14;
const SWEEPS = 6;
const EDGE_TYPES = ["blocks", "requires", "related"];

const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

// layer of every task: 0 for a root, else one more than its deepest dependency (cycles, which the store
// refuses, would only stop the recursion)
function layers(tasks, byId) {
  const layer = new Map();
  const visiting = new Set();
  const visit = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let deepest = -1;
    for (const dep of byId.get(id).dependencies || []) {
      if (byId.has(dep.taskId)) deepest = Math.max(deepest, visit(dep.taskId));
    }
    visiting.delete(id);
    layer.set(id, deepest + 1);
    return deepest + 1;
  };
  tasks.forEach((task) => visit(task.id));
  return layer;
}

// crossings between two adjacent layers, counted pair by pair (graphs here have tens of edges, not thousands)
function crossingsBetween(upper, lower, links, position) {
  const pairs = [];
  for (const node of upper)
    for (const next of links.get(node) || []) if (lower.has(next)) pairs.push([position.get(node), position.get(next)]);
  let count = 0;
  for (let i = 0; i < pairs.length; i++) {
    for (let j = i + 1; j < pairs.length; j++) {
      if ((pairs[i][0] - pairs[j][0]) * (pairs[i][1] - pairs[j][1]) < 0) count++;
    }
  }
  return count;
}

function layoutComponent(tasks) {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const layer = layers(tasks, byId);
  const depth = Math.max(0, ...layer.values()) + 1;
  const rows = Array.from({ length: depth }, () => []);
  const nodes = new Map(); // id -> {id, layer, task?, waypoint}
  const next = new Map(); // id -> ids in the next layer
  const prev = new Map(); // id -> ids in the previous layer
  const link = (a, b) => {
    if (!next.has(a)) next.set(a, []);
    if (!prev.has(b)) prev.set(b, []);
    next.get(a).push(b);
    prev.get(b).push(a);
  };
  for (const task of tasks) {
    const node = { id: task.id, layer: layer.get(task.id), task, waypoint: false };
    nodes.set(task.id, node);
    rows[node.layer].push(task.id);
  }
  const edges = [];
  for (const task of tasks) {
    for (const dep of task.dependencies || []) {
      if (!byId.has(dep.taskId)) continue;
      const chain = [dep.taskId];
      for (let l = layer.get(dep.taskId) + 1; l < layer.get(task.id); l++) {
        const id = `\u0000${dep.taskId}\u0000${task.id}\u0000${l}`;
        nodes.set(id, { id, layer: l, waypoint: true });
        rows[l].push(id);
        chain.push(id);
      }
      chain.push(task.id);
      for (let i = 1; i < chain.length; i++) link(chain[i - 1], chain[i]);
      edges.push({ from: dep.taskId, to: task.id, type: EDGE_TYPES.includes(dep.type) ? dep.type : "blocks", chain });
    }
  }

  // order within layers: barycentre sweeps, keeping the best order seen
  const position = new Map();
  const index = () => rows.forEach((row) => row.forEach((id, i) => position.set(id, i)));
  const crossings = () => {
    let total = 0;
    for (let l = 0; l + 1 < depth; l++) total += crossingsBetween(rows[l], new Set(rows[l + 1]), next, position);
    return total;
  };
  const sortBy = (row, neighbours) => {
    const weight = new Map();
    row.forEach((id, i) => {
      const around = neighbours.get(id) || [];
      weight.set(id, around.length ? around.reduce((s, n) => s + position.get(n), 0) / around.length : i);
    });
    row.sort((a, b) => weight.get(a) - weight.get(b) || position.get(a) - position.get(b));
    row.forEach((id, i) => position.set(id, i));
  };
  index();
  let best = rows.map((row) => row.slice());
  let fewest = crossings();
  for (let sweep = 0; sweep < SWEEPS && fewest > 0; sweep++) {
    if (sweep % 2 === 0) for (let l = 1; l < depth; l++) sortBy(rows[l], prev);
    else for (let l = depth - 2; l >= 0; l--) sortBy(rows[l], next);
    const now = crossings();
    if (now < fewest) {
      fewest = now;
      best = rows.map((row) => row.slice());
    }
  }
  best.forEach((row, l) => (rows[l] = row));
  index();

  // heights: stack each layer, then pull every node towards its neighbours' centres, keeping order and gaps
  const size = (id) => (nodes.get(id).waypoint ? WAYPOINT_H : NODE_H);
  const centre = new Map();
  for (const row of rows) {
    let y = 0;
    for (const id of row) {
      centre.set(id, y + size(id) / 2);
      y += size(id) + ROW_GAP;
    }
  }
  const settle = (row, neighbours) => {
    const wanted = row.map((id) => {
      const around = (neighbours.get(id) || []).map((n) => centre.get(n));
      return around.length ? around.reduce((s, v) => s + v, 0) / around.length : centre.get(id);
    });
    // place in order at the wanted centre, pushed down past the previous node, then shifted up as a block
    const placed = [];
    row.forEach((id, i) => {
      const min = i ? placed[i - 1] + (size(row[i - 1]) + size(id)) / 2 + ROW_GAP : -Infinity;
      placed.push(Math.max(wanted[i], min));
    });
    for (let i = row.length - 2; i >= 0; i--) {
      const max = placed[i + 1] - (size(row[i + 1]) + size(row[i])) / 2 - ROW_GAP;
      placed[i] = Math.min(placed[i], Math.max(max, wanted[i]));
    }
    row.forEach((id, i) => centre.set(id, placed[i]));
  };
  const both = new Map();
  for (const [id] of nodes) both.set(id, [...(prev.get(id) || []), ...(next.get(id) || [])]);
  for (let pass = 0; pass < 4; pass++) {
    for (let l = 1; l < depth; l++) settle(rows[l], prev);
    for (let l = depth - 2; l >= 0; l--) settle(rows[l], next);
  }
  for (const row of rows) settle(row, both);
  const top = Math.min(...[...centre.entries()].map(([id, c]) => c - size(id) / 2));
  const bottom = Math.max(...[...centre.entries()].map(([id, c]) => c + size(id) / 2));
  for (const [id, node] of nodes) {
    node.x = node.layer * (NODE_W + LAYER_GAP);
    node.cy = centre.get(id) - top;
  }
  return { nodes, edges, depth, height: bottom - top };
}

// the tasks joined by edges, each set in the order of `tasks`
function components(tasks) {
  const ids = new Set(tasks.map((task) => task.id));
  const parent = new Map(tasks.map((task) => [task.id, task.id]));
  const find = (id) => {
    while (parent.get(id) !== id) {
      parent.set(id, parent.get(parent.get(id)));
      id = parent.get(id);
    }
    return id;
  };
  for (const task of tasks) {
    for (const dep of task.dependencies || []) if (ids.has(dep.taskId)) parent.set(find(dep.taskId), find(task.id));
  }
  const groups = new Map();
  for (const task of tasks) {
    const root = find(task.id);
    if (!groups.has(root)) groups.set(root, []);
    groups.get(root).push(task);
  }
  return [...groups.values()];
}

// Each connected part of the graph is laid out on its own and stacked, largest first; tasks with no edge at
// all share a grid at the bottom rather than each taking a row (or drifting off, unanchored) in layer 0.
export function layout(tasks) {
  const parts = components(tasks);
  const joined = parts.filter((part) => part.length > 1).sort((a, b) => b.length - a.length);
  const alone = parts.filter((part) => part.length === 1).map((part) => part[0]);
  const laid = joined.map(layoutComponent);
  const depth = Math.max(1, ...laid.map((part) => part.depth));
  const columns = Math.max(depth, Math.min(alone.length, 4));
  const nodes = new Map();
  const edges = [];
  let y = PAD;
  for (const part of laid) {
    for (const [id, node] of part.nodes) {
      node.x += PAD;
      node.cy += y;
      nodes.set(id, node);
    }
    edges.push(...part.edges);
    y += part.height + ROW_GAP * 2;
  }
  alone.forEach((task, i) => {
    const column = i % columns;
    const row = Math.floor(i / columns);
    nodes.set(task.id, {
      id: task.id,
      task,
      waypoint: false,
      layer: column,
      x: PAD + column * (NODE_W + LAYER_GAP),
      cy: y + row * (NODE_H + ROW_GAP) + NODE_H / 2,
    });
  });
  if (alone.length) y += Math.ceil(alone.length / columns) * (NODE_H + ROW_GAP) + ROW_GAP;
  const wide = alone.length ? Math.max(depth, Math.min(alone.length, columns)) : depth;
  return {
    nodes,
    edges,
    width: PAD * 2 + wide * NODE_W + (wide - 1) * LAYER_GAP,
    height: y - ROW_GAP * 2 + PAD + 10,
  };
}

// a smooth path through points, leaving and arriving horizontally
function curve(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const dx = (x1 - x0) / 2;
    d += `C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
  }
  return d;
}

function clip(text, max) {
  return text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`;
}

export function dependencyGraph({ tasks, ready, selected, onSelect }) {
  if (!tasks.length) return null;
  const { nodes, edges, width, height } = layout(tasks);
  const root = svg("svg", {
    class: "dep-graph",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `dependency graph of ${tasks.length} tasks`,
    style: `min-width: ${Math.round(width * 0.62)}px`,
  });
  const defs = svg("defs", {});
  for (const type of EDGE_TYPES) {
    defs.append(
      svg(
        "marker",
        {
          id: `arrow-${type}`,
          class: `arrow arrow-${type}`,
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          markerUnits: "userSpaceOnUse",
          orient: "auto",
        },
        svg("path", { d: "M0,1 L10,5 L0,9 z" }),
      ),
    );
  }
  defs.append(svg("clipPath", { id: "node-clip" }, svg("rect", { width: NODE_W, height: NODE_H, rx: 9 })));
  root.append(defs);

  // ports: the edges into (and out of) a node are spread along its side, in the order of their other ends
  const spread = (list, key) => {
    const ports = new Map();
    const grouped = new Map();
    for (const edge of list) {
      const at = edge[key];
      if (!grouped.has(at)) grouped.set(at, []);
      grouped.get(at).push(edge);
    }
    for (const group of grouped.values()) {
      const other = (edge) => nodes.get(key === "to" ? edge.chain[edge.chain.length - 2] : edge.chain[1]).cy;
      group.sort((a, b) => other(a) - other(b));
      group.forEach((edge, i) =>
        ports.set(edge, (i - (group.length - 1) / 2) * Math.min(9, (NODE_H - 16) / group.length)),
      );
    }
    return ports;
  };
  const inPorts = spread(edges, "to");
  const outPorts = spread(edges, "from");

  const edgeLayer = svg("g", { class: "graph-edges" });
  for (const edge of edges) {
    const points = edge.chain.map((id, i) => {
      const node = nodes.get(id);
      if (i === 0) return [node.x + NODE_W, node.cy + outPorts.get(edge)];
      if (i === edge.chain.length - 1) return [node.x - 2, node.cy + inPorts.get(edge)];
      return [node.x + NODE_W / 2, node.cy];
    });
    // waypoints: pass through the layer horizontally rather than kinking at its middle
    const smooth = [points[0]];
    for (let i = 1; i < points.length - 1; i++) {
      smooth.push([points[i][0] - NODE_W / 2, points[i][1]], [points[i][0] + NODE_W / 2, points[i][1]]);
    }
    smooth.push(points[points.length - 1]);
    const d = curve(smooth);
    const fromTask = nodes.get(edge.from).task;
    const toTask = nodes.get(edge.to).task;
    edgeLayer.append(
      svg(
        "path",
        {
          d,
          "data-from": edge.from,
          "data-to": edge.to,
          "data-type": edge.type,
          class: `graph-edge edge-${edge.type}${selected === edge.from || selected === edge.to ? " chosen" : ""}`,
          "marker-end": `url(#arrow-${edge.type})`,
        },
        svg("title", {}, `${toTask.id} ${edge.type === "related" ? "is related to" : edge.type} ${fromTask.id}`),
      ),
    );
  }
  root.append(edgeLayer);

  const nodeLayer = svg("g", { class: "graph-nodes" });
  for (const node of nodes.values()) {
    if (node.waypoint) continue;
    const task = node.task;
    const isReady = ready.has(task.id);
    const y = node.cy - NODE_H / 2;
    const group = svg(
      "g",
      {
        class: `graph-node status-${task.status}${task.id === selected ? " selected" : ""}`,
        transform: `translate(${node.x},${y})`,
        tabindex: 0,
        role: "button",
        "aria-label": `${task.title} (${task.status}${isReady ? ", ready" : ""})`,
        "data-task-id": task.id,
        "data-status": task.status,
        "data-ready": String(isReady),
        onclick: () => onSelect(task.id),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            onSelect(task.id);
          }
        },
        onmouseenter: () => focusOn(task.id),
        onmouseleave: () => focusOn(null),
      },
      svg(
        "title",
        {},
        `${task.title}\n${task.id} · ${task.status} · ${task.priority}${isReady ? " · ready to start" : ""}`,
      ),
      svg("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 9 }),
      svg("rect", { class: "node-stripe", width: 5, height: NODE_H, "clip-path": "url(#node-clip)" }),
      svg("text", { class: "node-title", x: 16, y: 21 }, clip(task.title, 27)),
      svg(
        "text",
        { class: "node-meta", x: 16, y: 38 },
        svg("tspan", { class: "node-status" }, task.status),
        svg("tspan", { class: "node-id" }, ` · ${clip(task.id, 18)}`),
      ),
    );
    if (task.priority === "critical" || task.priority === "high") {
      group.append(
        svg(
          "text",
          { class: `node-priority priority-${task.priority}`, x: NODE_W - 10, y: 38, "text-anchor": "end" },
          task.priority === "critical" ? "!!" : "!",
        ),
      );
    }
    if (isReady) {
      group.append(
        svg(
          "g",
          { class: "ready-tag", transform: `translate(${NODE_W - 52},-8)` },
          svg("rect", { width: 46, height: 16, rx: 8 }),
          svg("text", { x: 23, y: 11.5, "text-anchor": "middle" }, "ready"),
        ),
      );
    }
    nodeLayer.append(group);
  }
  root.append(nodeLayer);

  // hovering a node lights up its edges and neighbours and dims the rest
  function focusOn(id) {
    root.classList.toggle("focused", id !== null);
    const near = new Set(id === null ? [] : [id]);
    root.querySelectorAll(".graph-edge").forEach((path) => {
      const on = id !== null && (path.dataset.from === id || path.dataset.to === id);
      path.classList.toggle("lit", on);
      if (on) near.add(path.dataset.from).add(path.dataset.to);
    });
    root.querySelectorAll(".graph-node").forEach((node) => node.classList.toggle("lit", near.has(node.dataset.taskId)));
  }
  return root;
}

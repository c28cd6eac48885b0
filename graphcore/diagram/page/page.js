// The interactive diagram page (graphcore/diagram/page.py writes the data it reads).
// State: the view and, per view, which clusters are open. Each change writes the DOT text of that state from
// the boxes Python labelled and lays it out with graphviz compiled to WebAssembly (inlined in the page).
const data = JSON.parse(document.getElementById("gc-data").textContent);
const canvas = document.getElementById("gc-canvas");
const panel = document.getElementById("gc-panel");
const tip = document.getElementById("gc-tip");
const statusLine = document.getElementById("gc-status");
const CROSSINGS_LIMIT = 100;   // as the static diagrams: above this many boxes, edges between passes are left out

const consumersOf = {};        // value id -> op indices that read it
data.ops.forEach((op, i) => op.in.forEach(v => (consumersOf[v] = consumersOf[v] || []).push(i)));

// Per view: clusters by id, their parents, and which cluster a closed box stands for.
const index = {};
for (const [name, view] of Object.entries(data.views)) {
  const clusters = {}, parent = {}, closedOf = {}, initial = new Set();
  const walk = (item, up) => {
    if (item.box) return;
    clusters[item.id] = item; parent[item.id] = up;
    item.closed.forEach(b => (closedOf[b] = item.id));
    if (item.open) initial.add(item.id);
    item.children.forEach(child => walk(child, item.id));
  };
  view.tree.forEach(item => walk(item, null));
  index[name] = {clusters, parent, closedOf, initial, open: new Set(initial)};
}

const state = {view: data.view, selected: null, followed: null, found: null, zoom: 1, drawn: []};
let graphviz = null;

function quote(value) {
  value = String(value);
  if (value.startsWith("<") && value.endsWith(">")) return value;
  return '"' + value.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
}
const attrText = attrs => Object.entries(attrs).map(([k, v]) => `${k}=${quote(v)}`).join(", ");
const withId = (line, id) => line.replace(" [", ` [id="${id}", `);

// The box an op is drawn in now: the first closed cluster on its way down, else its own box. An op of a
// folded ×N copy inside open clusters is not drawn: as a producer it is drawn as its first copy's op, and
// as a consumer its edge is left out (the copies are drawn once).
function visible(op, role = "producer", name = state.view) {
  const chain = data.views[name].owner[op], open = index[name].open;
  if (!chain) return null;
  for (let k = 0; k + 1 < chain.length; k += 2) if (!open.has(chain[k])) return chain[k + 1];
  const last = chain[chain.length - 1];
  if (typeof last === "string") return last;
  return role === "consumer" ? null : visible(last.alias, role, name);
}

function compose() {
  const view = data.views[state.view], open = index[state.view].open;
  const lines = [view.header], boxes = [];
  const box = (id, indent) => { boxes.push(id); lines.push(indent + withId(view.nodes[id].dot, id)); };
  const emit = (item, indent) => {
    if (item.box) return box(item.box, indent);
    if (!open.has(item.id) && !item.wrap) return box(item.closed[0], indent);
    const attrs = open.has(item.id) ? item.lines : item.wrap;
    lines.push(`${indent}subgraph cluster_${item.id} {`, `${indent}\tid="cluster_${item.id}"`,
               ...attrs.map(line => indent + "\t" + line));
    if (open.has(item.id)) item.children.forEach(child => emit(child, indent + "\t"));
    else item.closed.forEach(id => box(id, indent + "\t"));
    lines.push(indent + "}");
  };
  view.tree.forEach(item => emit(item, "\t"));
  const seen = new Map(), drawn = [];
  for (const [producer, consumer, label, kind] of view.edges) {
    const src = visible(producer), dst = visible(consumer, "consumer");
    if (!src || !dst || src === dst) continue;
    const crossing = view.nodes[src].phase !== view.nodes[dst].phase;
    if (crossing && boxes.length > CROSSINGS_LIMIT) continue;
    const key = crossing ? `${src}|${dst}|${kind}` : `${src}|${dst}|${label}|${kind}`;
    if (seen.has(key)) { seen.get(key).ops.push([producer, consumer]); continue; }
    const edge = {id: `e${drawn.length}`, src, dst, kind, label, ops: [[producer, consumer]]};
    const attrs = Object.assign({id: edge.id}, data.edgeStyles[kind], crossing ? data.crossing : {});
    if (label && !crossing) attrs.label = label;
    drawn.push(edge); seen.set(key, edge);
    lines.push(`\t${src} -> ${dst} [${attrText(attrs)}]`);
  }
  state.drawn = drawn;
  return {text: lines.join("\n") + "\n}\n", boxes: boxes.length};
}

function draw() {
  const started = performance.now();
  const {text, boxes} = compose();
  canvas.innerHTML = graphviz.layout(text, "svg", "dot");
  const svg = canvas.querySelector("svg");
  svg.querySelectorAll("title").forEach(t => t.remove());            // our own tooltips instead
  svg.querySelectorAll("a").forEach(a => { a.removeAttribute("xlink:title"); a.removeAttribute("title"); });
  state.width = parseFloat(svg.getAttribute("width")); state.height = parseFloat(svg.getAttribute("height"));
  applyZoom();
  highlight();
  const ms = Math.round(performance.now() - started);
  window.gcLastLayoutMs = ms;
  statusLine.textContent = `${boxes} boxes · laid out in ${ms} ms`;
  document.querySelectorAll("#gc-views button").forEach(b => b.classList.toggle("active", b.dataset.view === state.view));
  document.body.dataset.state = `${state.view}:${[...index[state.view].open].sort().join(",")}`;
}

function applyZoom() {
  const svg = canvas.querySelector("svg");
  if (!svg) return;
  svg.style.width = `${state.width * state.zoom}pt`; svg.style.height = `${state.height * state.zoom}pt`;
}

// --- selection, following a tensor, highlighting -------------------------------------------------------
const element = id => document.getElementById(id);
const valueName = vid => vid.replace(/:0$/, "");

function highlight() {
  document.querySelectorAll(".selected, .consumer, .followed, .found").forEach(e =>
    e.classList.remove("selected", "consumer", "followed", "found"));
  if (state.found) element(state.found)?.classList.add("found");
  if (state.selected) element(state.selected)?.classList.add("selected");
  const followed = state.followed;
  if (!followed) return;
  for (const edge of state.drawn) {
    if (edge.ops.some(([p, c]) => followed.pairs.has(`${p},${c}`))) {
      element(edge.id)?.classList.add("followed");
      element(edge.dst)?.classList.add("consumer");
    }
  }
}

// Follow values: the edges that carry them and the boxes that read them.
function follow(values) {
  const pairs = new Set();
  for (const vid of values) {
    const producer = data.values[vid]?.[2];
    for (const c of consumersOf[vid] || []) pairs.add(`${producer},${c}`);
  }
  state.followed = {values, pairs};
  highlight();
}

function link(text, action) {
  const a = document.createElement("a");
  a.textContent = text; a.addEventListener("click", action);
  return a;
}

function selectBox(id) {
  const view = data.views[state.view], node = view.nodes[id], ops = new Set(node.ops);
  state.selected = id;
  panel.replaceChildren();
  const h = document.createElement("h2"); h.textContent = node.title; panel.append(h);
  const cid = index[state.view].closedOf[id];
  if (cid) panel.append(button("open", () => openCluster(cid)));
  const up = cid ? index[state.view].parent[cid] : enclosing(id);
  if (up) panel.append(button(`close ${index[state.view].clusters[up].label.split("  ·")[0]}`, () => closeCluster(up)));
  const pre = document.createElement("pre"); pre.textContent = node.tip; panel.append(pre);
  const outputs = node.ops.flatMap(i => data.ops[i].out).filter(v => (consumersOf[v] || []).some(c => !ops.has(c)));
  if (outputs.length) {
    const title = document.createElement("p"); title.textContent = "tensors leaving it (click one to follow it):";
    const list = document.createElement("ul");
    for (const vid of outputs.slice(0, 40)) {
      const [shape, dtype] = data.values[vid];
      const item = document.createElement("li");
      item.append(link(`${valueName(vid)} ${shape} ${dtype}`, () => followValue(vid)));
      list.append(item);
    }
    panel.append(title, list);
  }
  follow(outputs);
}

function followValue(vid) {
  const [shape, dtype, producer] = data.values[vid];
  follow([vid]);
  const box = document.createElement("div");
  const h = document.createElement("h2"); h.textContent = `tensor ${valueName(vid)}`;
  const p = document.createElement("p");
  p.textContent = `${shape} ${dtype}, made by ${producer == null ? "the file" : data.ops[producer].name}; read by:`;
  const list = document.createElement("ul");
  for (const c of consumersOf[vid] || []) {
    const item = document.createElement("li");
    item.append(link(data.ops[c].name, () => reveal(c)), ` (${data.ops[c].type})`);
    list.append(item);
  }
  box.append(h, p, list);
  panel.append(box);
}

function selectEdge(id) {
  const edge = state.drawn.find(e => e.id === id);
  state.selected = null;
  panel.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `${edge.kind === "skip" ? "skip connection" : edge.kind + " edge"}`;
  panel.append(h);
  const values = [...new Set(edge.ops.flatMap(([p, c]) => data.ops[c].in.filter(v => data.values[v]?.[2] === p)))];
  const list = document.createElement("ul");
  for (const vid of values) {
    const [shape, dtype] = data.values[vid];
    const item = document.createElement("li");
    item.append(link(`${valueName(vid)} ${shape} ${dtype}`, () => followValue(vid)));
    list.append(item);
  }
  panel.append(list);
  follow(values);
}

function edgeTip(id) {
  const edge = state.drawn.find(e => e.id === id);
  if (!edge) return "";
  const lines = edge.ops.slice(0, 12).map(([p, c]) => {
    const vids = data.ops[c].in.filter(v => data.values[v]?.[2] === p);
    const what = vids.map(v => `${valueName(v)} ${data.values[v][0]} ${data.values[v][1]}`).join(", ") || "runs after";
    return `${what}\n   → ${data.ops[c].name} (${data.ops[c].type})`;
  });
  if (edge.ops.length > 12) lines.push(`… and ${edge.ops.length - 12} more`);
  return (edge.kind === "skip" ? "skip connection\n" : "") + lines.join("\n");
}

function enclosing(boxId) {
  const chain = data.views[state.view].owner[data.views[state.view].nodes[boxId].ops[0]];
  let last = null;
  for (let k = 0; k + 1 < chain.length; k += 2) if (index[state.view].open.has(chain[k])) last = chain[k];
  return last;
}

function button(text, action) {
  const b = document.createElement("button");
  b.textContent = text; b.addEventListener("click", action); b.style.marginRight = "6px";
  return b;
}

// --- opening and closing ------------------------------------------------------------------------------
function openCluster(cid) { index[state.view].open.add(cid); state.found = null; draw(); }
function closeCluster(cid) {
  const {open, clusters} = index[state.view];
  const shut = item => { if (item.box) return; open.delete(item.id); item.children.forEach(shut); };
  shut(clusters[cid]);
  state.selected = null; draw();
}

// Show an op: switch to a view that draws it, open every cluster above it, select and scroll to its box.
function reveal(op) {
  if (!data.views[state.view].owner[op]) {
    const other = Object.keys(data.views).find(name => data.views[name].owner[op]);
    if (!other) return;
    state.view = other;
  }
  const chain = data.views[state.view].owner[op];
  for (let k = 0; k + 1 < chain.length; k += 2) index[state.view].open.add(chain[k]);
  state.found = visible(op, "consumer") || visible(op);
  draw();
  selectBox(state.found);
  element(state.found)?.scrollIntoView({block: "center", inline: "center"});
}

// --- search -------------------------------------------------------------------------------------------
const search = document.getElementById("gc-search"), results = document.getElementById("gc-results");
function find(query) {
  query = query.trim().toLowerCase();
  if (!query) return [];
  const hits = [];
  data.ops.forEach((op, i) => { if (op.name.toLowerCase().includes(query)) hits.push(i); });
  hits.sort((a, b) => data.ops[a].name.length - data.ops[b].name.length || a - b);
  return hits.slice(0, 30);
}
search.addEventListener("input", () => {
  results.replaceChildren(...find(search.value).map(i => {
    const li = document.createElement("li");
    li.dataset.op = i;
    li.append(data.ops[i].name, Object.assign(document.createElement("small"), {textContent: data.ops[i].type}));
    li.addEventListener("click", () => { results.replaceChildren(); reveal(i); });
    return li;
  }));
});
search.addEventListener("keydown", event => {
  if (event.key === "Enter" && results.firstChild) { const i = +results.firstChild.dataset.op; results.replaceChildren(); reveal(i); }
  if (event.key === "Escape") results.replaceChildren();
});

// --- pointer ------------------------------------------------------------------------------------------
const target = event => event.target.closest("g.node, g.edge, g.cluster");
canvas.addEventListener("mousemove", event => {
  const g = target(event);
  const text = !g ? "" : g.classList.contains("node") ? data.views[state.view].nodes[g.id]?.tip
    : g.classList.contains("edge") ? edgeTip(g.id) : "";
  tip.style.display = text ? "block" : "none";
  if (!text) return;
  tip.textContent = text;
  const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 4);
  const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 4);
  tip.style.left = `${Math.max(0, x)}px`; tip.style.top = `${Math.max(0, y)}px`;
});
canvas.addEventListener("mouseleave", () => (tip.style.display = "none"));
canvas.addEventListener("click", event => {
  const g = target(event);
  if (!g) return;
  if (g.classList.contains("node")) selectBox(g.id);
  else if (g.classList.contains("edge")) selectEdge(g.id);
});
canvas.addEventListener("dblclick", event => {
  const g = target(event);
  if (!g) return;
  const {closedOf} = index[state.view];
  if (g.classList.contains("node") && closedOf[g.id]) openCluster(closedOf[g.id]);
  else if (g.classList.contains("cluster")) {
    const cid = g.id.replace(/^cluster_/, "");
    closeCluster(index[state.view].open.has(cid) ? cid : index[state.view].parent[cid] || cid);
  }
});

// --- toolbar ------------------------------------------------------------------------------------------
document.querySelectorAll("#gc-views button").forEach(b => b.addEventListener("click", () => {
  state.view = b.dataset.view; state.selected = state.followed = state.found = null; draw();
}));
document.getElementById("gc-open-all").addEventListener("click", () => {
  index[state.view].open = new Set(Object.keys(index[state.view].clusters)); draw();
});
document.getElementById("gc-close-all").addEventListener("click", () => { index[state.view].open = new Set(); draw(); });
document.getElementById("gc-reset").addEventListener("click", () => {
  index[state.view].open = new Set(index[state.view].initial); state.zoom = 1; draw();
});
document.getElementById("gc-zoom-in").addEventListener("click", () => { state.zoom *= 1.25; applyZoom(); });
document.getElementById("gc-zoom-out").addEventListener("click", () => { state.zoom /= 1.25; applyZoom(); });
document.getElementById("gc-zoom-fit").addEventListener("click", () => {
  state.zoom = Math.min(1, (canvas.clientWidth - 20) / (state.width * 4 / 3)); applyZoom();
});
document.getElementById("gc-name").textContent = data.name;

// Tests and the curious: the page's state and actions.
window.gc = {data, state, index, reveal, openCluster, closeCluster, visible};

try {
  const source = document.getElementById("gc-graphviz").textContent;
  const module = await import(URL.createObjectURL(new Blob([source], {type: "text/javascript"})));
  graphviz = await module.Graphviz.load();
  draw();
  window.gcReady = true;
} catch (error) {
  statusLine.textContent = `could not lay out the diagram: ${error}`;
  window.gcError = String(error);
}

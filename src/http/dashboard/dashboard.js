// registryd's dashboard: polls the node's JSON views and redraws. Every
// list is asked for a page at a time, filtered by the server, so the page
// stays quick at any size of the registry. Text goes in with textContent
// only: registered names and metadata are never markup. Under an
// authorization policy the page asks for a bearer token when the node answers
// 401, and keeps it in this tab's sessionStorage only.
"use strict";

const POLL_MS = 1000;
const SERVICES_PAGE = 50;
const INSTANCES_PAGE = 100;
const HISTORY = 60;  // samples per chart
const TOKEN_KEY = "registryd-token";

const state = {
  filter: "",
  servicesAfter: [""],  // the "after" of each page so far: back is a pop
  selected: null,
  instancesOffset: 0,
  lastCounts: null,
  lastTime: 0,
  history: { registrations: [], expirations: [], heartbeats: [] },
};

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// The node answered, with an error: its message says why (a refusal names
// the identity and the service).
class HttpError extends Error {}

function bearerToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function showTokenControls(asked) {
  $("token-form").hidden = !asked;
  $("token-forget").hidden = asked || !bearerToken();
}

async function getJson(url) {
  const token = bearerToken();
  const response = await fetch(url, { cache: "no-store", headers: token ? { Authorization: "Bearer " + token } : {} });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error.message; } catch (ignored) { /* not JSON */ }
    if (response.status === 401) showTokenControls(true);
    throw new HttpError(`${response.status} ${message}`);
  }
  return { body: await response.json(), headers: response.headers };
}

function formatDuration(seconds) {
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  for (const [unit, size] of units) {
    if (seconds >= size || (unit === "s" && parts.length === 0)) {
      parts.push(Math.floor(seconds / size) + unit);
      seconds %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

function drawChart(name, value) {
  const samples = state.history[name];
  samples.push(value);
  if (samples.length > HISTORY) samples.shift();
  const max = Math.max(1, ...samples);
  const svg = $("chart-" + name);
  let line = svg.querySelector("polyline");
  if (!line) {
    line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    svg.appendChild(line);
  }
  const step = 120 / (HISTORY - 1);
  const offset = HISTORY - samples.length;
  line.setAttribute("points", samples.map((v, i) => `${((offset + i) * step).toFixed(1)},${(29 - (v / max) * 28).toFixed(1)}`).join(" "));
  $("rate-" + name).textContent = value.toFixed(value < 10 ? 1 : 0);
}

async function pollNode() {
  const { body: node } = await getJson("/v1/dashboard/node");
  const ready = $("ready");
  ready.textContent = node.ready ? "serving" : "not serving";
  ready.className = "badge " + (node.ready ? "ready" : "not-ready");
  $("node-summary").textContent = `${node.version} (${node.revision}) · up ${formatDuration(node.uptimeSeconds)} · gRPC ${node.grpc}`;
  $("total-instances").textContent = node.instances;
  $("total-services").textContent = node.services;
  const now = performance.now();
  const counts = { registrations: node.registrations, expirations: node.expirations, heartbeats: node.heartbeats };
  if (state.lastCounts) {
    const seconds = (now - state.lastTime) / 1000;
    for (const name of Object.keys(counts)) {
      drawChart(name, Math.max(0, counts[name] - state.lastCounts[name]) / seconds);
    }
  }
  state.lastCounts = counts;
  state.lastTime = now;
  const settings = $("settings");
  settings.replaceChildren();
  for (const [name, value] of node.settings) {
    settings.append(element("dt", name), element("dd", value));
  }
  $("peers").textContent = node.peers.length ? "cluster peers: " + node.peers.join(", ") : "";
}

async function pollServices() {
  const after = state.servicesAfter[state.servicesAfter.length - 1];
  const query = new URLSearchParams({ limit: SERVICES_PAGE });
  if (state.filter) query.set("filter", state.filter);
  if (after) query.set("after", after);
  const { body, headers } = await getJson("/v1/services?" + query);
  const total = Number(headers.get("X-Total-Count") || 0);
  const list = $("services");
  list.replaceChildren();
  for (const service of body.services) {
    const item = element("li", undefined, service.name === state.selected ? "selected" : "");
    item.dataset.name = service.name;
    item.append(element("b", service.name), element("span", String(service.instances)));
    item.addEventListener("click", () => select(service.name));
    list.append(item);
  }
  $("services-count").textContent = `(${total}${state.filter ? " matching" : ""})`;
  $("services-prev").disabled = state.servicesAfter.length <= 1;
  const last = body.services.length ? body.services[body.services.length - 1].name : "";
  $("services-next").disabled = body.services.length < SERVICES_PAGE;
  $("services-next").dataset.after = last;
}

// After the session's id: in grace after a break, or kept by another cluster node.
function sessionStanding(session) {
  if (session.elsewhere) return " (on another node)";
  return session.attached ? "" : " (in grace)";
}

async function pollInstances() {
  const tbody = $("instances").querySelector("tbody");
  if (!state.selected) {
    tbody.replaceChildren();
    $("instances-range").textContent = "";
    return;
  }
  const query = new URLSearchParams({ service: state.selected, offset: state.instancesOffset, limit: INSTANCES_PAGE });
  const { body } = await getJson("/v1/dashboard/instances?" + query);
  tbody.replaceChildren();
  for (const instance of body.instances) {
    const row = element("tr", undefined, instance.ejected ? "ejected" : "");
    row.dataset.id = instance.instanceId;
    const metadata = Object.entries(instance.metadata).map(([k, v]) => `${k}=${v}`).join(" ");
    row.append(element("td", instance.instanceId), element("td", instance.address), element("td", metadata, "meta"),
               element("td", instance.overloaded ? "yes" : ""), element("td", instance.ejected ? "yes" : ""),
               element("td", (instance.ttlRemainingMs / 1000).toFixed(1) + " s"),
               element("td", instance.session ? instance.session.id + sessionStanding(instance.session) : "",
                       "session"));
    tbody.append(row);
  }
  const first = body.total ? state.instancesOffset + 1 : 0;
  $("instances-range").textContent = `${first}-${state.instancesOffset + body.instances.length} of ${body.total}`;
  $("instances-prev").disabled = state.instancesOffset === 0;
  $("instances-next").disabled = state.instancesOffset + INSTANCES_PAGE >= body.total;
}

function select(name) {
  state.selected = name;
  state.instancesOffset = 0;
  $("instances-title").textContent = "Instances of " + name;
  refresh();
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all([pollNode(), pollServices(), pollInstances()]);
    $("connection").textContent = "";
    showTokenControls(false);
  } catch (error) {
    $("connection").textContent = error instanceof HttpError ? error.message : "cannot reach registryd: " + error.message;
  } finally {
    refreshing = false;
  }
}

let searchTimer = 0;
$("search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.filter = event.target.value.trim();
    state.servicesAfter = [""];
    refresh();
  }, 200);
});
$("services-next").addEventListener("click", (event) => {
  state.servicesAfter.push(event.target.dataset.after);
  refresh();
});
$("services-prev").addEventListener("click", () => {
  if (state.servicesAfter.length > 1) state.servicesAfter.pop();
  refresh();
});
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  showTokenControls(false);
  refresh();
});
$("token-forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenControls(false);
  refresh();
});
$("instances-next").addEventListener("click", () => {
  state.instancesOffset += INSTANCES_PAGE;
  refresh();
});
$("instances-prev").addEventListener("click", () => {
  state.instancesOffset = Math.max(0, state.instancesOffset - INSTANCES_PAGE);
  refresh();
});

refresh();
setInterval(refresh, POLL_MS);

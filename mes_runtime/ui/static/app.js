// Holon operator UI: batch list and live batch view. No framework, no CDN (air-gapped plants).
// Every value from the server is written with textContent, never as HTML.
"use strict";

const API = "/api/v1";
const POLL_MS = 1000;
let timer = null;

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem("holon.token");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(API + path, { ...options, headers });
  if (response.status === 401) { signOut(); throw new Error("session expired, sign in again"); }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(describeError(body) || `HTTP ${response.status}`);
  return body;
}

function describeError(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) return body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return JSON.stringify(body);
}

function show(view) {
  for (const id of ["login-view", "list-view", "batch-view", "equipment-view", "review-view"]) $(id).hidden = id !== view;
}

function stateBadge(state) {
  return el("span", { class: `state state-${state}`, dataset: { state } }, state);
}

function signOut() {
  sessionStorage.removeItem("holon.token");
  sessionStorage.removeItem("holon.user");
  route();
}

async function signIn(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const body = await api("/auth/token", {
      method: "POST",
      body: JSON.stringify({ username: $("login-user").value, password: $("login-password").value }),
    });
    sessionStorage.setItem("holon.token", body.access_token);
    sessionStorage.setItem("holon.user", $("login-user").value);
    $("login-password").value = "";
    route();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

// A user's own password: first set with the one-time set-up token an administrator handed
// over, later changed with the current one (also once it has expired). Never sent anywhere
// but the two password routes; no session is needed, none is kept.
async function savePassword(event) {
  event.preventDefault();
  $("pw-error").textContent = "";
  $("pw-done").textContent = "";
  const username = $("pw-user").value;
  const setupToken = $("pw-token").value;
  const [path, body] = setupToken
    ? ["/auth/password/setup", { username, setup_token: setupToken, new_password: $("pw-new").value }]
    : ["/auth/password", { username, current_password: $("pw-current").value, new_password: $("pw-new").value }];
  const response = await fetch(API + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  for (const id of ["pw-token", "pw-current", "pw-new"]) $(id).value = "";
  if (response.ok) {
    $("pw-done").textContent = "Password saved: sign in with it.";
    $("login-user").value = username;
    return;
  }
  const detail = await response.json().catch(() => null);
  $("pw-error").textContent = describeError(detail) || `HTTP ${response.status}`;
}

async function renderList() {
  const batches = await api("/batches");
  const tbody = $("batch-table").querySelector("tbody");
  tbody.replaceChildren(...batches.map((b) => el("tr", {
      class: "clickable", dataset: { batch: b.id },
      onclick: () => { location.hash = `#/batches/${encodeURIComponent(b.id)}`; },
    },
    el("td", {}, el("a", { href: `#/batches/${encodeURIComponent(b.id)}` }, b.id)),
    el("td", {}, `${b.recipe.name} v${b.recipe.version}`),
    el("td", {}, stateBadge(b.state)),
    el("td", {}, new Date(b.created_at).toLocaleString()),
  )));
  $("batch-empty").hidden = batches.length > 0;
}

// Equipment: connected only when every declared node reads good; otherwise the reason names
// the nodes. What the manifest reader left out is listed per module (warnings).
async function renderEquipment() {
  const modules = await api("/equipment");
  const details = await Promise.all(modules.map((m) => api(`/equipment/${encodeURIComponent(m.name)}`)));
  $("equipment-table").querySelector("tbody").replaceChildren(...modules.map((m, index) => el("tr",
    { dataset: { module: m.name, connected: String(m.connected) } },
    el("td", {}, m.name),
    el("td", {}, m.endpoint),
    el("td", { class: "connection" },
      el("span", { class: `state ${m.connected ? "state-running" : "state-stopped"}` },
        m.connected ? "connected" : "not connected"),
      m.connection_problem ? el("div", { class: "problem" }, m.connection_problem) : ""),
    el("td", { class: "manifest" },
      `${details[index].manifest_version || "?"} · ${Object.keys(details[index].services).length} services`,
      el("ul", { class: "warnings" }, ...details[index].warnings.map((w) => el("li",
        { class: "severity-major", title: w.element_id }, `${w.path}: ${w.problem}`)))),
  )));
  $("equipment-empty").hidden = modules.length > 0;
}

async function sendCommand(batchId, path, command) {
  $("command-error").textContent = "";
  try {
    await api(`/batches/${encodeURIComponent(batchId)}/commands`, {
      method: "POST",
      body: JSON.stringify({ path, command, reason: "operator UI" }),
    });
    await renderBatch(batchId);
  } catch (error) {
    $("command-error").textContent = `${command} ${path}: ${error.message}`;
  }
}

async function renderBatch(batchId) {
  const batch = await api(`/batches/${encodeURIComponent(batchId)}`);
  $("batch-id").textContent = batch.id;
  $("batch-state").replaceChildren(stateBadge(batch.state));
  $("batch-recipe").textContent = `${batch.recipe.name} v${batch.recipe.version}`;
  $("review-link").href = `#/review/${encodeURIComponent(batch.id)}`;
  $("element-table").querySelector("tbody").replaceChildren(...batch.elements.map((e) => el("tr",
    { dataset: { path: e.path, state: e.state } },
    el("td", { class: `indent-${Math.min(e.depth, 3)}`, title: e.path }, `${e.name} (${e.kind})`),
    el("td", {}, e.equipment ? `${e.equipment} ${e.service}/${e.procedure}` : ""),
    el("td", {}, stateBadge(e.state)),
    el("td", {}, ...e.allowed_commands.map((c) => el("button", {
      type: "button", dataset: { command: c }, onclick: () => sendCommand(batch.id, e.path, c),
    }, c))),
  )));
  $("value-table").querySelector("tbody").replaceChildren(...batch.values.map((v) => el("tr",
    { dataset: { tag: `${v.equipment}.${v.name}` } },
    el("td", {}, v.equipment), el("td", {}, v.name),
    el("td", { class: "num" }, Number(v.value).toFixed(2)), el("td", {}, v.unit_of_measure),
  )));
  $("exception-list").replaceChildren(...batch.exceptions.map((x) => el("li",
    { class: `severity-${x.severity}` }, `${x.severity}: ${x.subject} — ${x.message}`)));
}

async function route() {
  clearInterval(timer);
  if (!token()) { show("login-view"); $("who").hidden = true; return; }
  $("who").hidden = false;
  $("who-name").textContent = sessionStorage.getItem("holon.user") || "";
  const review = location.hash.match(/^#\/review\/(.+)$/);
  if (review) { show("review-view"); await openReview(decodeURIComponent(review[1])); return; }  // review.js
  const match = location.hash.match(/^#\/batches\/(.+)$/);
  const equipment = location.hash === "#/equipment";
  const refresh = equipment ? renderEquipment
    : match ? () => renderBatch(decodeURIComponent(match[1])) : renderList;
  show(equipment ? "equipment-view" : match ? "batch-view" : "list-view");
  const errors = equipment ? "equipment-error" : "command-error";
  const tick = () => refresh().catch((error) => { $(errors).textContent = error.message; });
  await tick();
  timer = setInterval(tick, POLL_MS);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("password-form").addEventListener("submit", savePassword);
  $("logout").addEventListener("click", signOut);
  route();
});

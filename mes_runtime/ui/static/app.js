// Holon operator UI: batch list and live batch view. No framework, no CDN (air-gapped plants).
// Every value from the server is written with textContent, never as HTML.
// The batch view is live: server-sent events (GET /api/v1/events) from whichever replica
// answers, resumed by event id after a reconnection; the list and equipment pages poll.
"use strict";

const API = "/api/v1";
const POLL_MS = 1000;
const RECONNECT_MS = 1000;
let timer = null;
let live = null; // { batchId, source, lastId, retry } while a batch view is open

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
  closeLive();
  fetch(`${API}/events/session`, { method: "DELETE" }).catch(() => {});
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
    await api("/events/session", { method: "POST" }); // the stream's cookie (EventSource)
    $("login-password").value = "";
    route();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
}

// Sign-in through the plant's identity provider: the runtime redirects the browser back
// with its own bearer token (or why not) in the fragment, which never reaches a server;
// it is moved to sessionStorage and removed from the address at once.
async function takeSignInFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("sign-in-error")) {
    history.replaceState(null, "", location.pathname);
    $("login-oidc-error").textContent = params.get("sign-in-error");
    return;
  }
  if (!params.has("signed-in")) return;
  history.replaceState(null, "", location.pathname);
  sessionStorage.setItem("holon.token", params.get("signed-in"));
  sessionStorage.setItem("holon.user", params.get("user") || "");
  await api("/events/session", { method: "POST" }).catch(() => {}); // the stream's cookie
}

// Which ways of signing in this runtime offers (local passwords, the identity provider).
async function showSignInMethods() {
  const methods = await api("/auth/methods").catch(() => ({ local: true, identity_provider: false }));
  $("login-oidc").hidden = !methods.identity_provider;
  $("login-form").hidden = !methods.local;
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
    if (!live) await renderBatch(batchId); // live: the stream brings the new state
  } catch (error) {
    $("command-error").textContent = `${command} ${path}: ${error.message}`;
  }
}

async function renderBatch(batchId) {
  showBatch(await api(`/batches/${encodeURIComponent(batchId)}`));
}

function showBatch(batch) {
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

// ---- live batch view: server-sent events, resumed by event id -------------------------------

function closeLive() {
  if (!live) return;
  clearTimeout(live.retry);
  if (live.source) live.source.close();
  live = null;
}

function setLiveStatus(state) {
  const badge = $("live-status");
  badge.dataset.state = state;
  badge.textContent = state === "live" ? "live" : "reconnecting…";
  badge.title = state === "live" ? "updates arrive as they happen" : "connection lost; retrying";
}

function openLive(batchId) {
  closeLive();
  live = { batchId, source: null, lastId: null, retry: null, connects: 0 };
  connectLive();
}

// EventSource reconnects by itself after a dropped stream, sending Last-Event-ID; when it
// gives up (an HTTP error, e.g. a replica answering 503 while it starts), a new one resumes
// from the last event id (``after``): nothing is lost and the page is never reloaded.
function connectLive() {
  const state = live;
  const query = new URLSearchParams({ batch: state.batchId });
  if (state.lastId) query.set("after", state.lastId);
  const source = new EventSource(`${API}/events?${query}`);
  state.source = source;
  const track = (handler) => (message) => {
    if (live !== state) return;
    state.lastId = message.lastEventId || state.lastId;
    handler(JSON.parse(message.data));
  };
  source.addEventListener("batch", track((batch) => {
    showBatch(batch);
    refreshTimeline(batch.id);
  }));
  source.addEventListener("values", track((data) => trendAppend(data)));
  source.onopen = () => {
    if (live !== state) return;
    state.connects += 1;
    document.body.dataset.liveConnects = String(state.connects);
    setLiveStatus("live");
  };
  source.onerror = () => {
    if (live !== state) return;
    setLiveStatus("reconnecting");
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      state.retry = setTimeout(() => { if (live === state) connectLive(); }, RECONNECT_MS);
    }
  };
}

// ---- trends: history downsampled by the server (min/max per bucket), then live values -------

const trend = { batchId: null, series: new Map(), timeline: null, tag: null, start: null, drawn: 0 };

async function loadTrend(batchId) {
  Object.assign(trend, { batchId, series: new Map(), timeline: null, start: null });
  const width = Math.max(200, Math.round($("trend").clientWidth || 1000));
  const [history, timeline] = await Promise.all([
    api(`/batches/${encodeURIComponent(batchId)}/values?points=${width}`),
    api(`/batches/${encodeURIComponent(batchId)}/timeline`),
  ]);
  if (trend.batchId !== batchId) return;
  for (const s of history.series) {
    trend.series.set(s.tag, { unit: s.unit, t: s.t.map((x) => x * 1000), min: s.min, max: s.max, mean: s.mean });
  }
  trend.timeline = timeline;
  fillTagChoice();
  drawTrend();
}

async function refreshTimeline(batchId) {
  if (trend.batchId !== batchId) return;
  try { trend.timeline = await api(`/batches/${encodeURIComponent(batchId)}/timeline`); } catch { return; }
  drawTrend();
}

function trendAppend(data) {
  for (const v of data.values) {
    let s = trend.series.get(v.tag);
    if (!s) { s = { unit: "", t: [], min: [], max: [], mean: [] }; trend.series.set(v.tag, s); }
    const t = Date.parse(v.ts);
    s.t.push(t); s.min.push(v.value); s.max.push(v.value); s.mean.push(v.value);
  }
  if (data.truncated && trend.batchId) { loadTrend(trend.batchId); return; }
  fillTagChoice();
  scheduleDraw();
}

function fillTagChoice() {
  const select = $("trend-tag");
  const tags = [...trend.series.keys()].sort();
  if (select.options.length !== tags.length) {
    const chosen = select.value || trend.tag;
    select.replaceChildren(...tags.map((tag) => el("option", { value: tag }, tag)));
    const preferred = tags.includes(chosen) ? chosen
      : tags.find((tag) => tag.endsWith(".Temperature")) || tags[0];
    if (preferred) select.value = preferred;
  }
  trend.tag = select.value;
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawTrend(); });
}

const PHASE_COLOURS = { running: "#2e8b57", held: "#d08c00", holding: "#d08c00", paused: "#d08c00",
  complete: "#5b7fb5", stopped: "#b3261e", aborted: "#b3261e" };

// A canvas plot of one tag: the band between each bucket's min and max (spikes stay
// visible), the mean as a line, the limit bands of the phases that monitor the tag, and
// the phase timeline (one row per phase, coloured by state, named) underneath.
function drawTrend() {
  const canvas = $("trend");
  const s = trend.series.get(trend.tag);
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 800, cssHeight = canvas.clientHeight || 280;
  canvas.width = cssWidth * ratio; canvas.height = cssHeight * ratio;
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, cssWidth, cssHeight);
  g.font = "12px system-ui, sans-serif";
  canvas.dataset.tag = trend.tag || "";
  canvas.dataset.points = String(s ? s.t.length : 0);
  if (!s || !s.t.length) { g.fillStyle = "#555"; g.fillText("no values yet", 12, 20); return; }
  const phases = (trend.timeline && trend.timeline.phases) || [];
  const intervals = phases.map((p) => ({ p, spans: spansOf(p.changes) })).filter((x) => x.spans.length);
  const left = 56, right = 12, top = 10, laneHeight = 14;
  const lanes = intervals.length, bottom = 22 + lanes * laneHeight;
  const plotW = cssWidth - left - right, plotH = cssHeight - top - bottom;
  const now = Date.now();
  let t0 = s.t[0], t1 = s.t[s.t.length - 1];
  for (const x of intervals) for (const [a] of x.spans) t0 = Math.min(t0, a);
  if (t1 <= t0) t1 = t0 + 1000;
  const limits = [];
  for (const x of intervals) for (const l of x.p.limits) if (l.tag === trend.tag) limits.push({ l, spans: x.spans });
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < s.t.length; i++) { lo = Math.min(lo, s.min[i]); hi = Math.max(hi, s.max[i]); }
  for (const { l } of limits) {
    if (l.low !== null) lo = Math.min(lo, l.low);
    if (l.high !== null) hi = Math.max(hi, l.high);
  }
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const X = (t) => left + ((t - t0) / (t1 - t0)) * plotW;
  const Y = (v) => top + (1 - (v - lo) / (hi - lo)) * plotH;
  // limit bands (inside: pale green; the limits themselves: dashed red)
  for (const { l, spans } of limits) {
    for (const [a, b] of spans) {
      const xa = X(a), xb = X(Math.min(b ?? now, t1));
      const ya = Y(l.high ?? hi), yb = Y(l.low ?? lo);
      g.fillStyle = "rgba(46,139,87,0.10)"; g.fillRect(xa, ya, xb - xa, yb - ya);
      g.strokeStyle = "#b3261e"; g.setLineDash([4, 3]); g.lineWidth = 1;
      for (const v of [l.low, l.high]) if (v !== null) { g.beginPath(); g.moveTo(xa, Y(v)); g.lineTo(xb, Y(v)); g.stroke(); }
      g.setLineDash([]);
    }
  }
  // axes and grid
  g.strokeStyle = "#d5d8dc"; g.fillStyle = "#333"; g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4, y = Y(v);
    g.beginPath(); g.moveTo(left, y); g.lineTo(left + plotW, y); g.stroke();
    g.fillText(v.toFixed(2), 4, y + 4);
  }
  for (let k = 0; k <= 5; k++) {
    const t = t0 + ((t1 - t0) * k) / 5;
    g.fillText(new Date(t).toLocaleTimeString(), Math.min(X(t) - 24, cssWidth - 70), top + plotH + 14);
  }
  // min..max band, then the mean
  g.fillStyle = "rgba(15,43,70,0.25)"; g.beginPath();
  for (let i = 0; i < s.t.length; i++) g.lineTo(X(s.t[i]), Y(s.max[i]));
  for (let i = s.t.length - 1; i >= 0; i--) g.lineTo(X(s.t[i]), Y(s.min[i]));
  g.closePath(); g.fill();
  g.strokeStyle = "#0f2b46"; g.lineWidth = 1.5; g.beginPath();
  for (let i = 0; i < s.t.length; i++) g.lineTo(X(s.t[i]), Y(s.mean[i]));
  g.stroke();
  for (let i = 0; i < s.t.length; i++) if (s.max[i] - s.min[i] > 0) { // spikes: min..max whiskers
    g.beginPath(); g.moveTo(X(s.t[i]), Y(s.max[i])); g.lineTo(X(s.t[i]), Y(s.min[i])); g.stroke();
  }
  g.fillStyle = "#333"; g.fillText(`${trend.tag} [${s.unit}]`, left + 6, top + 12);
  // phase timeline: one lane per phase, state by colour and by name (not colour alone)
  intervals.forEach(({ p, spans }, lane) => {
    const y = top + plotH + 20 + lane * laneHeight;
    for (const [a, b, state] of spans) {
      const xa = X(a), xb = X(Math.min(b ?? now, t1));
      g.fillStyle = PHASE_COLOURS[state] || "#999"; g.fillRect(xa, y, Math.max(1, xb - xa), laneHeight - 3);
    }
    g.fillStyle = "#111"; g.fillText(`${p.unit}/${p.name}`, 4, y + 10);
  });
  trend.drawn += 1;
  canvas.dataset.drawn = String(trend.drawn);
}

function spansOf(changes) {
  const spans = [];
  for (let i = 0; i < changes.length; i++) {
    const state = changes[i].state;
    if (state === "idle") continue;
    const a = Date.parse(changes[i].ts), b = i + 1 < changes.length ? Date.parse(changes[i + 1].ts) : null;
    if (["complete", "stopped", "aborted"].includes(state)) { spans.push([a, a, state]); continue; }
    spans.push([a, b, state]);
  }
  return spans;
}

async function route() {
  clearInterval(timer);
  if (!token()) { closeLive(); show("login-view"); $("who").hidden = true; return; }
  $("who").hidden = false;
  $("who-name").textContent = sessionStorage.getItem("holon.user") || "";
  const review = location.hash.match(/^#\/review\/(.+)$/);
  if (review) { show("review-view"); await openReview(decodeURIComponent(review[1])); return; }  // review.js
  const match = location.hash.match(/^#\/batches\/(.+)$/);
  const equipment = location.hash === "#/equipment";
  if (match) {
    const batchId = decodeURIComponent(match[1]);
    show("batch-view");
    if (!live || live.batchId !== batchId) {
      try {
        await api("/events/session", { method: "POST" }); // (re)sets the stream's cookie
        openLive(batchId);
        await loadTrend(batchId);
      } catch (error) { $("command-error").textContent = error.message; }
    }
    return;
  }
  closeLive();
  const refresh = equipment ? renderEquipment : renderList;
  show(equipment ? "equipment-view" : "list-view");
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
  $("trend-tag").addEventListener("change", () => { trend.tag = $("trend-tag").value; drawTrend(); });
  window.addEventListener("resize", scheduleDraw);
  showSignInMethods();
  takeSignInFromFragment().finally(route);
});

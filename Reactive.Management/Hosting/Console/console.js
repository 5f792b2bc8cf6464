// The operator console: plain JavaScript, no build step, no external resources. State comes from the API once and then
// from /api/events (Server-Sent Events, read with fetch so that the bearer token can be sent), so what is shown follows
// what happens without polling jobs. Peers are read again every 5 s for their last heartbeat; /api/stats every 2 s
// for the charts.
"use strict";

const TOKEN_KEY = "reactive-management-token";
const WINDOW_MS = 5 * 60 * 1000;
// A fleet of thousands stays usable: at most this many peers are rendered (and offered in the form) at once, the rest
// found by the filter; the jobs kept are the newest few hundred (the table shows 100).
const SHOWN_PEERS = 200;
const SHOWN_JOBS = 100;
const KEPT_JOBS = 1000;
const FINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
const RANK = { pending: 0, sent: 1 };
const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  peers: new Map(),   // id → peer as the API shows it
  jobs: new Map(),    // id → { id, peer_id, status, created_at, batch_id, detail }
  lastEventId: null,
  connectedSamples: [], heartbeatSamples: [], outcomes: [],
  lastStats: null,
  started: false,
};
const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
  if (init.body) headers.set("Content-Type", "application/json");
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) throw new Unauthorized();
  return response;
}

async function json(path, init) {
  const response = await api(path, init);
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body && (body.detail || body.title) || `HTTP ${response.status}`);
  return body;
}

function askForToken() {
  $("token-section").hidden = false;
  $("live").textContent = "the API needs a token";
  $("token").focus();
}

function setLive(text) { $("live").textContent = text; }

// ---- peers ----
async function loadPeers() {
  const peers = await json("/api/peers");
  const seen = new Set();
  for (const peer of peers) { state.peers.set(peer.id, peer); seen.add(peer.id); }
  for (const id of [...state.peers.keys()]) if (!seen.has(id)) state.peers.delete(id);
  renderPeers();
}

// One read of the peers at a time, however many ask (a new peer's event, the 5 s timer); one asked for during a read
// makes one more after it, so a peer registered meanwhile is not missed.
const peerReload = { running: false, again: false };
async function reloadPeers() {
  if (peerReload.running) { peerReload.again = true; return; }
  peerReload.running = true;
  try {
    do { peerReload.again = false; await loadPeers(); } while (peerReload.again);
  } catch (error) {
    report(error);
  } finally {
    peerReload.running = false;
  }
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// Events can come thousands a second (a fleet reconnecting, a fan-out): the tables are drawn at most every 100 ms.
const pendingRenders = new Set();
function renderSoon(render) {
  if (pendingRenders.has(render)) return;
  pendingRenders.add(render);
  setTimeout(() => { pendingRenders.delete(render); render(); }, 100);
}

function matches(peer, words) {
  const text = `${peer.name} ${peer.id} ${peer.replica || ""} ${peer.connected ? "connected" : "offline"}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

function renderPeers() {
  const body = $("peers").tBodies[0];
  body.replaceChildren();
  const words = $("peer-filter").value.toLowerCase().split(/\s+/).filter((word) => word.length > 0);
  const found = [...state.peers.values()].filter((peer) => matches(peer, words));
  const sorted = found.sort((a, b) => a.name.localeCompare(b.name)).slice(0, SHOWN_PEERS);
  $("peers-shown").textContent = found.length > sorted.length
    ? `Showing ${sorted.length} of ${found.length} peers found (${state.peers.size} in all): narrow them with Find.`
    : words.length > 0 ? `${found.length} of ${state.peers.size} peers found.` : "";
  for (const peer of sorted) {
    const row = body.insertRow();
    row.dataset.peerId = peer.id;
    cell(row, peer.name);
    cell(row, peer.id);
    const status = peer.connected ? "connected" : "offline";
    cell(row, status, `status status-${status}`);
    cell(row, peer.replica || "–");
    cell(row, peer.connected ? ago(peer.last_heartbeat_at) : "–", "heartbeat").dataset.at = peer.last_heartbeat_at || "";
    cell(row, peer.remote_jobs_allowed === false ? "not allowed" : "allowed");
  }
  $("peers-empty").hidden = state.peers.size > 0;
  renderPeerChoices(sorted);
}

function renderPeerChoices(shown) {
  const select = $("peer-select");
  const chosen = new Set([...select.selectedOptions].map((option) => option.value));
  // The peers shown, and when choosing several, those already chosen that a new filter hides: such a choice is never
  // dropped silently. Choosing one, the choice is among the peers shown.
  const hiddenChoices = !select.multiple ? [] : [...chosen].filter((id) => !shown.some((peer) => peer.id === id)).map((id) => state.peers.get(id)).filter(Boolean);
  select.replaceChildren(...[...hiddenChoices, ...shown].map((peer) => {
    const option = new Option(`${peer.name} (${peer.connected ? "connected" : "offline"})`, peer.id);
    option.selected = chosen.has(peer.id);
    return option;
  }));
  if (select.selectedIndex < 0 && select.options.length > 0 && !select.multiple) select.selectedIndex = 0;
}

function tickHeartbeats() {
  for (const td of document.querySelectorAll("#peers td.heartbeat")) {
    if (td.dataset.at) td.textContent = ago(td.dataset.at);
  }
}

// ---- jobs ----
async function loadJobs() {
  const page = await json("/api/jobs?limit=50");
  for (const job of page.items.reverse()) mergeJob({ id: job.id, peer_id: job.peer_id, status: job.status, created_at: job.created_at, batch_id: job.batch_id, detail: job.failed_reason || job.workload?.result?.upload_key });
  renderJobs();
}

// A job's state only moves forward (pending → sent → one final state): an event or a read that arrives late never
// moves it back, whatever order they come in.
function mergeJob(update) {
  const known = state.jobs.get(update.id);
  if (!known) { state.jobs.set(update.id, update); return; }
  const rank = (status) => FINAL.has(status) ? 2 : RANK[status] ?? 0;
  if (rank(update.status) >= rank(known.status)) known.status = update.status;
  known.detail = update.detail || known.detail;
  known.batch_id = known.batch_id || update.batch_id;
  known.created_at = known.created_at || update.created_at;
}

function renderJobs() {
  const body = $("jobs").tBodies[0];
  body.replaceChildren();
  const byAge = [...state.jobs.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
  // Forget the oldest beyond what is kept; an event for a forgotten job brings it back.
  for (const old of byAge.slice(KEPT_JOBS)) state.jobs.delete(old.id);
  const newest = byAge.slice(0, SHOWN_JOBS);
  for (const job of newest) {
    const row = body.insertRow();
    row.dataset.jobId = job.id;
    cell(row, job.id.slice(0, 8)).title = job.id;
    cell(row, state.peers.get(job.peer_id)?.name || job.peer_id);
    cell(row, job.status, `status status-${job.status}`);
    cell(row, job.created_at ? new Date(job.created_at).toLocaleTimeString() : "");
    cell(row, job.batch_id ? job.batch_id.slice(0, 8) : "–");
    cell(row, job.detail || "");
    if (job.status === "succeeded" && !job.detail && !job.read) readUploadKey(job);
  }
}

// A success event carries no upload key: read it once for a job that is shown (at most the 100 in the table).
async function readUploadKey(job) {
  job.read = true;
  try {
    const stored = await json(`/api/peers/${encodeURIComponent(job.peer_id)}/jobs/${encodeURIComponent(job.id)}`);
    job.detail = stored.workload?.result?.upload_key || job.detail;
    renderSoon(renderJobs);
  } catch (error) {
    report(error);
  }
}

// ---- events ----
const JOB_STATUS = { "job.created": "pending", "job.sent": "sent", "job.succeeded": "succeeded", "job.failed": "failed", "job.timed_out": "timed_out", "job.cancelled": "cancelled" };

function apply(event) {
  if (event.type in JOB_STATUS) {
    const status = JOB_STATUS[event.type];
    mergeJob({ id: event.job_id, peer_id: event.peer_id, status, created_at: event.type === "job.created" ? event.at : undefined, batch_id: event.batch_id, detail: event.detail });
    if (FINAL.has(status)) state.outcomes.push({ at: Date.now(), status });
    renderSoon(renderJobs);
  } else if (event.type === "peer.connected" || event.type === "peer.disconnected") {
    const peer = state.peers.get(event.peer_id);
    if (!peer) { reloadPeers(); return; }
    peer.connected = event.type === "peer.connected";
    if (peer.connected) peer.last_heartbeat_at = event.at;
    renderSoon(renderPeers);
  }
}

async function followEvents() {
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
      const response = await api("/api/events", { headers });
      if (response.status === 410) { state.lastEventId = null; await Promise.all([loadPeers(), loadJobs()]); continue; }
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      setLive("live");
      await readEvents(response.body);
      setLive("reconnecting…");
    } catch (error) {
      if (error instanceof Unauthorized) { askForToken(); return; }
      setLive("reconnecting…");
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function readEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (data.length > 0) {
          const event = JSON.parse(data.join("\n"));
          if (id !== null) state.lastEventId = id;
          apply(event);
        }
        data = [];
        id = null;
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).trimStart());
      } else if (line.startsWith("id:")) {
        id = line.slice(3).trim();
      }
    }
  }
}

// ---- charts ----
async function sampleStats() {
  const stats = await json("/api/stats");
  const now = Date.now();
  const connected = [...state.peers.values()].filter((peer) => peer.connected).length;
  state.connectedSamples.push({ at: now, value: connected });
  if (state.lastStats) {
    const seconds = (Date.parse(stats.at) - Date.parse(state.lastStats.at)) / 1000;
    if (seconds > 0) state.heartbeatSamples.push({ at: now, value: Math.max(0, stats.heartbeats_sent - state.lastStats.heartbeats_sent) / seconds });
  }
  state.lastStats = stats;
  for (const list of [state.connectedSamples, state.heartbeatSamples, state.outcomes]) {
    while (list.length > 0 && list[0].at < now - WINDOW_MS) list.shift();
  }
  drawCharts(now);
}

function drawLine(canvas, samples, now, color) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const max = Math.max(1, ...samples.map((sample) => sample.value));
  context.strokeStyle = color;
  context.lineWidth = 2;
  context.beginPath();
  samples.forEach((sample, index) => {
    const x = width - ((now - sample.at) / WINDOW_MS) * width;
    const y = height - 4 - (sample.value / max) * (height - 12);
    if (index === 0) context.moveTo(x, y); else context.lineTo(x, y);
  });
  context.stroke();
  context.fillStyle = "#888";
  context.font = "11px system-ui";
  context.fillText(`max ${max.toFixed(max < 10 ? 1 : 0)}`, 4, 12);
}

function drawOutcomes(canvas, outcomes, now) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const buckets = Array.from({ length: 30 }, () => ({ ok: 0, bad: 0 }));
  for (const outcome of outcomes) {
    const index = 29 - Math.floor((now - outcome.at) / 10000);
    if (index >= 0) buckets[index][outcome.status === "succeeded" ? "ok" : "bad"]++;
  }
  const max = Math.max(1, ...buckets.map((bucket) => bucket.ok + bucket.bad));
  const barWidth = width / buckets.length;
  buckets.forEach((bucket, index) => {
    const okHeight = (bucket.ok / max) * (height - 12);
    const badHeight = (bucket.bad / max) * (height - 12);
    context.fillStyle = "#1a7f37";
    context.fillRect(index * barWidth + 1, height - okHeight, barWidth - 2, okHeight);
    context.fillStyle = "#c62828";
    context.fillRect(index * barWidth + 1, height - okHeight - badHeight, barWidth - 2, badHeight);
  });
  const total = outcomes.length;
  const succeeded = outcomes.filter((outcome) => outcome.status === "succeeded").length;
  $("value-outcomes").textContent = `${succeeded} succeeded, ${total - succeeded} not (5 min)`;
}

function drawCharts(now) {
  drawLine($("chart-connected"), state.connectedSamples, now, "#1565c0");
  drawLine($("chart-heartbeats"), state.heartbeatSamples, now, "#6a1b9a");
  drawOutcomes($("chart-outcomes"), state.outcomes, now);
  $("value-connected").textContent = String(state.connectedSamples.at(-1)?.value ?? "–");
  $("value-heartbeats").textContent = state.heartbeatSamples.length ? state.heartbeatSamples.at(-1).value.toFixed(1) : "–";
}

// ---- requesting bundles ----
function targetChanged() {
  const target = document.querySelector("input[name=target]:checked").value;
  $("peer-select").multiple = target === "many";
  $("peer-select").disabled = target === "all";
  $("max-in-flight").disabled = target === "one";
}

async function requestBundle(submit) {
  submit.preventDefault();
  const target = document.querySelector("input[name=target]:checked").value;
  const workload = { type: "bundle", parameters: { bundle_for: false, bundle_for_time: 0, log_file_count: Number($("log-files").value), anonymize: $("anonymize").checked } };
  const chosen = [...$("peer-select").selectedOptions].map((option) => option.value);
  const result = $("request-result");
  try {
    if (target === "one") {
      if (chosen.length !== 1) throw new Error("choose a peer");
      const job = await json(`/api/peers/${encodeURIComponent(chosen[0])}/jobs`, { method: "POST", body: JSON.stringify({ workload }) });
      mergeJob({ id: job.id, peer_id: job.peer_id, status: job.status, created_at: job.created_at });
      result.textContent = `Job ${job.id} created (${job.status}).`;
    } else {
      const body = { workload, max_in_flight: Number($("max-in-flight").value) };
      if (target === "all") body.all_peers = true; else body.peer_ids = chosen;
      const batch = await json("/api/jobs", { method: "POST", body: JSON.stringify(body) });
      result.textContent = `Batch ${batch.id} created: ${batch.jobs} jobs, at most ${batch.max_in_flight} at once.`;
    }
    renderJobs();
  } catch (error) {
    if (error instanceof Unauthorized) { askForToken(); return; }
    result.textContent = `Not created: ${error.message}`;
  }
}

function report(error) {
  if (error instanceof Unauthorized) askForToken();
  else setLive(`trouble: ${error.message}`);
}

async function start() {
  // The server says in the page whether its API needs a token from this browser: asked for before the first call.
  if (!state.token && document.documentElement.dataset.token === "required") {
    askForToken();
    return;
  }

  try {
    // The peers first: they tell whether the token is needed (401) and good.
    await loadPeers();
  } catch (error) {
    report(error);
    return;
  }

  $("token-section").hidden = true;
  if (state.started) return;
  state.started = true;
  // Then the events, before the jobs are read: a job that changes while they load is merged (its state only moves
  // forward), never missed. A peer event missed meanwhile is caught by the peers' next read.
  followEvents();
  loadJobs().catch(report);
  setInterval(tickHeartbeats, 1000);
  setInterval(reloadPeers, 5000);
  setInterval(() => sampleStats().catch(report), 2000);
  sampleStats().catch(report);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = "";
    start();
  });
  $("request-form").addEventListener("submit", requestBundle);
  $("peer-filter").addEventListener("input", () => renderSoon(renderPeers));
  for (const radio of document.querySelectorAll("input[name=target]")) radio.addEventListener("change", targetChanged);
  targetChanged();
  start();
});

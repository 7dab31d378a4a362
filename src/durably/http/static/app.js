// The durably dashboard: a list of instances and an instance page, drawn from the HTTP
// API. Every value from the store goes into the page as text (textContent, attribute
// values), never as HTML. The token, when the server wants one, stays in this tab's
// session storage and goes in the Authorization header of every request.
"use strict";

const BASE = "/runtime/webhooks/durabletask/instances";
const TOKEN_KEY = "durably-token";
const PAGE_SIZE = 50;
const TERMINAL = new Set(["Completed", "Failed", "Terminated", "Canceled"]);
const STATUSES = ["Pending", "Running", "Suspended", "Completed", "Failed", "Terminated", "ContinuedAsNew", "Canceled"];
const SVG = "http://www.w3.org/2000/svg";

let timers = [];
let summaryTimer = null;
const shownInstance = { id: null, status: null };  // the instance page's, for its refresh

// -- helpers ---------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function badge(status) {
  return el("span", { class: `badge s-${status}`, text: status });
}

function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().replace("T", " ");
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, { body, headers } = {}) {
  const sent = { ...(headers || {}) };
  if (token()) sent.Authorization = `Bearer ${token()}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn("The token was refused.");
    throw new Error("unauthorized");
  }
  return response;
}

async function failure(response) {
  try {
    const body = await response.json();
    return body.error || JSON.stringify(body);
  } catch {
    return `HTTP ${response.status}`;
  }
}

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

function every(ms, fn) {
  timers.push(setInterval(fn, ms));
}

// -- dialogs ---------------------------------------------------------------------------
function ask({ title, text, fields = [], ok = "OK", danger = false }) {
  const dialog = document.getElementById("dialog");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-text").textContent = text || "";
  const holder = document.getElementById("dialog-fields");
  holder.replaceChildren();
  const inputs = {};
  for (const field of fields) {
    const input = field.multiline
      ? el("textarea", { name: field.name, rows: 4, placeholder: field.placeholder || "" })
      : el("input", { name: field.name, placeholder: field.placeholder || "" });
    input.value = field.value || "";
    inputs[field.name] = input;
    holder.append(el("label", {}, field.label, input));
  }
  document.getElementById("dialog-cancel").onclick = () => dialog.close("cancel");
  const button = document.getElementById("dialog-ok");
  button.textContent = ok;
  button.className = danger ? "danger" : "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (dialog.returnValue !== "ok") return resolve(null);
        const values = {};
        for (const [name, input] of Object.entries(inputs)) values[name] = input.value;
        resolve(values);
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// -- sign-in ---------------------------------------------------------------------------
function showSignIn(message) {
  stopTimers();
  if (summaryTimer) clearInterval(summaryTimer);
  document.getElementById("summary").replaceChildren();
  const input = el("input", { type: "password", name: "token", autocomplete: "current-password" });
  const note = el("p", { class: "error", text: message || "" });
  const form = el(
    "form",
    { class: "card signin", id: "sign-in" },
    el("h2", { text: "Sign in" }),
    el("p", { class: "muted", text: "This server wants its access token (durably serve --token)." }),
    el("label", {}, "Token ", input),
    " ",
    el("button", { type: "submit", text: "Sign in" }),
    note,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/dashboard/login", {
      method: "POST",
      headers: { Authorization: `Bearer ${input.value}` },
      credentials: "same-origin",
    });
    if (response.status === 204) {
      sessionStorage.setItem(TOKEN_KEY, input.value);
      location.reload();
    } else {
      note.textContent = "That token was refused.";
    }
  });
  document.getElementById("main").replaceChildren(form);
}

// -- summary strip ---------------------------------------------------------------------
function sparkline(values, cls) {
  const max = Math.max(1, ...values);
  const width = 6 * values.length;
  const node = svg("svg", { width, height: 20, viewBox: `0 0 ${width} 20`, class: cls });
  values.forEach((value, i) => {
    const h = Math.max(value ? 2 : 0, Math.round((18 * value) / max));
    node.append(svg("rect", { x: i * 6, y: 20 - h, width: 5, height: h, fill: "currentColor" }));
  });
  return node;
}

async function loadSummary() {
  const response = await api("GET", "/dashboard/api/summary?minutes=15");
  if (!response.ok) return;
  const data = await response.json();
  const nav = document.getElementById("summary");
  const counts = STATUSES.filter((s) => data.counts[s] || ["Pending", "Running", "Completed", "Failed"].includes(s)).map((status) =>
    el("a", { class: "count", href: `#/?status=${status}`, title: `${status} instances` },
      el("b", { text: (data.counts[status] || 0).toLocaleString("en") }),
      el("span", { text: status })),
  );
  const started = data.started.reduce((a, b) => a + b, 0);
  const finished = data.finished.reduce((a, b) => a + b, 0);
  nav.replaceChildren(
    ...counts,
    el("div", { class: "spark", title: "instances started per minute, last 15 minutes" },
      sparkline(data.started, "spark-started"), `started ${(started / data.minutes).toFixed(1)}/min`),
    el("div", { class: "spark", title: "instances finished per minute, last 15 minutes" },
      sparkline(data.finished, "spark-finished"), `finished ${(finished / data.minutes).toFixed(1)}/min`),
    el("div", { class: "count", id: "oldest-waiting" },
      el("b", { text: data.oldestWaiting ? ago(data.oldestWaiting) : "none" }),
      el("span", { text: "oldest waiting work" })),
  );
}

// -- the list --------------------------------------------------------------------------
function listQuery() {
  const params = new URLSearchParams(location.hash.replace(/^#\/?\??/, ""));
  return {
    status: params.get("status") || "",
    name: params.get("name") || "",
    prefix: params.get("prefix") || "",
    from: params.get("from") || "",
    to: params.get("to") || "",
  };
}

function toUtc(local) {
  return local ? new Date(local).toISOString() : "";
}

async function showList() {
  const query = listQuery();
  const tokens = [null];
  let page = 0;
  const status = el("select", { name: "status" }, el("option", { value: "", text: "any status" }),
    STATUSES.map((s) => el("option", { value: s, text: s, selected: s === query.status })));
  const name = el("input", { name: "name", placeholder: "orchestrator name", value: query.name });
  const prefix = el("input", { name: "prefix", placeholder: "instance id prefix", value: query.prefix });
  const from = el("input", { name: "from", type: "datetime-local", value: query.from });
  const to = el("input", { name: "to", type: "datetime-local", value: query.to });
  const live = el("input", { type: "checkbox", name: "live", checked: true });
  const form = el("form", { class: "filters", id: "filters" },
    el("label", {}, "Status", status), el("label", {}, "Name", name),
    el("label", {}, "Id prefix", prefix), el("label", {}, "Created from", from),
    el("label", {}, "Created to", to),
    el("button", { type: "submit", text: "Filter" }),
    el("label", { class: "live" }, el("span", {}, live, " live refresh")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, input] of Object.entries({ status, name, prefix, from, to }))
      if (input.value) params.set(key, input.value);
    location.hash = `#/?${params}`;
  });
  const body = el("tbody", { id: "instances" });
  const table = el("table", {},
    el("thead", {}, el("tr", {}, ["Instance", "Name", "Status", "Created", "Updated", ""].map((h) => el("th", { text: h })))),
    body);
  const info = el("span", { class: "muted", id: "page-info" });
  const prev = el("button", { class: "quiet", id: "prev", text: "‹ Previous", disabled: true });
  const next = el("button", { class: "quiet", id: "next", text: "Next ›", disabled: true });
  document.getElementById("main").replaceChildren(form, table, el("div", { class: "pager" }, prev, next, info));

  let asked = 0;  // answers to older requests (a refresh overtaken by "Next") are dropped
  async function load() {
    const mine = ++asked;
    const shownPage = page;
    const params = new URLSearchParams({ top: PAGE_SIZE, showInput: "false" });
    if (query.status) params.set("runtimeStatus", query.status);
    if (query.name) params.set("name", query.name);
    if (query.prefix) params.set("instanceIdPrefix", query.prefix);
    if (query.from) params.set("createdTimeFrom", toUtc(query.from));
    if (query.to) params.set("createdTimeTo", toUtc(query.to));
    const headers = tokens[shownPage] ? { "x-ms-continuation-token": tokens[shownPage] } : {};
    const response = await api("GET", `${BASE}?${params}`, { headers });
    if (mine !== asked) return;
    if (!response.ok) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error", text: await failure(response) })));
      return;
    }
    const rows = await response.json();
    if (mine !== asked) return;
    tokens[shownPage + 1] = response.headers.get("x-ms-continuation-token");
    body.replaceChildren(...rows.map((item) => el("tr", { "data-instance": item.instanceId },
      el("td", {}, el("a", { href: `#/instance/${encodeURIComponent(item.instanceId)}`, text: item.instanceId })),
      el("td", { text: item.name }),
      el("td", {}, badge(item.runtimeStatus)),
      el("td", { text: when(item.createdTime) }),
      el("td", { text: when(item.lastUpdatedTime) }),
      el("td", { class: "waiting", title: item.waiting || "", text: item.waiting ? "waiting" : "" }))));
    if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No instances match." })));
    prev.disabled = page === 0;
    next.disabled = !tokens[page + 1];
    info.textContent = `page ${page + 1} · ${rows.length} shown`;
  }
  prev.addEventListener("click", () => { page = Math.max(0, page - 1); load(); });
  next.addEventListener("click", () => { if (tokens[page + 1]) { page += 1; load(); } });
  every(2000, () => { if (live.checked && document.visibilityState === "visible") load().catch(() => {}); });
  await load();
}

// -- the instance page -----------------------------------------------------------------
function spans(events, status) {
  const start = events.find((e) => e.EventType === "ExecutionStarted") || events[0];
  const done = events.find((e) => e.EventType === "ExecutionCompleted");
  const t0 = new Date(start ? start.Timestamp : Date.now()).getTime();
  const last = events.length ? new Date(events[events.length - 1].Timestamp).getTime() : t0;
  const tEnd = done ? new Date(done.Timestamp).getTime() : TERMINAL.has(status) ? last : Date.now();
  const rows = [];
  const open = new Map();
  for (const e of events) {
    const at = new Date(e.Timestamp).getTime();
    if (e.EventType === "TaskScheduled") open.set(e.EventId, rows.push({ kind: "activity", label: `activity ${e.Name}`, start: at }) - 1);
    else if (e.EventType === "TimerCreated") open.set(e.EventId, rows.push({ kind: "timer", label: `timer until ${when(e.FireAt)}`, start: at }) - 1);
    else if (e.EventType === "SubOrchestrationInstanceCreated")
      open.set(e.EventId, rows.push({ kind: "sub", label: `sub-orchestration ${e.Name}`, start: at, link: e.InstanceId }) - 1);
    else if (e.EventType === "EventRaised") rows.push({ kind: "event", label: `event ${e.Name}`, start: at, end: at });
    else {
      const ref = e.TaskScheduledId ?? e.TimerId;
      if (ref !== undefined && open.has(ref)) {
        const row = rows[open.get(ref)];
        row.end = at;
        if (e.EventType.endsWith("Failed")) row.kind = row.kind === "sub" ? "sub failed" : "failed";
        open.delete(ref);
      }
    }
  }
  return { t0, tEnd: Math.max(tEnd, t0 + 1), rows };
}

function gantt(events, status) {
  const { t0, tEnd, rows } = spans(events, status);
  const label = 230, width = 940, rowH = 22, top = 22;
  const scale = (t) => label + ((t - t0) / (tEnd - t0)) * (width - label - 12);
  const height = top + rows.length * rowH + 8;
  const chart = svg("svg", { class: "gantt", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "timeline of the instance's activities, timers, events and sub-orchestrations" });
  chart.append(svg("line", { class: "axis", x1: label, x2: width - 12, y1: top - 6, y2: top - 6 }));
  chart.append(svg("text", { x: label, y: 12, text: "0 s" }));
  chart.append(svg("text", { x: width - 12, y: 12, "text-anchor": "end", text: `${((tEnd - t0) / 1000).toFixed(3)} s` }));
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const group = svg("g", { class: "row", "data-kind": row.kind.split(" ")[0] });
    const text = svg("text", { x: 4, y: y + 14, text: row.label.length > 34 ? `${row.label.slice(0, 33)}…` : row.label });
    text.append(svg("title", { text: row.label }));
    group.append(text);
    if (row.kind === "event") {
      group.append(svg("circle", { class: "event", cx: scale(row.start), cy: y + 10, r: 5 }));
    } else {
      const end = row.end ?? tEnd;
      const x = scale(row.start);
      const cls = row.kind.includes("failed") ? "bar-failed" : `bar-${row.kind}`;
      const bar = svg("rect", { class: `${cls}${row.end === undefined ? " bar-open" : ""}`, x, y: y + 3,
        width: Math.max(2, scale(end) - x), height: rowH - 8, rx: 2 });
      bar.append(svg("title", { text: `${row.label}: ${((end - row.start) / 1000).toFixed(3)} s${row.end === undefined ? " (open)" : ""}` }));
      group.append(bar);
    }
    chart.append(group);
  });
  const legend = el("div", { class: "legend" },
    ["activity", "timer", "sub", "event", "failed"].map((k) => el("span", {}, el("i", { class: `l-${k}` }), k === "sub" ? "sub-orchestration" : k)));
  return el("div", { class: "card", id: "timeline" }, el("h2", { text: "Timeline" }),
    rows.length ? chart : el("p", { class: "muted", text: "Nothing scheduled yet." }), legend);
}

function historyTable(events) {
  const rows = events.map((e, i) => {
    const details = { ...e };
    for (const key of ["EventType", "EventId", "Timestamp"]) delete details[key];
    for (const [key, value] of Object.entries(details)) if (value === null || value === -1) delete details[key];
    return el("tr", {}, el("td", { text: i }), el("td", { text: e.EventType }),
      el("td", { text: e.EventId === -1 ? "" : e.EventId }), el("td", { text: when(e.Timestamp) }),
      el("td", {}, Object.keys(details).length ? el("code", { text: JSON.stringify(details) }) : ""));
  });
  return el("div", { class: "card" }, el("h2", { text: `History (${events.length} events)` }),
    el("table", { id: "history" }, el("thead", {}, el("tr", {}, ["#", "Event", "Task", "Time", "Details"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)));
}

async function act(instanceId, what) {
  const path = `${BASE}/${encodeURIComponent(instanceId)}`;
  let response;
  if (what === "raise") {
    const values = await ask({ title: "Raise an event", fields: [
      { name: "event", label: "Event name" },
      { name: "data", label: "Data (JSON)", placeholder: "true", multiline: true }] , ok: "Raise" });
    if (!values || !values.event) return;
    let data;
    try { data = values.data.trim() ? JSON.parse(values.data) : null; }
    catch (err) { return notice(`The data is not JSON: ${err.message}`, true); }
    response = await api("POST", `${path}/raiseEvent/${encodeURIComponent(values.event)}`, { body: data });
  } else if (what === "purge") {
    if (!await ask({ title: "Purge this instance?", text: `${instanceId} and its history will be deleted for good.`, ok: "Purge", danger: true })) return;
    response = await api("DELETE", path);
    if (response.ok) { location.hash = "#/"; return; }
  } else {
    const danger = what === "terminate";
    const values = await ask({ title: `${what[0].toUpperCase()}${what.slice(1)} this instance?`,
      text: danger ? `${instanceId} will stop for good.` : instanceId,
      fields: [{ name: "reason", label: "Reason (optional)" }], ok: what[0].toUpperCase() + what.slice(1), danger });
    if (!values) return;
    const reason = values.reason ? `?reason=${encodeURIComponent(values.reason)}` : "";
    response = await api("POST", `${path}/${what}${reason}`);
  }
  if (response.ok) notice(`${what}: done`, false);
  else notice(`${what} refused: ${await failure(response)}`, true);
  await renderInstance(instanceId);
}

function notice(text, bad) {
  const holder = document.getElementById("notice");
  if (holder) holder.replaceChildren(el("div", { class: `notice${bad ? " error" : ""}`, text }));
}

async function renderInstance(instanceId) {
  shownInstance.id = instanceId;
  const response = await api("GET", `${BASE}/${encodeURIComponent(instanceId)}?showHistory=true&showHistoryOutput=true`);
  const target = document.getElementById("instance");
  if (!target || shownInstance.id !== instanceId) return null;  // the page moved on meanwhile
  if (response.status === 404) {
    target.replaceChildren(el("p", { class: "error", text: `No instance ${instanceId}.` }));
    return null;
  }
  if (!response.ok) {
    target.replaceChildren(el("p", { class: "error", text: await failure(response) }));
    return null;
  }
  const data = await response.json();
  if (shownInstance.id !== instanceId) return null;
  const events = data.historyEvents || [];
  const status = data.runtimeStatus;
  shownInstance.status = status;
  const finished = TERMINAL.has(status);
  const button = (what, label, enabled, cls) =>
    el("button", { class: cls ?? "quiet", "data-action": what, text: label, disabled: !enabled, onclick: () => act(instanceId, what) });
  const fields = el("dl", { class: "fields" },
    el("dt", { text: "Instance" }), el("dd", { id: "instance-id", text: data.instanceId }),
    el("dt", { text: "Name" }), el("dd", { text: data.name }),
    el("dt", { text: "Status" }), el("dd", { id: "status" }, badge(status)),
    data.waiting ? [el("dt", { text: "Waiting" }), el("dd", { class: "waiting", text: data.waiting })] : [],
    data.version ? [el("dt", { text: "Version" }), el("dd", { text: data.version })] : [],
    data.parentInstanceId ? [el("dt", { text: "Parent" }), el("dd", {}, el("a", { href: `#/instance/${encodeURIComponent(data.parentInstanceId)}`, text: data.parentInstanceId }))] : [],
    el("dt", { text: "Created" }), el("dd", { text: when(data.createdTime) }),
    el("dt", { text: "Updated" }), el("dd", { text: when(data.lastUpdatedTime) }));
  const subs = events.filter((e) => e.EventType === "SubOrchestrationInstanceCreated");
  const parts = [
    el("div", { class: "card" }, el("h2", { text: "Status" }), fields,
      el("div", { class: "actions" },
        button("raise", "Raise event", !finished, ""), button("suspend", "Suspend", status === "Running" || status === "Pending"),
        button("resume", "Resume", status === "Suspended"), button("rewind", "Rewind", status === "Failed"),
        button("terminate", "Terminate", !finished, "danger"), button("purge", "Purge", finished, "danger"))),
    el("div", { class: "card" }, el("h2", { text: "Input" }), el("pre", { id: "input", text: shown(data.input) })),
    status === "Failed"
      ? el("div", { class: "card" }, el("h2", { text: "Error" }), el("pre", { id: "error", class: "error", text: shown(data.output) }))
      : el("div", { class: "card" }, el("h2", { text: "Output" }), el("pre", { id: "output", text: shown(data.output) })),
    el("div", { class: "card" }, el("h2", { text: "Custom status" }), el("pre", { id: "custom-status", text: shown(data.customStatus) })),
  ];
  if (subs.length) parts.push(el("div", { class: "card" }, el("h2", { text: "Sub-orchestrations" }),
    el("ul", {}, subs.map((e) => el("li", {}, el("a", { href: `#/instance/${encodeURIComponent(e.InstanceId)}`, text: e.InstanceId }), ` (${e.Name})`)))));
  parts.push(gantt(events, status), historyTable(events));
  target.replaceChildren(...parts);
  return status;
}

async function showInstance(instanceId) {
  document.getElementById("main").replaceChildren(
    el("p", {}, el("a", { href: "#/", text: "‹ All instances" })),
    el("div", { id: "notice" }),
    el("div", { id: "instance" }, el("p", { class: "muted", text: "Loading…" })));
  await renderInstance(instanceId);
  every(2000, async () => {
    const status = shownInstance.status;
    if (status && !TERMINAL.has(status) && document.visibilityState === "visible" && !document.getElementById("dialog").open)
      await renderInstance(instanceId).catch(() => {});
  });
}

// -- routing ---------------------------------------------------------------------------
async function route() {
  stopTimers();
  const match = location.hash.match(/^#\/instance\/(.+)$/);
  const entity = location.hash.match(/^#\/entity\/([^/]+)\/(.+)$/);
  shownInstance.id = null;
  shownInstance.status = null;
  try {
    if (match) await showInstance(decodeURIComponent(match[1]));
    else if (entity) await showEntity(decodeURIComponent(entity[1]), decodeURIComponent(entity[2]));
    else if (location.hash.startsWith("#/entities")) await showEntities();
    else await showList();
  } catch (err) {
    if (err.message !== "unauthorized") notice(`Could not load: ${err.message}`, true);
  }
}

function start() {
  if (document.body.dataset.signedIn === "no") return showSignIn("");
  const out = document.getElementById("sign-out");
  if (token()) {
    out.hidden = false;
    out.addEventListener("click", async () => {
      sessionStorage.removeItem(TOKEN_KEY);
      await fetch("/dashboard/logout", { method: "POST", credentials: "same-origin" });
      location.reload();
    });
  }
  window.addEventListener("hashchange", route);
  loadSummary().catch(() => {});
  summaryTimer = setInterval(() => { if (document.visibilityState === "visible") loadSummary().catch(() => {}); }, 5000);
  route();
}

document.addEventListener("DOMContentLoaded", start);

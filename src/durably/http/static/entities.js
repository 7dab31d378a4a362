// The dashboard's entity pages (durable entities): the list, and one entity with its
// state, lock, waiting operations and last batch. It uses app.js's helpers; every value
// from the store goes into the page as text.
"use strict";

const ENTITY_ROUTES = "/runtime/webhooks/durabletask/entities";

function entityHref(name, key) {
  return `#/entity/${encodeURIComponent(name)}/${encodeURIComponent(key)}`;
}

function lockHolder(instanceId) {
  return instanceId ? el("a", { href: `#/instance/${encodeURIComponent(instanceId)}`, text: instanceId }) : "—";
}

async function showEntities() {
  const params = new URLSearchParams(location.hash.replace(/^#\/entities\??/, ""));
  const name = el("input", { name: "name", placeholder: "entity name", value: params.get("name") || "" });
  const form = el("form", { class: "filters", id: "entity-filters" },
    el("label", {}, "Name", name), el("button", { type: "submit", text: "Filter" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = name.value ? `#/entities?name=${encodeURIComponent(name.value)}` : "#/entities";
  });
  const body = el("tbody", { id: "entities" });
  const table = el("table", {},
    el("thead", {}, el("tr", {}, ["Entity", "Key", "State", "Last operation", "Locked by", "Waiting"].map((h) => el("th", { text: h })))),
    body);
  document.getElementById("main").replaceChildren(form, table);
  async function load() {
    const query = new URLSearchParams();
    if (params.get("name")) query.set("name", params.get("name"));
    const response = await api("GET", `/dashboard/api/entities?${query}`);
    if (!response.ok) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error", text: await failure(response) })));
      return;
    }
    const data = await response.json();
    body.replaceChildren(...data.entities.map((e) => el("tr", { "data-entity": `${e.name}/${e.key}` },
      el("td", {}, el("a", { href: entityHref(e.name, e.key), text: e.name })),
      el("td", { text: e.key }),
      el("td", { class: "state", text: e.exists ? JSON.stringify(e.state).slice(0, 80) : "(deleted)" }),
      el("td", { text: when(e.lastOperationTime) }),
      el("td", {}, lockHolder(e.lockedBy)),
      el("td", { text: e.waitingOperations || "" }))));
    if (!data.entities.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No entities." })));
  }
  every(2000, () => { if (document.visibilityState === "visible") load().catch(() => {}); });
  await load();
}

async function renderEntity(name, key) {
  const target = document.getElementById("entity");
  const response = await api("GET", `/dashboard/api/entities/${encodeURIComponent(name)}/${encodeURIComponent(key)}`);
  if (!target) return;
  if (!response.ok) {
    target.replaceChildren(el("p", { class: "error", text: await failure(response) }));
    return;
  }
  const e = await response.json();
  const signal = el("button", { id: "signal", text: "Signal an operation", onclick: () => signalEntity(name, key) });
  const fields = el("dl", { class: "fields" },
    el("dt", { text: "Entity" }), el("dd", { id: "entity-id", text: `@${e.name}@${e.key}` }),
    el("dt", { text: "Exists" }), el("dd", { text: e.exists ? "yes" : "no (no state)" }),
    el("dt", { text: "Last operation" }), el("dd", { text: when(e.lastOperationTime) }),
    el("dt", { text: "Locked by" }), el("dd", { id: "locked-by" }, lockHolder(e.lockedBy)));
  const waiting = e.waiting.length
    ? el("ol", { id: "waiting" }, e.waiting.map((w) => el("li", { text: w.from ? `${w.operation} from ${w.from}` : w.operation })))
    : el("p", { class: "muted", id: "waiting", text: "Nothing waits." });
  target.replaceChildren(
    el("div", { class: "card" }, el("h2", { text: "Entity" }), fields, el("div", { class: "actions" }, signal)),
    el("div", { class: "card" }, el("h2", { text: "State" }), el("pre", { id: "state", text: e.exists ? shown(e.state) : "—" })),
    el("div", { class: "card" }, el("h2", { text: "Operations waiting for the lock" }), waiting),
    el("div", { class: "card" }, el("h2", { text: "Last batch" }), historyTable(e.history)));
}

async function signalEntity(name, key) {
  const answer = await ask({
    title: "Signal an operation",
    text: `to @${name}@${key}`,
    fields: [{ name: "operation", label: "Operation" }, { name: "input", label: "Input (JSON)", placeholder: "null" }],
    ok: "Signal",
  });
  if (!answer) return;
  let input;
  try {
    input = answer.input ? JSON.parse(answer.input) : null;
  } catch {
    notice("The input must be JSON.", true);
    return;
  }
  const path = `${ENTITY_ROUTES}/${encodeURIComponent(name)}/${encodeURIComponent(key)}?op=${encodeURIComponent(answer.operation)}`;
  const response = await api("POST", path, { body: input });
  if (response.ok) notice(`${answer.operation}: sent`, false);
  else notice(`${answer.operation} refused: ${await failure(response)}`, true);
}

async function showEntity(name, key) {
  document.getElementById("main").replaceChildren(
    el("p", {}, el("a", { href: "#/entities", text: "‹ All entities" })),
    el("div", { id: "notice" }),
    el("div", { id: "entity" }, el("p", { class: "muted", text: "Loading…" })));
  await renderEntity(name, key);
  every(2000, async () => {
    if (document.visibilityState === "visible" && !document.getElementById("dialog").open)
      await renderEntity(name, key).catch(() => {});
  });
}

// The StreamGate console: renders the snapshots the server streams (server-sent events, polling as a
// fallback). Every value goes into the page as text (textContent), never as markup.
"use strict";

const PHASES = { "succeeded": "done", "rolled-back": "bad", "aborted": "bad", "failed": "bad",
                 "rolling-back": "bad", "paused": "wait", "awaiting-promotion": "wait" };
let snapshot = null;
let session = null;   // {csrf, operator, expires_at} after an MFA step-up
let pending = null;   // {region, action} waiting for the step-up dialog

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function time(seconds) { return new Date(seconds * 1000).toLocaleTimeString(); }

function checkValue(name, value) {
  if (value === null || value === undefined) return "no data";
  if (name === "latency-p99") return `${Math.round(value * 1000)}ms`;
  if (name === "success-rate") return `${(value * 100).toFixed(2)}%`;
  return Number(value).toPrecision(3);
}

// Consecutive records alike (a hold at every tick) as one line with a count, newest first.
function collapsed(records) {
  const out = [];
  for (const r of records.slice().reverse()) {
    const last = out[out.length - 1];
    if (last && last.event === r.event && last.weight === r.weight && last.reason === r.reason) last.count += 1;
    else out.push({ ...r, count: 1 });
  }
  return out;
}

function weightsText(weights) {
  if (typeof weights === "string") return weights;
  return Object.entries(weights).map(([k, v]) => `${k} ${v}%`).join(" · ");
}

function bar(weights, cls, region) {
  const node = el("div", { class: "bar", "data-region": region });
  if (typeof weights !== "object" || weights === null) return node;
  for (const [name, value] of Object.entries(weights)) {
    const seg = el("span", { class: `seg ${cls ? cls : "color-" + name}`, "data-weight": value, title: `${name} ${value}%` });
    seg.style.width = `${value}%`;  // CSSOM, which the page's CSP allows
    node.append(seg);
  }
  return node;
}

function renderRegions(regions) {
  const body = document.querySelector("#regions tbody");
  body.replaceChildren(...regions.map((r) => {
    const health = r.health || {};
    const rollout = r.rollout && r.rollout.rollout;
    const live = r.rollout ? r.rollout.live_weights : "unknown";
    const traffic = r.traffic === null || r.traffic === undefined ? null : { [r.name]: r.traffic };
    return el("tr", { "data-region": r.name, class: "region" },
      el("td", {}, r.name),
      el("td", {}, r.primary ? "primary" : "replica"),
      el("td", { class: health.healthy ? "ok" : (health.healthy === false ? "bad" : "quiet") },
         health.healthy ? "healthy" : (health.healthy === false ? "DOWN" : "unknown"),
         health.detail ? el("span", { class: "legend" }, health.detail) : ""),
      el("td", { class: "traffic" }, traffic ? bar(traffic, "traffic", r.name) : "", 
         el("span", { class: "legend" }, r.traffic === null || r.traffic === undefined ? (r.traffic_error || "unknown") : `${r.traffic}%`)),
      el("td", { class: "weights" }, bar(live, null, r.name), el("span", { class: "legend" }, weightsText(live))),
      el("td", {}, rollout ? el("span", { class: `phase ${PHASES[rollout.phase] || ""}` }, `${rollout.kind} ${rollout.version}: ${rollout.phase}`) : el("span", { class: "quiet" }, "none")));
  }));
}

// A region's buttons are made once and moved into each new card: a redraw between pressing and releasing a
// button must not swallow the click.
const actionButtons = new Map();
function actionsOf(region) {
  if (!actionButtons.has(region)) {
    const actions = el("div", { class: "actions" });
    for (const action of ["pause", "resume", "promote", "abort"]) {
      const button = el("button", { type: "button", "data-action": action, "data-region": region }, action);
      button.addEventListener("click", () => ask(region, action));
      actions.append(button);
    }
    actionButtons.set(region, actions);
  }
  return actionButtons.get(region);
}

// Sections are redrawn only when their data changed (a snapshot arrives every refresh).
const drawn = new Map();
function changed(section, value) {
  const text = JSON.stringify(value);
  if (drawn.get(section) === text) return false;
  drawn.set(section, text);
  return true;
}

function renderRollouts(regions) {
  const section = document.getElementById("rollouts");
  const cards = [];
  for (const r of regions) {
    const status = r.rollout;
    const rollout = status && status.rollout;
    if (!rollout) continue;
    const steps = el("div", { class: "steps" }, ...rollout.steps.map((s, i) =>
      el("span", { class: i < rollout.step_index ? "done" : (i === rollout.step_index ? "current" : "todo") },
         `${s}%${i < rollout.step_index ? " ✓" : ""}`)));
    const checks = el("table", { class: "checks" }, el("tr", {}, el("th", {}, "check"), el("th", {}, "value"), el("th", {}, "outcome")));
    for (const c of (rollout.last_analysis ? rollout.last_analysis.checks : [])) {
      checks.append(el("tr", {}, el("td", {}, c.name), el("td", {}, checkValue(c.name, c.value)),
                       el("td", { class: c.outcome === "pass" ? "ok" : "bad" }, c.outcome)));
    }
    const events = el("table", { class: "events" });
    for (const e of collapsed(rollout.recent)) {
      events.append(el("tr", { "data-event": e.event }, el("td", {}, time(e.at)), el("td", {}, e.count > 1 ? `${e.event} ×${e.count}` : e.event),
                       el("td", {}, `${e.weight}%`), el("td", {}, e.reason)));
    }
    const card = el("div", { class: "rollout", "data-region": r.name },
      el("h3", {}, `${rollout.kind} ${rollout.version} in ${r.name} `, el("span", { class: `phase ${PHASES[rollout.phase] || ""}` }, rollout.phase)),
      el("p", {}, rollout.reason),
      steps,
      el("p", {}, "weights: ", bar(rollout.weights, null, r.name), el("span", { class: "legend" }, weightsText(rollout.weights)),
         el("span", { class: "legend" }, ` · failed checks ${rollout.failed_checks}/${rollout.failure_threshold} · controller: ${status.controller || "none running"}`)),
      el("h4", {}, "last analysis"), checks,
      el("h4", {}, "recent"), events);
    if (snapshot.actions && rollout.active) card.append(actionsOf(r.name));
    cards.push(card);
  }
  section.replaceChildren(...(cards.length ? [el("h2", {}, "Rollouts"), ...cards] : []));
  section.hidden = cards.length === 0;
}

function renderAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren(...alerts.firing.map((a) =>
    el("tr", { class: `alert severity-${a.severity}`, "data-alert": a.name },
       el("td", {}, a.name), el("td", {}, a.severity), el("td", {}, a.region || "all"),
       el("td", {}, a.starts_at ? new Date(a.starts_at).toLocaleTimeString() : ""), el("td", {}, a.summary))));
  const empty = document.getElementById("alerts-empty");
  empty.hidden = alerts.firing.length > 0 && alerts.errors.length === 0;
  empty.textContent = alerts.errors.length ? `Alertmanager unavailable: ${alerts.errors.join("; ")}` : "none";
}

function renderFailover(doc) {
  const node = document.getElementById("failover");
  if (!doc) { node.replaceChildren("none recorded"); node.className = "quiet"; return; }
  node.className = "";
  const steps = el("table", {}, ...doc.steps.map((s) =>
    el("tr", {}, el("td", {}, s.id), el("td", { class: s.status === "done" ? "ok" : "bad" }, s.status),
       el("td", {}, `${Math.round((s.finished_at - s.started_at) * 1000)} ms`), el("td", {}, s.detail))));
  node.replaceChildren(el("p", {}, `${doc.id}: ${doc.source} → ${doc.target} (${doc.mode}) `,
    el("span", { class: `phase ${doc.outcome === "succeeded" ? "done" : (doc.outcome === "failed" ? "bad" : "wait")}` }, doc.outcome)), steps);
}

function renderHistory(history) {
  const body = document.querySelector("#history tbody");
  body.replaceChildren(...history.map((h) =>
    el("tr", { "data-command": h.command },
       el("td", {}, new Date(h.started_at * 1000).toLocaleString()),
       el("td", {}, h.command + (h.via !== "cli" ? ` (${h.via})` : "")),
       el("td", { class: "actor" }, h.actor),
       el("td", { class: h.outcome === "ok" ? "ok" : (h.outcome === "running" ? "" : "bad") }, h.outcome),
       el("td", {}, h.reason))));
}

function render(data) {
  snapshot = data;
  document.getElementById("stack").textContent = `${data.stack} (${data.environment})`;
  const mode = document.getElementById("mode");
  mode.textContent = data.actions ? (session ? `actions: ${session.operator}` : "actions after MFA step-up") : "read-only";
  mode.className = data.actions ? "mode actions" : "mode";
  const updated = document.getElementById("updated");
  updated.textContent = `updated ${time(data.at)}`;
  updated.className = "updated";
  updated.dataset.at = data.at;
  if (changed("regions", data.regions)) renderRegions(data.regions);
  if (changed("rollouts", [data.regions, data.actions])) renderRollouts(data.regions);
  if (changed("alerts", data.alerts)) renderAlerts(data.alerts);
  if (changed("failover", data.failover)) renderFailover(data.failover);
  if (changed("history", data.history)) renderHistory(data.history);
  document.getElementById("errors").textContent = data.errors.join("; ");
}

function toast(text) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.hidden = false;
  setTimeout(() => { node.hidden = true; }, 5000);
}

function ask(region, action) {
  pending = { region, action };
  if (session && session.expires_at * 1000 > Date.now()) {
    const reason = window.prompt(`${action} the rollout in ${region}: reason?`, "") ;
    if (reason !== null) act(reason);
    return;
  }
  document.getElementById("step-up-action").textContent = `${action} in ${region}`;
  document.getElementById("step-up-error").textContent = "";
  document.getElementById("step-up").showModal();
}

async function act(reason) {
  const answer = await fetch("/api/actions", {
    method: "POST", headers: { "Content-Type": "application/json", "X-Console-CSRF": session.csrf },
    body: JSON.stringify({ ...pending, reason }) });
  const body = await answer.json();
  if (answer.status === 401) session = null;
  toast(answer.ok ? body.message : `refused: ${body.error}`);
  document.body.dataset.lastAction = answer.ok ? "ok" : "refused";
}

async function stepUp(event) {
  event.preventDefault();
  const answer = await fetch("/api/step-up", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: document.getElementById("step-up-token").value,
                           code: document.getElementById("step-up-code").value }) });
  const body = await answer.json();
  document.getElementById("step-up-code").value = "";
  if (!answer.ok) {
    document.getElementById("step-up-error").textContent = body.error;
    document.body.dataset.lastAction = "refused";
    return;
  }
  session = body;
  document.getElementById("step-up-token").value = "";
  document.getElementById("step-up").close();
  await act(document.getElementById("step-up-reason").value);
}

function follow() {
  const source = new EventSource("/api/events");
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.onerror = () => {
    document.getElementById("updated").className = "updated stale";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("step-up-form").addEventListener("submit", stepUp);
  document.getElementById("step-up-cancel").addEventListener("click", () => document.getElementById("step-up").close());
  fetch("/api/snapshot").then((r) => r.json()).then(render).catch(() => {});
  follow();
});

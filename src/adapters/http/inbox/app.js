// The inbox page. Every string that came from a message is put into the page with textContent,
// never as HTML: messages are written by strangers.
"use strict";

const state = { token: sessionStorage.getItem("inbox-token") || "", messages: new Map(), current: null, stream: null };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) throw Object.assign(new Error("unauthorized"), { unauthorized: true });
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function query() {
  const params = new URLSearchParams({ limit: "100" });
  for (const name of ["q", "source", "type", "since"]) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  if (!params.has("since") && !params.has("q")) {
    params.set("since", new Date(Date.now() - 3600 * 1000).toISOString());
  }
  return params;
}

const sender = (m) => m.from || m.user_id || "unknown";

// What a person would see of a message, by kind.
function describe(m) {
  if (m.reaction) return m.reaction.emoji ? "reacted " + m.reaction.emoji : "removed a reaction";
  if (m.location) return "📍 " + (m.location.name || m.location.address || m.location.latitude + ", " + m.location.longitude);
  if (m.choice) return "chose “" + (m.choice.title || m.choice.id || "") + "”";
  if (m.media && m.media.length) return "[" + m.type + (m.media[0].mime_type ? " " + m.media[0].mime_type : "") + "] " + (m.text || "");
  if (m.text !== null && m.text !== undefined) return m.text;
  return "(" + m.type + ", no text)";
}

function renderConversations() {
  const threads = new Map();
  for (const m of state.messages.values()) {
    const key = sender(m);
    const t = threads.get(key) || { key, name: m.profile_name, last: m, count: 0 };
    t.count += 1;
    if (m.ts > t.last.ts) t.last = m;
    if (m.profile_name) t.name = m.profile_name;
    threads.set(key, t);
  }
  const list = $("conversations");
  list.replaceChildren();
  for (const t of [...threads.values()].sort((a, b) => (a.last.ts < b.last.ts ? 1 : -1))) {
    const item = el("li", t.key === state.current ? "current" : "");
    item.append(el("div", "who", t.name ? t.name + " · " + t.key : t.key));
    item.append(el("div", "meta", t.count + " · " + describe(t.last)));
    item.addEventListener("click", () => { state.current = t.key; render(); });
    list.append(item);
  }
}

function renderMessages() {
  const shown = [...state.messages.values()]
    .filter((m) => state.current === null || sender(m) === state.current)
    .sort((a, b) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0));
  $("thread-title").textContent = state.current === null ? "Messages" : "Messages from " + state.current;
  const list = $("messages");
  list.replaceChildren();
  for (const m of shown) {
    const item = el("li");
    item.dataset.id = m.message_id;
    const head = el("div", "meta");
    head.append(el("span", "kind", m.source + " · " + m.type), document.createTextNode(sender(m) + " → " + m.to + " · " + m.ts));
    item.append(head, el("div", "text", describe(m)));
    if (m.reply_to) item.append(el("div", "meta", "in reply to " + m.reply_to));
    list.append(item);
  }
}

function renderChart() {
  const now = Date.now();
  const buckets = new Array(60).fill(0);
  for (const m of state.messages.values()) {
    const minutesAgo = Math.floor((now - Date.parse(m.received_at)) / 60000);
    if (minutesAgo >= 0 && minutesAgo < 60) buckets[59 - minutesAgo] += 1;
  }
  const most = Math.max(1, ...buckets);
  const chart = $("chart");
  chart.replaceChildren();
  buckets.forEach((n, i) => {
    const bar = el("div", "bar");
    bar.style.height = Math.round((n / most) * 100) + "%";
    bar.title = (59 - i) + " min ago: " + n;
    chart.append(bar);
  });
}

function render() { renderConversations(); renderMessages(); renderChart(); }

async function loadStatuses() {
  const page = await api("/statuses?limit=50");
  const list = $("statuses");
  list.replaceChildren();
  for (const s of page.data.slice().reverse()) {
    const item = el("li", "status-" + s.status);
    item.append(el("span", "kind", s.status), document.createTextNode((s.recipient || "") + " · " + s.ts));
    if (s.errors.length) item.append(el("div", "meta", s.errors.map((e) => e.code + " " + (e.title || "")).join("; ")));
    list.append(item);
  }
}

async function load() {
  state.messages.clear();
  let params = query();
  for (let pages = 0; pages < 10; pages += 1) {
    const page = await api("/messages?" + params);
    for (const m of page.data) state.messages.set(m.message_id, m);
    if (!page.next_cursor) break;
    params = query();
    params.set("cursor", page.next_cursor);
  }
  render();
  await loadStatuses();
}

// Server-sent events read with fetch, so that the bearer token can go in a header.
async function follow() {
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  const headers = { Accept: "text/event-stream" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let lastId = null;
  while (!controller.signal.aborted) {
    try {
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch("/messages/stream", { headers, signal: controller.signal });
      if (!response.ok) throw new Error("stream answered " + response.status);
      $("live").className = "live on";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          const id = block.split("\n").find((l) => l.startsWith("id:"));
          if (id) lastId = id.slice(3).trim();
          if (data) arrived(JSON.parse(data));
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    $("live").className = "live off";
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function arrived(m) {
  const filters = query();
  if (filters.get("source") && m.source !== filters.get("source")) return;
  if (filters.get("type") && m.type !== filters.get("type")) return;
  if (filters.get("q") && !(m.text || "").toLowerCase().includes(filters.get("q").toLowerCase())) return;
  state.messages.set(m.message_id, m);
  render();
}

async function start() {
  if (state.required === undefined) {
    const config = await (await fetch("/inbox/config.json")).json();
    state.required = config.token_required;
  }
  if (state.required && !state.token) {
    $("app").hidden = true;
    $("login").hidden = false;
    return;
  }
  try {
    await load();
    $("login").hidden = true;
    $("app").hidden = false;
    follow();
  } catch (error) {
    if (error.unauthorized) {
      $("app").hidden = true;
      $("login").hidden = false;
      $("token-error").hidden = !state.token;
    } else {
      $("error").textContent = error.message;
      $("error").hidden = false;
      $("app").hidden = false;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); state.current = null; start(); });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("inbox-token", state.token);
    start();
  });
  setInterval(renderChart, 30000);
  start();
});

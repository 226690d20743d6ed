/**
 * The gateway's live page (`GET /dashboard`): one self-contained HTML document (inline CSS and
 * script, nothing fetched from elsewhere) that polls `/dashboard/data` every second and updates
 * in place: a card per host with its instances (component, id, rate with a bar and a sparkline,
 * in-flight, latency, errors), the work queues' depths and the recent errors. When the gateway
 * stops answering, the page says "disconnected" and keeps the last numbers greyed out.
 *
 * With API keys set, open the page as `/dashboard?key=<key>`: the script sends the key as
 * `Authorization: Bearer <key>` to `/dashboard/data`.
 *
 * Elements carry data attributes for tests and scripts: `data-host`, `data-instance` (with
 * `data-component`, `data-rate` in req/s, `data-inflight`), `data-queue` (with `data-depth`),
 * `data-error` (the instance id, on each recent error) and
 * `data-connection` (`connecting`, `live`, `disconnected`, `unauthorized`) on `<body>`.
 *
 * @module
 */

/** How often the page asks for a new snapshot. */
export const DASHBOARD_POLL_MS = 1000;

const _STYLE = `
:root{--bg:#f4f6fa;--card:#fff;--ink:#1d2433;--muted:#6b7487;--line:#e3e7ef;--accent:#2f6fed;
--ok:#1f9d55;--warn:#d97706;--bad:#d64545;font:14px/1.4 system-ui,-apple-system,"Segoe UI",
Roboto,"DejaVu Sans",sans-serif}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink)}
header{display:flex;align-items:center;gap:16px;padding:14px 24px;background:#151b2c;color:#fff}
header h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.2px}
header .ns{font-family:ui-monospace,"DejaVu Sans Mono",monospace;background:#26304a;
padding:3px 10px;border-radius:6px}
header .spacer{flex:1}header .time{color:#aab3c7;font-variant-numeric:tabular-nums}
.pill{padding:3px 10px;border-radius:999px;font-weight:600;font-size:12px;text-transform:uppercase;
letter-spacing:.5px;background:#3a4460}
body[data-connection=live] .pill{background:var(--ok)}
body[data-connection=disconnected] .pill,
body[data-connection=unauthorized] .pill{background:var(--bad)}
#banner{display:none;padding:10px 24px;background:#fde8e8;color:#8a1c1c;font-weight:600;
border-bottom:1px solid #f5c2c2}
body[data-connection=disconnected] #banner,body[data-connection=unauthorized] #banner{display:block}
body[data-connection=disconnected] main{opacity:.45;filter:grayscale(.8)}
main{padding:20px 24px;display:flex;flex-direction:column;gap:20px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.8px;color:var(--muted);margin:0 0 10px}
#components{display:flex;flex-wrap:wrap;gap:10px}
.chip{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 14px;
min-width:150px}
.chip b{display:block;font-size:13px}.chip span{color:var(--muted);font-size:12px}
.chip .big{font-size:20px;font-weight:600;color:var(--ink);font-variant-numeric:tabular-nums}
#hosts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden;
box-shadow:0 1px 2px rgba(20,30,60,.05)}
.card h3{margin:0;padding:10px 14px;font-size:14px;border-bottom:1px solid var(--line);
display:flex;justify-content:space-between;background:#fafbfd}
.card h3 small{color:var(--muted);font-weight:400}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th{text-align:left;font-weight:500;color:var(--muted);font-size:12px;padding:6px 10px}
td{padding:6px 10px;border-top:1px solid var(--line);white-space:nowrap}
td.num,th.num{text-align:right}
.comp{display:inline-block;padding:1px 8px;border-radius:6px;font-size:12px;font-weight:600;
background:#e8efff;color:#244aa5}
.id{font-family:ui-monospace,"DejaVu Sans Mono",monospace;color:var(--muted);font-size:12px}
.rate{display:flex;align-items:center;gap:8px}.rate .v{min-width:58px;text-align:right}
.bar{width:90px;height:8px;background:#edf0f6;border-radius:4px;overflow:hidden}
.bar i{display:block;height:100%;width:0;background:var(--accent);border-radius:4px;
transition:width .4s}
svg.spark{width:90px;height:22px;display:block}
svg.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.5;stroke-linejoin:round}
svg.spark polygon{fill:var(--accent);opacity:.12;stroke:none}
.errs.some{color:var(--bad);font-weight:600}.quiet{color:var(--muted)}
.cols{display:grid;grid-template-columns:minmax(260px,1fr) 2fr;gap:16px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px}
.queue{display:flex;align-items:center;gap:10px;padding:4px 0}
.queue .name{flex:1;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
.queue .bar{width:140px}.queue .bar i{background:var(--warn)}
#errors td.msg{white-space:normal;color:var(--bad)}#errors td.count{color:var(--muted)}
#errors.none thead{display:none}
.empty{color:var(--muted);font-style:italic;padding:6px 0}
`;

const _SCRIPT = `
"use strict";
const POLL_MS = ${DASHBOARD_POLL_MS};
const key = new URLSearchParams(location.search).get("key");
const headers = key ? { authorization: "Bearer " + key } : {};
const history = new Map();
const body = document.body;
const $ = (id) => document.getElementById(id);
let lastOk = 0;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function fmt(n, digits) { return n === null || n === undefined ? "\\u2013" : n.toFixed(digits); }
function rateText(r) { return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2); }

function setConnection(state, message) {
  body.dataset.connection = state;
  $("status").textContent = state;
  $("banner").textContent = message || "";
}

function spark(svg, values) {
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? 90 / (values.length - 1) : 0;
  const y = (v) => (21 - (v / max) * 19).toFixed(1);
  const points = values.map((v, i) => (i * step).toFixed(1) + "," + y(v));
  const last = ((values.length - 1) * step).toFixed(1);
  svg.firstChild.setAttribute("points", "0,22 " + points.join(" ") + " " + last + ",22");
  svg.lastChild.setAttribute("points", points.join(" "));
}

function hostCard(hostname) {
  let card = document.querySelector('[data-host="' + CSS.escape(hostname) + '"]');
  if (card) return card;
  card = el("section", "card");
  card.dataset.host = hostname;
  const h = el("h3");
  h.append(el("span", "", hostname), el("small"));
  const table = el("table");
  const head = el("tr");
  const columns = [["Component"], ["Instance"], ["Rate (req/s)"], ["Last 60 s"],
    ["In-flight", "num"], ["Latency", "num"], ["Errors", "num"]];
  for (const [label, cls] of columns) head.append(el("th", cls, label));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  card.append(h, table);
  $("hosts").append(card);
  return card;
}

function instanceRow(tbody, id) {
  let row = tbody.querySelector('[data-instance="' + CSS.escape(id) + '"]');
  if (row) return row;
  row = el("tr");
  row.dataset.instance = id;
  const rate = el("div", "rate");
  const bar = el("div", "bar");
  bar.append(el("i"));
  rate.append(el("span", "v"), bar);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 90 22");
  for (const shape of ["polygon", "polyline"]) {
    svg.append(document.createElementNS("http://www.w3.org/2000/svg", shape));
  }
  const cells = [el("td"), el("td", "id", id.slice(0, 8)), el("td"), el("td"),
    el("td", "num"), el("td", "num"), el("td", "num errs")];
  cells[0].append(el("span", "comp"));
  cells[1].title = id;
  cells[2].append(rate);
  cells[3].append(svg);
  row.append(...cells);
  tbody.append(row);
  return row;
}

function renderHosts(data) {
  const maxRate = Math.max(1e-9, ...data.hosts.flatMap((h) => h.instances.map((i) => i.rate)));
  const liveHosts = new Set(), liveIds = new Set();
  for (const host of data.hosts) {
    liveHosts.add(host.hostname);
    const card = hostCard(host.hostname);
    const n = host.instances.length;
    card.querySelector("h3 small").textContent = n + (n === 1 ? " instance" : " instances");
    const tbody = card.querySelector("tbody");
    for (const i of host.instances) {
      liveIds.add(i.id);
      const row = instanceRow(tbody, i.id);
      row.dataset.component = i.component;
      row.dataset.rate = String(i.rate);
      row.dataset.inflight = String(i.inflight ?? "");
      const c = row.cells;
      c[0].firstChild.textContent = i.component;
      c[2].querySelector(".v").textContent = rateText(i.rate);
      c[2].querySelector(".bar i").style.width = (100 * i.rate / maxRate).toFixed(1) + "%";
      const h = history.get(i.id) || [];
      h.push(i.rate);
      if (h.length > 60) h.shift();
      history.set(i.id, h);
      spark(c[3].firstChild, h);
      c[4].textContent = i.inflight === null ? "\\u2013" : String(i.inflight);
      c[5].textContent = i.latencyMs === null ? "\\u2013" : fmt(i.latencyMs, 1) + " ms";
      c[6].textContent = String(i.errors);
      c[6].classList.toggle("some", i.errors > 0);
      c[6].title = i.lastError || "";
      row.classList.toggle("quiet", !i.reporting);
    }
  }
  for (const row of document.querySelectorAll("[data-instance]")) {
    if (!liveIds.has(row.dataset.instance)) { history.delete(row.dataset.instance); row.remove(); }
  }
  for (const card of document.querySelectorAll("[data-host]")) {
    if (!liveHosts.has(card.dataset.host)) card.remove();
  }
  $("no-hosts").style.display = data.hosts.length ? "none" : "block";
}

function renderComponents(data) {
  const box = $("components");
  box.replaceChildren(...data.components.map((c) => {
    const chip = el("div", "chip");
    chip.dataset.component = c.name;
    chip.append(el("b", "", c.name), el("span", "big", rateText(c.rate)),
      el("span", "", " req/s \\u00b7 " + c.instances + " inst \\u00b7 " + c.inflight +
        " in-flight"));
    return chip;
  }));
}

function renderQueues(data) {
  const box = $("queues");
  if (!data.queues || data.queues.length === 0) {
    box.replaceChildren(el("div", "empty", data.queues ? "No work queues opened" : "Not reported"));
    return;
  }
  const max = Math.max(1, ...data.queues.map((q) => q.depth));
  box.replaceChildren(...data.queues.map((q) => {
    const row = el("div", "queue");
    row.dataset.queue = q.name;
    row.dataset.depth = String(q.depth);
    const bar = el("div", "bar");
    const fill = el("i");
    fill.style.width = (100 * q.depth / max).toFixed(1) + "%";
    bar.append(fill);
    row.append(el("span", "name", q.name), bar, el("b", "", String(q.depth)));
    return row;
  }));
}

function renderErrors(data) {
  const tbody = $("errors").tBodies[0];
  $("no-errors").style.display = data.recentErrors.length ? "none" : "block";
  $("errors").classList.toggle("none", !data.recentErrors.length);
  tbody.replaceChildren(...data.recentErrors.map((e) => {
    const row = el("tr");
    row.dataset.error = e.instance;
    row.append(el("td", "", new Date(e.at).toLocaleTimeString()), el("td", "", e.component),
      el("td", "id", e.instance.slice(0, 8)), el("td", "", e.endpoint), el("td", "msg", e.message),
      el("td", "num count", "\u00d7" + e.count));
    return row;
  }));
}

async function poll() {
  try {
    const res = await fetch("/dashboard/data", { headers, cache: "no-store" });
    if (res.status === 401) {
      setConnection("unauthorized",
        "The gateway wants an API key: open this page as /dashboard?key=<key>");
    } else if (!res.ok) {
      throw new Error("HTTP " + res.status);
    } else {
      const data = await res.json();
      lastOk = Date.now();
      $("ns").textContent = data.namespace;
      $("time").textContent = new Date(data.generatedAt).toLocaleTimeString();
      renderComponents(data);
      renderHosts(data);
      renderQueues(data);
      renderErrors(data);
      setConnection("live");
    }
  } catch (error) {
    const since = lastOk ? " since " + new Date(lastOk).toLocaleTimeString() : "";
    setConnection("disconnected", "Disconnected: the gateway is not answering" + since + " (" +
      (error && error.message || error) + "); retrying every second");
  }
  setTimeout(poll, POLL_MS);
}
poll();
`;

/** The page's HTML. */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Meshwork dashboard</title>
<style>${_STYLE}</style>
</head>
<body data-connection="connecting">
<header>
<h1>Meshwork</h1><span class="ns" id="ns">\u2026</span>
<span class="spacer"></span>
<span class="time" id="time"></span><span class="pill" id="status">connecting</span>
</header>
<div id="banner" role="alert"></div>
<main>
<section><h2>Components</h2><div id="components"></div></section>
<section><h2>Instances by host</h2><div id="hosts"></div>
<div class="empty" id="no-hosts" style="display:none">No live instances</div></section>
<div class="cols">
<section class="panel"><h2>Queue depths</h2><div id="queues"></div></section>
<section class="panel"><h2>Recent errors</h2>
<table id="errors" class="none"><thead><tr><th>Seen</th><th>Component</th><th>Instance</th>
<th>Endpoint</th><th>Message</th><th class="num">Count</th></tr></thead><tbody></tbody></table>
<div class="empty" id="no-errors">No errors seen</div></section>
</div>
</main>
<script>${_SCRIPT}</script>
</body>
</html>
`;

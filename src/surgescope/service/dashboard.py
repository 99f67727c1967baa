"""The dashboard: one self-contained HTML page (inline CSS and JS, nothing fetched from
elsewhere) that polls ``/v1/status`` every two seconds.

Every string that came from input (service names, regions, vectors, alert messages) is put
on the page with ``textContent`` or ``createTextNode``, never parsed as HTML, so a service
named ``<img src=x onerror=alert(1)>`` is shown as that text. Charts are SVG elements built
with ``createElementNS`` from numbers.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>surgescope live</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: bold; padding: .1em .5em; border-radius: .3em; }
.bad { background: #c62828; color: #fff; } .ok { background: #2e7d32; color: #fff; }
.muted { color: #777; } #conn { float: right; }
ul { margin: .2em 0; padding-left: 1.2em; } svg { display: block; }
</style>
</head>
<body>
<span id="conn" class="muted">connecting...</span>
<h1>surgescope live</h1>
<div id="headline" class="muted">waiting for data</div>
<h2>Services (crowd reports)</h2>
<table id="services"><thead><tr>
<th>service</th><th>state</th><th>reports/min</th><th>baseline</th><th>score</th>
<th>last 4 h</th><th>waves</th><th>top regions</th></tr></thead><tbody></tbody></table>
<h2>Traffic</h2>
<table id="traffic"><thead><tr>
<th>table</th><th>state</th><th>records</th><th>rejected</th><th>records/s</th><th>peak/s (5 min)</th>
<th>bytes/s</th><th>latest</th></tr></thead><tbody></tbody></table>
<h2>Attack</h2>
<div id="attack" class="muted">none</div>
<h2>Alerts</h2>
<ul id="alerts"></ul>
<script>
"use strict";
const SVG = "http://www.w3.org/2000/svg";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function num(v, digits) {
  if (v === null || v === undefined) return "-";
  return Number(v).toLocaleString("en-US", {maximumFractionDigits: digits || 0});
}
function cell(row, text, cls) { const td = el("td", text, cls); row.appendChild(td); return td; }

// A small chart: the value (blue) and, dashed grey, the baseline the detector expected.
function spark(points, key, baseKey) {
  const w = 240, h = 40, svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h);
  if (!points || points.length < 2) return svg;
  const vals = points.map(p => Number(p[key]) || 0), max = Math.max(1, ...vals);
  const line = (ys, colour, dash, cls) => {
    const d = ys.map((v, i) =>
      (i ? "L" : "M") + (i * (w - 2) / (ys.length - 1) + 1).toFixed(1) + "," +
      (h - 2 - Math.min(v, max) * (h - 4) / max).toFixed(1)).join(" ");
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("d", d); p.setAttribute("fill", "none"); p.setAttribute("class", cls);
    p.setAttribute("stroke", colour); p.setAttribute("stroke-width", "1.5");
    if (dash) p.setAttribute("stroke-dasharray", "3,2");
    svg.appendChild(p);
  };
  if (baseKey) line(points.map(p => Number(p[baseKey]) || 0), "#999", true, "baseline");
  line(vals, "#1565c0", false, "value");
  return svg;
}

function renderServices(services) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren();
  for (const s of services) {
    const tr = el("tr");
    tr.dataset.service = s.service;
    cell(tr, s.service, "service");
    const st = cell(tr, "");
    st.appendChild(el("span", s.outage ? "OUTAGE" : "normal", "state " + (s.outage ? "bad" : "ok")));
    cell(tr, num(s.rate_per_min), "num"); cell(tr, num(s.baseline_per_min, 1), "num");
    cell(tr, num(s.score, 2), "num");
    cell(tr, "").appendChild(spark(s.series, "value", "expected"));
    const wv = cell(tr, ""), ul = el("ul");
    for (const w of s.waves.slice(-6)) {
      ul.appendChild(el("li", w.start + " peak " + num(w.peak) + " at " + w.peak_at +
                              (w.ongoing ? " (ongoing)" : " until " + w.end)));
    }
    wv.appendChild(ul);
    cell(tr, s.by_region.slice(0, 3).map(r => r.region + " " + num(r.reports)).join(", "));
    body.appendChild(tr);
  }
}

function renderTraffic(traffic) {
  const body = document.querySelector("#traffic tbody");
  body.replaceChildren();
  for (const [name, t] of Object.entries(traffic)) {
    const tr = el("tr");
    cell(tr, name);
    const st = cell(tr, "");
    // Only request logs are judged for drops (the service's own outage).
    if (t.outage !== undefined) st.appendChild(el("span", t.outage ? "DROP" : "normal", "state " + (t.outage ? "bad" : "ok")));
    cell(tr, num(t.records_total), "num"); cell(tr, num(t.rejected_total), "num");
    cell(tr, num(t.records_per_s), "num"); cell(tr, num(t.peak_records_per_s), "num");
    cell(tr, num(t.bytes_per_s), "num"); cell(tr, t.latest || "-");
    body.appendChild(tr);
  }
}

function renderAttack(attack, attacks) {
  const box = document.getElementById("attack");
  box.replaceChildren();
  const a = attack || (attacks && attacks.length ? attacks[attacks.length - 1] : null);
  if (!a) { box.textContent = "none"; box.className = "muted"; return; }
  box.className = "";
  box.appendChild(el("span", attack ? "ONGOING" : "ended", "state " + (attack ? "bad" : "ok")));
  box.appendChild(document.createTextNode(" " + (a.vector || "unknown vector") + " from " +
    (a.start || "?") + " to " + (a.end || "?") + ": " + num(a.packets) + " packets, peak " +
    num(a.peak_pps) + " pps, " + num(a.sources) + " sources"));
  const vs = (a.vectors || []).map(v => v.vector + " " + num(100 * v.share, 1) + "%");
  if (vs.length) box.appendChild(el("div", "vectors: " + vs.join(", "), "muted"));
}

function renderAlerts(alerts) {
  const ul = document.getElementById("alerts");
  ul.replaceChildren();
  for (const a of alerts.slice().reverse()) {
    ul.appendChild(el("li", (a.at || a.fired_at) + " " + a.type + ": " + a.message));
  }
  if (!alerts.length) ul.appendChild(el("li", "none", "muted"));
}

async function poll() {
  const conn = document.getElementById("conn");
  try {
    const r = await fetch("/v1/status", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    const s = await r.json();
    renderServices(s.services); renderTraffic(s.traffic);
    renderAttack(s.attack, s.attacks); renderAlerts(s.alerts);
    const down = s.services.filter(x => x.outage).map(x => x.service);
    if (s.traffic.requests && s.traffic.requests.outage) down.push("requests (drop in the server log)");
    const head = document.getElementById("headline");
    head.textContent = (down.length ? "Outage now: " + down.join(", ") : "No outage now") +
      (s.attack ? "; attack ongoing (" + (s.attack.vector || "?") + ")" : "") +
      " - report clock " + (s.report_clock || "-") + ", detector " + s.detector;
    head.className = down.length || s.attack ? "state bad" : "muted";
    conn.textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.updated = String(Date.now());
  } catch (e) {
    conn.textContent = "no connection (" + e.message + ")";
  }
}
poll();
setInterval(poll, 2000);
</script>
</body>
</html>
"""

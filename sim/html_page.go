package sim

// pageTemplate is the run's page: writeHTML puts the title in <title> and
// the run's data (JSON) in place of the /*DATA*/null placeholder. The
// script draws, per partition, the leader, the ISR, the high watermark and
// the log end offsets over time, with the client's sends and polls, the
// elections, truncations and transaction markers (commit, abort) as marks
// and the faults as shaded spans; and
// for the cluster, each node's faults, the controller changes and the
// consumer groups' assignments. Every
// drawn fault span is an element of class "fault" with data-kind and
// data-subject, every partition a panel with data-tp, and the body gets
// data-rendered="ok" once drawn (data-error when the script failed), so a
// headless browser's DOM shows what a person would see.
const pageTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title></title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:18px 0 6px}
pre{white-space:pre-wrap;margin:0}
pre.summary{background:#fff;border:1px solid #ddd;padding:8px}
.violation{border:2px solid #c00;background:#fff0f0;padding:8px;margin:8px 0}
.violation h2{color:#c00;margin-top:0}
.panel{background:#fff;border:1px solid #ddd;margin:8px 0;padding:6px;overflow-x:auto}
.panel.bad{border:2px solid #c00}
.panel h3{font-size:13px;margin:0 0 4px}
svg text{font-size:11px;font-family:system-ui,sans-serif}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #999}
table.events{border-collapse:collapse;font-family:monospace;font-size:12px}
table.events td{padding:1px 6px;vertical-align:top;white-space:pre-wrap}
tr.fault td{color:#8a4b00}tr.viol td{color:#c00;font-weight:bold}tr.led td{background:#fff3c4}
#events{max-height:420px;overflow-y:auto;background:#fff;border:1px solid #ddd}
#schedule li.cut{color:#999}
.controls{margin:8px 0}
</style></head>
<body>
<h1 id="title"></h1>
<noscript>This page draws its timelines with JavaScript; the data is in the page.</noscript>
<div id="violation"></div>
<pre class="summary" id="summary"></pre>
<div class="controls"><label>zoom <input type="range" id="zoom" min="2" max="200" value="10"> <span id="zoomv"></span> px per simulated second</label></div>
<div class="legend" id="legend"></div>
<h2>Cluster: faults and controllers</h2>
<div class="panel" id="cluster"></div>
<h2>Partitions</h2>
<div id="partitions"></div>
<h2>Fault schedule</h2><ol id="schedule"></ol>
<h2>Losses the guarantees allow</h2><ul id="losses"></ul>
<h2>Events</h2><input id="filter" placeholder="filter the events" size="40">
<div id="events"><table class="events"><tbody id="eventrows"></tbody></table></div>
<script>
var D = /*DATA*/null;
(function () {
"use strict";
var NS = "http://www.w3.org/2000/svg";
var pxPerSec = 10, LEFT = 120;
var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728"];
var FAULT = {down: "#b22222", paused: "#999999", disk: "#e08a00", partition: "#f4a6a6", link: "#f7c59f",
  "client-cut": "#c9b3e6", starve: "#f2d16b", clock: "#3a7bd5"};
var MARK = {election: "#6a1b9a", isr: "#00897b", truncation: "#795548", lost: "#d50000", offline: "#000000",
  controller: "#1565c0", violation: "#ff0000", rebalance: "#ad1457", commit: "#2e7d32", abort: "#ef6c00"};
function nodeColor(id) { return id < 1 ? "#bbbbbb" : COLORS[(id - 1) % COLORS.length]; }
function nodeID(name) { return parseInt(String(name).replace(/^n/, ""), 10); }
function svgEl(tag, attrs, parent, text) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  if (text != null) { e.textContent = text; }
  if (parent) { parent.appendChild(e); }
  return e;
}
function htmlEl(tag, attrs, parent, text) {
  var e = document.createElement(tag);
  for (var k in attrs) { e.setAttribute(k, attrs[k]); }
  if (text != null) { e.textContent = text; }
  if (parent) { parent.appendChild(e); }
  return e;
}
function tip(e, s) { svgEl("title", {}, e, s); return e; }
function sec(ms) { return (ms / 1000).toFixed(3) + "s"; }
function X(ms) { return LEFT + ms / 1000 * pxPerSec; }
function W() { return Math.ceil(X(D.end)) + 30; }
function spanEnd(s) { return s.to < 0 ? D.end : s.to; }

function axis(svg, y, top) {
  var step = 1;
  while (step * pxPerSec < 60) { step *= step === 1 ? 5 : 2; }
  for (var t = 0; t * 1000 <= D.end; t += step) {
    svgEl("line", {x1: X(t * 1000), x2: X(t * 1000), y1: top, y2: y, stroke: "#eee"}, svg);
    svgEl("text", {x: X(t * 1000) + 2, y: y + 12, fill: "#666"}, svg, t + "s");
  }
  if (D.faultEnd > 0 && D.faultEnd < D.end) {
    svgEl("line", {x1: X(D.faultEnd), x2: X(D.faultEnd), y1: top, y2: y, stroke: "#2e7d32", "stroke-dasharray": "4 3"}, svg);
    svgEl("text", {x: X(D.faultEnd) + 3, y: top + 10, fill: "#2e7d32"}, svg, "heal");
  }
}

function faultRect(g, s, y, h, opacity) {
  var x0 = X(s.from), x1 = Math.max(X(spanEnd(s)), x0 + 3);
  var r = svgEl("rect", {"class": "fault", "data-kind": s.kind, "data-subject": s.subject, x: x0, y: y,
    width: x1 - x0, height: h, fill: FAULT[s.kind] || "#ccc", "fill-opacity": opacity}, g);
  tip(r, s.kind + " " + s.subject + ": " + s.label + " (" + sec(s.from) + " to " + (s.to < 0 ? "end" : sec(s.to)) + ")");
  return r;
}

function markLine(g, m, y0, y1, label) {
  var c = MARK[m.kind] || "#333";
  var l = svgEl("line", {"class": "mark", "data-kind": m.kind, x1: X(m.t), x2: X(m.t), y1: y0, y2: y1, stroke: c,
    "stroke-width": m.kind === "violation" ? 2 : 1, "stroke-dasharray": m.kind === "election" || m.kind === "violation" ? "" : "3 2"}, g);
  tip(l, sec(m.t) + " " + m.kind + ": " + m.label);
  if (label) { svgEl("text", {x: X(m.t) + 2, y: y0 + 9, fill: c}, g, label); }
}

function violationLine(svg, top, bottom) {
  if (!D.violation) { return; }
  markLine(svg, {t: D.violation.t, kind: "violation", label: D.violation.check + ": " + D.violation.detail}, top, bottom, D.violation.check);
}

function drawCluster() {
  var box = document.getElementById("cluster");
  box.textContent = "";
  var rows = D.nodes.concat(["network", "starved", "controller", "groups"]);
  var ROW = 18, top = 4, height = top + rows.length * ROW + 20;
  var svg = svgEl("svg", {width: W(), height: height, "data-panel": "cluster"}, box);
  axis(svg, height - 16, 0);
  rows.forEach(function (name, i) {
    svgEl("text", {x: 4, y: top + i * ROW + 13}, svg, name);
  });
  var g = svgEl("g", {"class": "faults"}, svg);
  D.rec.spans.forEach(function (s) {
    var row;
    if (s.kind === "partition" || s.kind === "link" || s.kind === "client-cut") { row = D.nodes.length; }
    else if (s.kind === "starve") { row = D.nodes.length + 1; }
    else { row = D.nodes.indexOf(s.subject); }
    if (row < 0) { return; }
    var y = top + row * ROW + 2;
    if (s.kind === "clock") {
      var d = svgEl("path", {"class": "fault", "data-kind": s.kind, "data-subject": s.subject, fill: FAULT.clock,
        d: "M" + X(s.from) + " " + y + " l5 7 l-5 7 l-5 -7 z"}, g);
      tip(d, s.subject + ": " + s.label + " at " + sec(s.from));
      return;
    }
    var r = faultRect(g, s, y, ROW - 4, 0.8);
    if (X(spanEnd(s)) - X(s.from) > 60) {
      svgEl("text", {x: X(s.from) + 3, y: y + 11, fill: "#fff", "pointer-events": "none"}, g, s.kind === "partition" ? s.label : s.kind);
    }
    return r;
  });
  var cy = top + (rows.length - 2) * ROW, gy = top + (rows.length - 1) * ROW;
  D.rec.marks.forEach(function (m) {
    if (m.kind === "controller") { markLine(svg, m, cy, cy + ROW, m.label.replace(/^controller /, "").replace(/ active.*/, "")); }
    if (m.kind === "rebalance") { markLine(svg, m, gy, gy + ROW, ""); }
  });
  violationLine(svg, 0, height - 16);
}

function partitionPanel(p) {
  var panel = htmlEl("div", {"class": "panel", id: "p-" + p.tp, "data-tp": p.tp});
  if (D.violation && (D.violation.tp === p.tp)) { panel.className += " bad"; }
  var sends = D.sends.filter(function (s) { return s.tp === p.tp; });
  var polls = (D.polls || []).filter(function (s) { return s.tp === p.tp; });
  var ok = 0, fail = 0, info = 0;
  sends.forEach(function (s) { if (s.o === "ok") { ok++; } else if (s.o === "fail") { fail++; } else { info++; } });
  htmlEl("h3", {}, panel, "partition " + p.tp + ": " + sends.length + " sends (" + ok + " ok, " + fail + " failed, " + info +
    " unknown), " + polls.length + " polls with records, " + p.samples.length + " state changes");
  var replicas = [];
  p.samples.forEach(function (s) { s.replicas.forEach(function (r) { if (replicas.indexOf(r) < 0) { replicas.push(r); } }); });
  replicas.sort(function (a, b) { return a - b; });
  var maxOff = 1;
  p.samples.forEach(function (s) { maxOff = Math.max(maxOff, s.hw); s.leo.forEach(function (l) { maxOff = Math.max(maxOff, l); }); });
  sends.forEach(function (s) { maxOff = Math.max(maxOff, s.off + 1); });
  var ROW = 14, top = 2, leaderY = top, isrY = leaderY + ROW + 4, plotY = isrY + replicas.length * ROW + 6, PLOT = 150;
  var failY = plotY + PLOT + 6, height = failY + 14 + 18;
  function Y(off) { return plotY + PLOT - off / maxOff * PLOT; }
  var svg = svgEl("svg", {width: W(), height: height, "data-tp": p.tp}, panel);
  axis(svg, height - 16, 0);
  var shade = svgEl("g", {"class": "faults"}, svg);
  D.rec.spans.forEach(function (s) {
    if (s.kind === "partition") { faultRect(shade, s, 0, height - 16, 0.25); }
    if (s.kind === "starve" && s.subject === p.tp) { faultRect(shade, s, isrY, replicas.length * ROW, 0.5); }
  });
  svgEl("text", {x: 4, y: leaderY + 11}, svg, "leader");
  replicas.forEach(function (r, i) {
    svgEl("text", {x: 4, y: isrY + i * ROW + 11, fill: nodeColor(r)}, svg, "n" + r + " in ISR");
    D.rec.spans.forEach(function (s) {
      if ((s.kind === "down" || s.kind === "paused" || s.kind === "disk") && nodeID(s.subject) === r) {
        faultRect(shade, s, isrY + i * ROW + 1, ROW - 2, 0.45);
      }
    });
  });
  svgEl("text", {x: 4, y: plotY + 10}, svg, "offsets (max " + maxOff + ")");
  svgEl("text", {x: 4, y: plotY + 24, fill: "#000"}, svg, "— high watermark");
  svgEl("text", {x: 4, y: failY + 10}, svg, "failed/unknown");
  var g = svgEl("g", {"class": "state", "shape-rendering": "crispEdges"}, svg);
  var labels = svgEl("g", {"class": "labels"}, svg);
  for (var i = 0; i < p.samples.length; i++) {
    var s = p.samples[i], t1 = i + 1 < p.samples.length ? p.samples[i + 1].t : D.end;
    var x0 = X(s.t), x1 = Math.max(X(t1), x0 + 0.5);
    var lr = svgEl("rect", {"class": "leader", x: x0, y: leaderY, width: x1 - x0, height: ROW, fill: nodeColor(s.leader),
      "fill-opacity": s.leader < 0 ? 0.4 : 0.85}, g);
    tip(lr, sec(s.t) + ": leader " + (s.leader < 0 ? "none" : "n" + s.leader) + ", leader epoch " + s.epoch + ", ISR [" + s.isr.join(",") + "], high watermark " + s.hw);
    if (i === 0 || p.samples[i - 1].leader !== s.leader || p.samples[i - 1].epoch !== s.epoch) {
      var j = i + 1;
      while (j < p.samples.length && p.samples[j].leader === s.leader && p.samples[j].epoch === s.epoch) { j++; }
      var tEnd = j < p.samples.length ? p.samples[j].t : D.end;
      if (X(tEnd) - x0 > 40) {
        svgEl("text", {x: x0 + 2, y: leaderY + 11, fill: "#fff", "pointer-events": "none"}, labels, (s.leader < 0 ? "none" : "n" + s.leader) + " e" + s.epoch);
      }
    }
    replicas.forEach(function (r, j) {
      if (s.isr.indexOf(r) >= 0) {
        svgEl("rect", {"class": "isr", x: x0, y: isrY + j * ROW + 2, width: x1 - x0, height: ROW - 4, fill: nodeColor(r), "fill-opacity": r === s.leader ? 0.9 : 0.5}, g);
      }
    });
  }
  function step(get, attrs) {
    var d = "", last = null;
    p.samples.forEach(function (s, i) {
      var v = get(s);
      if (v < 0) { last = null; return; }
      var x0 = X(s.t), y = Y(v);
      d += (last === null ? "M" + x0 + " " + y : "H" + x0 + "V" + y);
      last = v;
      var t1 = i + 1 < p.samples.length ? p.samples[i + 1].t : D.end;
      d += "H" + X(t1);
    });
    if (d) { attrs.d = d; attrs.fill = "none"; svgEl("path", attrs, g); }
  }
  replicas.forEach(function (r) {
    step(function (s) { var k = s.replicas.indexOf(r); return k < 0 ? -1 : s.leo[k]; },
      {"class": "leo", "data-node": "n" + r, stroke: nodeColor(r), "stroke-width": 1.2, "stroke-dasharray": "5 2"});
  });
  step(function (s) { return s.hw; }, {"class": "hw", stroke: "#000", "stroke-width": 2});
  var ops = svgEl("g", {"class": "ops"}, svg);
  polls.forEach(function (q) {
    var l = svgEl("line", {"class": "poll", x1: X(q.t), x2: X(q.t), y1: Y(q.from), y2: Y(q.from + q.n), stroke: "#29b6f6", "stroke-width": 3, "stroke-opacity": 0.5}, ops);
    tip(l, sec(q.t) + " " + q.c + " read [" + q.from + ", " + (q.from + q.n) + ")");
  });
  sends.forEach(function (s) {
    var e, desc = sec(s.s) + "–" + sec(s.d) + " " + s.c + " sent " + s.v + " (acks=" + (s.acks < 0 ? "all" : s.acks) + "): " + s.o + (s.off >= 0 ? " at offset " + s.off : "");
    if (s.o === "ok") {
      e = svgEl("circle", {"class": "send ok", cx: X(s.d), cy: Y(s.off), r: 2.5, fill: s.acks < 0 ? "#2e7d32" : "#9ccc65"}, ops);
    } else if (s.o === "fail") {
      e = svgEl("path", {"class": "send fail", d: "M" + (X(s.d) - 3) + " " + (failY + 1) + "l6 6m0 -6l-6 6", stroke: "#c62828", "stroke-width": 1.5}, ops);
    } else {
      e = svgEl("path", {"class": "send " + s.o, d: "M" + X(s.d) + " " + (failY + 8) + "l3 -6h-6z", fill: "#ef6c00"}, ops);
    }
    tip(e, desc);
  });
  D.rec.marks.forEach(function (m) {
    if (m.tp !== p.tp) { return; }
    if (m.kind === "isr") { markLine(svg, m, isrY, isrY + replicas.length * ROW, ""); return; }
    markLine(svg, m, 0, failY + 12, m.kind === "election" ? m.label.replace(/^leader \S+ → (\S+) \(epoch (\d+)\).*/, "n$1 e$2") : "");
  });
  if (!D.violation || !D.violation.tp || D.violation.tp === p.tp) { violationLine(svg, 0, failY + 12); }
  return panel;
}

function drawPartitions() {
  var box = document.getElementById("partitions");
  box.textContent = "";
  D.rec.partitions.forEach(function (p) { box.appendChild(partitionPanel(p)); });
}

function drawStatic() {
  document.getElementById("title").textContent = D.title;
  document.getElementById("summary").textContent = D.summary;
  var legend = document.getElementById("legend");
  function sw(color, label) {
    var s = htmlEl("span", {}, legend);
    htmlEl("span", {"class": "sw", style: "background:" + color}, s);
    s.appendChild(document.createTextNode(label));
  }
  D.nodes.forEach(function (n) { sw(nodeColor(nodeID(n)), n); });
  sw(FAULT.down, "node down"); sw(FAULT.paused, "paused"); sw(FAULT.disk, "disk faults"); sw(FAULT.partition, "network partition");
  sw(FAULT.link, "degraded link"); sw(FAULT["client-cut"], "client cut off"); sw(FAULT.starve, "ISR starved");
  sw(MARK.election, "election"); sw(MARK.rebalance, "group assignment"); sw(MARK.truncation, "truncation"); sw(MARK.lost, "lost to power loss");
  sw("#2e7d32", "acks=all ok"); sw("#9ccc65", "acks=1 ok"); sw("#c62828", "failed"); sw("#ef6c00", "unknown"); sw("#29b6f6", "poll");
  var led = {};
  if (D.violation) {
    var v = htmlEl("div", {"class": "violation", id: "violation-box", "data-check": D.violation.check}, document.getElementById("violation"));
    htmlEl("h2", {}, v, "Violation " + D.violation.check + " at " + sec(D.violation.t) + (D.violation.tp ? " on " + D.violation.tp : ""));
    htmlEl("pre", {}, v, D.violation.detail);
    if (D.violation.tp) {
      var a = htmlEl("a", {href: "#p-" + D.violation.tp}, v, "its partition's timeline");
    }
    htmlEl("h3", {}, v, "What led to it (faults, controller changes, and events of its partition):");
    var ol = htmlEl("ol", {"class": "led"}, v);
    D.violation.led.forEach(function (i) {
      led[i] = true;
      var l = D.rec.lines[i];
      htmlEl("li", {}, ol, sec(l.t) + "  " + l.text);
    });
  }
  var sched = document.getElementById("schedule");
  (D.schedule || []).forEach(function (f) { htmlEl("li", {value: f.i}, sched, sec(f.t) + "  " + (f.what || "(nothing to do)")); });
  var losses = document.getElementById("losses");
  (D.losses || []).forEach(function (l) { htmlEl("li", {}, losses, l); });
  if (!D.losses || D.losses.length === 0) { htmlEl("li", {}, losses, "none"); }
  var rows = document.getElementById("eventrows");
  D.rec.lines.forEach(function (l, i) {
    var cls = /^VIOLATION/.test(l.text) ? "viol" : /^fault:/.test(l.text) ? "fault" : "";
    if (led[i]) { cls += " led"; }
    var tr = htmlEl("tr", {"class": cls}, rows);
    htmlEl("td", {}, tr, sec(l.t));
    htmlEl("td", {}, tr, l.text);
  });
  document.getElementById("filter").addEventListener("input", function (e) {
    var q = e.target.value.toLowerCase();
    Array.prototype.forEach.call(rows.children, function (tr) {
      tr.style.display = !q || tr.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
}

function draw() {
  document.getElementById("zoomv").textContent = pxPerSec;
  drawCluster();
  drawPartitions();
}

try {
  pxPerSec = Math.max(2, Math.min(200, Math.round(1200 / Math.max(D.end / 1000, 1))));
  document.getElementById("zoom").value = pxPerSec;
  drawStatic();
  draw();
  document.getElementById("zoom").addEventListener("input", function (e) { pxPerSec = +e.target.value; draw(); });
  document.body.setAttribute("data-rendered", "ok");
} catch (err) {
  document.body.setAttribute("data-error", String(err && err.stack || err));
  htmlEl("pre", {"class": "violation"}, document.body, "the page failed to draw: " + err);
}
})();
</script>
</body></html>
`

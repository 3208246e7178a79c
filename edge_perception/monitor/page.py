"""The monitor's one page: HTML, CSS and the script that draws the plot, all inline.

Nothing is fetched from elsewhere (no CDN, no fonts): the page works on a robot's own network.
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>edge_perception monitor</title>
<style>
body { font-family: sans-serif; margin: 12px; background: #111; color: #ddd; }
h1 { font-size: 18px; margin: 0 0 8px 0; }
.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: 12px; color: #999; }
a { color: #8cf; }
img { display: block; max-width: 100%; background: #222; min-width: 160px; min-height: 120px; }
canvas { background: #1b1b1b; border: 1px solid #333; }
table { border-collapse: collapse; font-size: 13px; }
td { padding: 2px 10px 2px 0; }
td.value { font-family: monospace; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.level0 { color: #6c6; } .level1 { color: #fc3; } .level2 { color: #f55; } .level3 { color: #999; }
</style>
</head>
<body>
<h1>edge_perception monitor</h1>
<div class="row">
  <figure><img id="image" src="/stream/image.mjpg" alt="camera image">
    <figcaption>camera (<a href="/snapshot/image.png">PNG</a>)</figcaption></figure>
  <figure><img id="depth" src="/stream/depth.mjpg" alt="depth, turbo colour map">
    <figcaption>depth, metres (<a href="/snapshot/depth.png">PNG</a>)</figcaption></figure>
</div>
<div class="row" style="margin-top: 12px">
  <div>
    <canvas id="plot" width="720" height="260"></canvas>
    <div class="legend" id="legend"></div>
  </div>
  <table id="status"></table>
</div>
<script>
"use strict";
const SERIES = [
  ["inference_ms", "#4aa3ff"], ["preprocess_ms", "#7bd88f"], ["postprocess_ms", "#c792ea"],
  ["latency_ms", "#ff9e3b"], ["fps", "#ffffff"]];
let historySeconds = 30;
const events = [];
let latest = null;
let diagnostics = [];

document.getElementById("legend").innerHTML = SERIES.map(
  ([name, colour]) => `<span style="color:${colour}">&#9632; ${name}` +
    (name === "fps" ? " (right axis)" : "") + "</span>").join("");

function text(value) {
  if (value === null || value === undefined) return "-";
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, c => "&#" + c.charCodeAt(0) + ";");
}

function renderStatus() {
  const rows = [];
  const fields = ["model", "device", "preprocessing", "inference_ms", "preprocess_ms",
                  "postprocess_ms", "total_ms", "latency_ms", "fps", "frames_received",
                  "frames_processed", "frames_dropped", "frames_rejected"];
  for (const field of fields) {
    const value = escapeHtml(text(latest && latest[field]));
    rows.push(`<tr><td>${field}</td><td class="value">${value}</td></tr>`);
  }
  for (const status of diagnostics) {
    rows.push(`<tr><td>${escapeHtml(status.name)}</td><td class="value level${status.level}">` +
      `${["OK", "WARN", "ERROR", "STALE"][status.level] || status.level}: ` +
      `${escapeHtml(status.message)}</td></tr>`);
  }
  document.getElementById("status").innerHTML = rows.join("");
}

function drawPlot() {
  const canvas = document.getElementById("plot");
  const context = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height, left = 44, right = 40, top = 8, bottom = 20;
  context.clearRect(0, 0, width, height);
  // The monitor's clock, not the browser's: the two machines' clocks may differ.
  const now = events.length ? events[events.length - 1].received_s : 0;
  while (events.length && events[0].received_s < now - historySeconds) events.shift();
  let maxMs = 1, maxFps = 1;
  for (const event of events) {
    for (const [name] of SERIES) {
      if (name === "fps") maxFps = Math.max(maxFps, event.fps);
      else maxMs = Math.max(maxMs, event[name]);
    }
  }
  maxMs *= 1.1; maxFps *= 1.1;
  context.strokeStyle = "#333"; context.fillStyle = "#999"; context.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = top + (height - top - bottom) * i / 4;
    context.beginPath(); context.moveTo(left, y); context.lineTo(width - right, y);
    context.stroke();
    context.fillText((maxMs * (1 - i / 4)).toFixed(1), 2, y + 4);
    context.fillText((maxFps * (1 - i / 4)).toFixed(0), width - right + 4, y + 4);
  }
  context.fillText("ms", 2, height - 4);
  context.fillText(`last ${historySeconds} s`, width / 2 - 20, height - 4);
  const x = t => left + (width - left - right) * (1 - (now - t) / historySeconds);
  for (const [name, colour] of SERIES) {
    const scale = name === "fps" ? maxFps : maxMs;
    context.strokeStyle = colour; context.beginPath();
    events.forEach((event, index) => {
      const y = top + (height - top - bottom) * (1 - event[name] / scale);
      if (index === 0) context.moveTo(x(event.received_s), y);
      else context.lineTo(x(event.received_s), y);
    });
    context.stroke();
  }
}

const source = new EventSource("/api/events");
source.addEventListener("timing", message => {
  latest = JSON.parse(message.data);
  events.push(latest);
});

async function poll() {
  try {
    const response = await fetch("/api/status");
    const status = await response.json();
    historySeconds = status.history_s;
    diagnostics = status.diagnostics;
    if (status.timing) latest = status.timing;
  } catch (error) {
    diagnostics = [{name: "monitor", level: 3, message: "no answer from the monitor"}];
  }
  renderStatus();
}

poll();
setInterval(poll, 1000);
setInterval(() => { drawPlot(); renderStatus(); }, 200);
</script>
</body>
</html>
"""

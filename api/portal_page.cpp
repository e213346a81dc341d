// The page reads the orders from GET /api/orders, then follows GET /api/live from the position
// that answer was read at (X-Projection-Position): no update between the two is lost. It
// reconnects from the last position it saw.
#include "api/detail/portal_page.hpp"

namespace dealerline::api::detail {

const std::string_view portal_page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dealerline — orders</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  #state { font-size: .85rem; padding: .1rem .5rem; border-radius: .6rem; background: #eee; }
  #state.live { background: #d7f5dc; } #state.down { background: #fbd9d3; }
  form { margin: 1rem 0; display: flex; gap: .5rem; }
  input { flex: 1; font: inherit; padding: .3rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e4e4e4; }
  th { font-weight: 600; background: #fafafa; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .status { font-weight: 600; }
  tr.changed { animation: flash 2s ease-out; }
  @keyframes flash { from { background: #fff3b0; } to { background: transparent; } }
  #error { color: #a40000; }
</style>
</head>
<body>
<header><h1>Orders</h1><span id="state">not connected</span><span id="who"></span></header>
<form id="login"><input id="token" placeholder="Paste a token (dealerline token --role dealer --dealer D-0001)" autocomplete="off">
<button>Show orders</button></form>
<p id="error"></p>
<table><thead><tr><th>Order</th><th>Dealer</th><th>Status</th><th>Units</th><th class="num">Total</th><th>Last change</th><th>Event</th></tr></thead>
<tbody id="orders"></tbody></table>
<script>
"use strict";
const rows = new Map();
let token = "", last = 0, socket = null, retry = 500;
const $ = (id) => document.getElementById(id);
function state(text, cls) { $("state").textContent = text; $("state").className = cls || ""; }
function money(minor, currency) { return minor == null ? "" : (minor / 100).toFixed(2) + " " + (currency || ""); }
function render(o, changed) {
  let tr = rows.get(o.order_id);
  if (!tr) { tr = document.createElement("tr"); rows.set(o.order_id, tr); $("orders").prepend(tr); }
  tr.innerHTML = "";
  for (const [text, cls] of [[o.order_id], [o.dealer_id], [o.status, "status"], [o.total_units ?? ""],
                             [money(o.total, o.currency), "num"], [o.updated_at || o.at || ""], [o.event || ""]]) {
    const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.append(td);
  }
  tr.dataset.order = JSON.stringify(o);
  if (changed) { tr.classList.remove("changed"); void tr.offsetWidth; tr.classList.add("changed"); }
}
async function load() {
  $("error").textContent = "";
  const res = await fetch("/api/orders?limit=200", { headers: { Authorization: "Bearer " + token } });
  const body = await res.json();
  if (!res.ok) { $("error").textContent = body.message || res.statusText; return false; }
  rows.clear(); $("orders").innerHTML = "";
  for (const o of body.orders.reverse()) render(o, false);
  last = Number(res.headers.get("X-Projection-Position") || 0);
  return true;
}
function follow() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/api/live?types=order_status&from_position=" + last +
                         "&access_token=" + encodeURIComponent(token));
  state("connecting");
  socket.onmessage = (m) => {
    const u = JSON.parse(m.data);
    if (u.type === "caught_up") { last = Math.max(last, u.position); retry = 500; state("live", "live"); return; }
    if (u.type !== "order_status") return;
    last = u.position;
    const tr = rows.get(u.order_id);
    const o = tr ? JSON.parse(tr.dataset.order) : { order_id: u.order_id, dealer_id: u.dealer_id };
    o.status = u.status; o.event = u.event; o.updated_at = u.at;
    if (u.details && u.details.total != null) { o.total = u.details.total; o.currency = u.details.currency; o.total_units = u.details.total_units; }
    render(o, true);
  };
  socket.onclose = (e) => {
    state("disconnected (" + (e.reason || e.code) + "), retrying", "down");
    setTimeout(follow, retry); retry = Math.min(retry * 2, 10000);
  };
}
async function start(t) {
  token = t.trim(); if (!token) return;
  localStorage.setItem("dealerline-token", token);
  if (socket) { socket.onclose = null; socket.close(); }
  try { if (await load()) follow(); } catch (e) { $("error").textContent = String(e); }
}
$("login").onsubmit = (e) => { e.preventDefault(); start($("token").value); };
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
const saved = fromHash || localStorage.getItem("dealerline-token");
if (saved) { $("token").value = saved; start(saved); }
</script>
</body>
</html>
)html";

}  // namespace dealerline::api::detail

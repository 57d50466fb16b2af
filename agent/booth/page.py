# ruff: noqa: E501 - long lines of the embedded HTML/JS
"""The booth page: one self-contained HTML document (no external assets; the LAN may have no internet)."""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>岗亭 · EcoGate</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;background:#f3f4f6;color:#111}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1rem;background:#1f2937;color:#fff}
header h1{font-size:1.1rem;margin:0;flex:1}
.badge{padding:.2rem .6rem;border-radius:.3rem;font-weight:bold}
.online{background:#16a34a}.offline{background:#dc2626}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem;padding:1rem}
section.lane{background:#fff;border-radius:.5rem;padding:1rem;box-shadow:0 1px 3px #0002}
.plate{font-size:2rem;font-weight:bold;letter-spacing:.1rem}
.allow{color:#15803d}.refuse{color:#b91c1c}
.photos img{max-width:48%;margin:.2rem;border:1px solid #ccc}
.prompt{background:#fef3c7;border:2px solid #d97706;padding:.5rem;margin:.5rem 0}
.error{background:#fee2e2;border:2px solid #dc2626;padding:.5rem;margin:.5rem 0}
form{margin-top:.6rem;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
input,select,button{font-size:1rem;padding:.3rem}
#alarms{background:#fee2e2;padding:.4rem 1rem;display:none}
.devices span{margin-right:.6rem;font-size:.85rem}
</style>
</head>
<body>
<header>
  <h1 id="site">岗亭</h1>
  <span id="net" class="badge offline">离线</span>
  <span id="pending"></span>
  <span id="who"></span>
  <form id="login" onsubmit="return login(event)">
    <select id="gname"></select>
    <input id="gpin" type="password" inputmode="numeric" placeholder="PIN" autocomplete="off" size="6">
    <button>登录</button>
  </form>
  <button id="logout" style="display:none" onclick="logout()">退出</button>
</header>
<div id="alarms"></div>
<main id="lanes"></main>
<script>
let S = {guard:null, reasons:[], colours:[]};
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => "&#" + c.charCodeAt(0) + ";");
async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} :
    {method:"POST", headers:{"Content-Type":"application/json"}, body:JSON.stringify(body)});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.detail || data.title || ("错误 " + r.status));
  return data;
}
function setStatus(st) {
  $("net").textContent = st.online ? "在线" : "离线（本地判定，数据缓存待上传）";
  $("net").className = "badge " + (st.online ? "online" : "offline");
  $("pending").textContent = st.pending == null ? "" : "待上传 " + st.pending + " 条";
  const a = st.alarms || [];
  $("alarms").style.display = a.length ? "block" : "none";
  $("alarms").innerHTML = a.map(x => "⚠ " + esc(x.message)).join("<br>");
}
function passHtml(e) {
  if (!e) return "<p>暂无过车</p>";
  const cls = e.decision === "allow" ? "allow" : "refuse";
  const photos = (e.photos || []).map(p => `<img src="${esc(p.url)}" alt="${esc(p.role)}">`).join("");
  const w = e.weighing ? `<p>称重：毛重 ${esc(e.weighing.gross_kg)} 皮重 ${esc(e.weighing.tare_kg)} 净重 ${esc(e.weighing.net_kg)} 千克</p>` : "";
  const who = e.operator ? `（${esc(e.operator)}${e.reason_label ? "：" + esc(e.reason_label) + " " + esc(e.reason_text) : ""}）` : "";
  return `<div class="plate">${esc(e.plate || e.internal_code || "未识别")}</div>
    <p class="${cls}"><b>${esc(e.decision_label)}</b> ${esc(e.message)}</p>
    <p>${esc(new Date(e.occurred_at).toLocaleString("zh-CN"))} · ${esc(e.trigger_label)}${who}</p>${w}
    <div class="photos">${photos}</div>${e.clip ? `<a href="${esc(e.clip.url)}">视频片段</a>` : ""}`;
}
function laneHtml(l, extra) {
  const reasons = S.reasons.map(r => `<option value="${r.code}">${esc(r.label)}</option>`).join("");
  const colours = S.colours.map(c => `<option value="${c.code}">${esc(c.label)}</option>`).join("");
  const dev = (l.devices || []).map(d => `<span>${d.ok ? "●" : "✖"} ${esc(d.name)} ${d.ok ? "" : esc(d.message)}</span>`).join("");
  const actions = S.guard ? `
    <form onsubmit="return release(event,'${esc(l.id)}')">
      <select name="reason" required><option value="">放行原因…</option>${reasons}</select>
      <input name="text" placeholder="放行说明（必填）" required minlength="2" maxlength="500">
      <input name="plate" placeholder="车牌（可选）" size="9">
      ${l.last && l.last.decision === "refuse" && l.last.plate ? `<label><input type="checkbox" name="confirm_plate" value="true">
        确认是被拦截车辆 ${esc(l.last.plate)}</label>` : ""}
      <button>人工放行</button></form>
    <form onsubmit="return manualPlate(event,'${esc(l.id)}')">
      <input name="plate" placeholder="手工录入车牌" required size="9">
      <select name="colour"><option value="">颜色</option>${colours}</select>
      <input name="cargo" placeholder="货物名称" size="8">
      <button>录入并判定</button></form>` : "<p>人工放行、手工录入需先登录</p>";
  return `<h2>${esc(l.name)}（${esc(l.direction_label)}）</h2><div class="devices">${dev}</div>
    ${extra || ""}${passHtml(l.last)}${actions}`;
}
function render(lanes) {
  $("lanes").innerHTML = lanes.map(l => `<section class="lane" id="lane-${esc(l.id)}">${laneHtml(l)}</section>`).join("");
  $("who").textContent = S.guard ? "门岗：" + S.guard : "";
  $("login").style.display = S.guard ? "none" : "flex";
  $("logout").style.display = S.guard ? "inline" : "none";
}
async function load() {
  const st = await api("/api/state");
  S = st; $("site").textContent = st.site.name + " · 岗亭";
  $("gname").innerHTML = st.guards.map(g => `<option>${esc(g)}</option>`).join("");
  setStatus(st); render(st.lanes);
}
async function login(ev) {
  ev.preventDefault();
  try { await api("/api/login", {name:$("gname").value, pin:$("gpin").value}); $("gpin").value = ""; await load(); }
  catch (e) { alert(e.message); }
  return false;
}
async function logout() { await api("/api/logout", {}); await load(); }
async function release(ev, lane) {
  ev.preventDefault(); const f = new FormData(ev.target);
  try { await api(`/api/lanes/${lane}/release`, Object.fromEntries(f)); } catch (e) { alert(e.message); }
  return false;
}
async function manualPlate(ev, lane) {
  ev.preventDefault(); const f = new FormData(ev.target);
  try { await api(`/api/lanes/${lane}/plate`, Object.fromEntries(f)); } catch (e) { alert(e.message); }
  return false;
}
function connect() {
  const es = new EventSource("/api/stream");
  es.addEventListener("status", m => setStatus(JSON.parse(m.data)));
  es.addEventListener("lane", m => {
    const d = JSON.parse(m.data); const el = $("lane-" + d.lane_id); if (!el || !d.lane) return;
    let extra = "";
    if (d.error) extra = `<div class="error">${esc(d.error)}</div>`;
    else if (d.prompt_guard) extra = `<div class="prompt">请门岗核实：${esc(d.event && d.event.message)}</div>`;
    el.innerHTML = laneHtml(d.lane, extra);
  });
  es.onerror = () => { $("net").textContent = "与代理断开，重连中…"; $("net").className = "badge offline"; };
  es.onopen = () => load();
}
load().then(connect);
</script>
</body>
</html>
"""

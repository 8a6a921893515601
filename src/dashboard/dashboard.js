// clawgate dashboard: signs in over the WebSocket with the typed token,
// then polls `health` once a second and draws the last two minutes.
"use strict";
(function () {
  const POINTS = 120, POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const series = {};
  let ws = null, timer = null, prev = null, seq = 0;

  function fmtBytes(n) {
    const u = ["B", "KB", "MB", "GB"]; let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + u[i];
  }
  function fmtUs(us) { return us >= 1000 ? (us / 1000).toFixed(1) + " ms" : us + " µs"; }
  function push(name, v) {
    const s = series[name] || (series[name] = []);
    s.push(v); if (s.length > POINTS) s.shift();
    return s;
  }
  function draw(id, s, color, max) {
    const c = $(id), g = c.getContext("2d"), w = c.width, h = c.height;
    g.clearRect(0, 0, w, h);
    const top = Math.max(max || 0, ...s, 1);
    g.strokeStyle = color; g.lineWidth = 1.5; g.beginPath();
    s.forEach((v, i) => {
      const x = (i / (POINTS - 1)) * w, y = h - 2 - (v / top) * (h - 4);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
    if (max) { g.strokeStyle = "#fc8181"; g.setLineDash([3, 3]); g.beginPath(); g.moveTo(0, 2); g.lineTo(w, 2); g.stroke(); g.setLineDash([]); }
  }
  function rate(cur, key, get) {
    const v = get(cur); const p = prev ? get(prev) : v;
    return Math.max(0, v - p);
  }
  function render(h) {
    const gw = h.gateway, c = gw.connections, m = gw.memory, lag = gw.eventLoop.lag;
    $("c-active").textContent = c.active + " / " + c.max;
    $("c-detail").textContent = c.operators + " operators, " + c.nodes + " nodes, " + c.authenticating + " authenticating";
    draw("g-conn", push("conn", c.active), "#63b3ed");
    $("m-rss").textContent = fmtBytes(m.rssBytes);
    $("m-rss").className = m.level === "normal" ? "" : (m.level === "critical" ? "bad" : "warn");
    $("m-detail").textContent = m.budgetPercent + "% of " + fmtBytes(m.budgetBytes) + " budget (" + m.level + "); worst case " + fmtBytes(m.worstCaseBytes);
    draw("g-mem", push("mem", m.rssBytes), "#68d391");
    $("l-p99").textContent = "p99 " + fmtUs(lag.turnP99Us);
    $("l-detail").textContent = "p50 " + fmtUs(lag.turnP50Us) + ", timers late p99 " + fmtUs(lag.timerLagP99Us) + ", busy " + (lag.utilisation * 100).toFixed(2) + "%";
    draw("g-lag", push("lag", lag.turnP99Us), "#f6ad55");
    const msgs = rate(h, "msg", (x) => x.gateway.batcher.messages);
    $("b-rate").textContent = msgs + " /s";
    $("b-detail").textContent = gw.batcher.batches + " batches, mean " + gw.batcher.meanBatchSize + ", dropped " + gw.batcher.dropped;
    draw("g-msg", push("msg", msgs), "#b794f4");
    const rows = rate(h, "rows", (x) => x.store.rowsWritten);
    $("s-rows").textContent = rows + " rows/s";
    $("s-detail").textContent = h.sessions.count + " sessions, WAL " + fmtBytes(h.store.walBytes) + ", " + h.store.checkpoints + " checkpoints";
    draw("g-store", push("rows", rows), "#4fd1c5");
    const checks = rate(h, "checks", (x) => x.coach.checks);
    $("k-checks").textContent = h.coach.checks + " checks";
    $("k-detail").textContent = h.coach.blocked + " blocked, " + h.coach.approvals + " asked, " + h.coach.pendingAlerts + " pending (" + h.coach.mode + ")";
    draw("g-coach", push("checks", checks), "#fc8181");
    $("p-running").textContent = h.processes.running + " running";
    $("p-detail").textContent = h.processes.spawned + " started, " + h.processes.finished + " kept, " + h.processes.pendingApprovals + " awaiting approval";
    draw("g-proc", push("proc", h.processes.running), "#f687b3");
    $("r-total").textContent = c.rejectedTotal;
    $("r-detail").textContent = "auth " + c.rejected.auth + ", rate " + h.rateLimits.connectionsLimited + "/" + h.rateLimits.requestsLimited + ", origin " + c.originRefused;
    draw("g-rej", push("rej", rate(h, "rej", (x) => x.gateway.connections.rejectedTotal)), "#fc8181");
    $("footer").textContent = "clawgate " + gw.version + " · up " + Math.round(gw.uptimeMs / 1000) + " s · cache " + h.cache.hits + " hits / " + h.cache.misses + " misses · updated " + new Date(h.ts).toLocaleTimeString();
    prev = h;
  }
  function send(method, params) {
    const id = "d" + (++seq);
    ws.send(JSON.stringify({ type: "req", id: id, method: method, params: params }));
    return id;
  }
  function status(text, cls) { const s = $("status"); s.textContent = text; s.className = cls || "muted"; }
  function signIn(token) {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/");
    let connectId = null, refused = null;
    status("connecting…");
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === "event" && f.event === "connect.challenge") {
        connectId = send("connect", {
          minProtocol: 3, maxProtocol: 4,
          client: { id: "clawgate-dashboard", version: "1", platform: "web", mode: "ui" },
          role: "operator", scopes: ["operator.read"], auth: { token: token },
        });
      } else if (f.type === "res" && f.id === connectId) {
        if (!f.ok) { refused = "sign-in refused: " + (f.error && f.error.message); status(refused, "bad"); return; }
        $("login").hidden = true; $("board").hidden = false;
        status("signed in", "");
        render(f.payload.snapshot.health);
        timer = setInterval(() => send("health", {}), POLL_MS);
      } else if (f.type === "res" && f.ok && f.payload && f.payload.gateway) {
        render(f.payload);
      }
    };
    ws.onclose = (ev) => {
      clearInterval(timer);
      status(refused || "disconnected (" + ev.code + (ev.reason ? ": " + ev.reason : "") + ")", "bad");
      $("login").hidden = false;
    };
  }
  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value; $("token").value = "";
      signIn(t);
    });
  });
})();

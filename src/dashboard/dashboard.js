// clawgate console: signs in over the WebSocket with the typed token (kept
// in memory only), polls `health` once a second for the overview, and
// shows approvals (pushed by events), history, processes, sessions, logs
// and coach rules. Every value is written with textContent, never HTML.
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
  const waits = {};
  let scopes = [];
  function send(method, params) {
    const id = "d" + (++seq);
    ws.send(JSON.stringify({ type: "req", id: id, method: method, params: params }));
    return id;
  }
  // A request whose answer comes back as a promise (rejects with the error).
  function call(method, params) {
    return new Promise((ok, fail) => { waits[send(method, params || {})] = { ok: ok, fail: fail }; });
  }
  function can(s) { return scopes.includes("operator.admin") || scopes.includes(s) || (s === "operator.read" && scopes.includes("operator.write")); }
  function el(tag, text, cls) { const e = document.createElement(tag); if (text != null) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function row(cells) { const tr = el("tr"); cells.forEach((c) => { const td = el("td"); if (c instanceof Node) td.append(c); else td.textContent = c == null ? "" : String(c); tr.append(td); }); return tr; }
  function btn(text, cls, fn) { const b = el("button", text, "small " + (cls || "")); b.addEventListener("click", fn); return b; }
  function fail(e) { $("err").textContent = (e && e.message) || String(e); }
  function when(ms) { return new Date(ms).toLocaleTimeString(); }
  function status(text, cls) { const s = $("status"); s.textContent = text; s.className = cls || "muted"; }

  // ----- approvals: pushed by events, answered with exec.approval.resolve
  const approvals = new Map();
  function drawApprovals() {
    const list = $("ap-list"); list.textContent = "";
    $("ap-count").textContent = approvals.size;
    $("ap-empty").hidden = approvals.size > 0;
    for (const a of approvals.values()) {
      const r = a.request || {}, c = a.coach || {};
      const card = el("div", null, "approval"); card.dataset.id = a.id;
      card.append(el("code", r.command || "(no command)", "cmd"));
      const dl = el("dl");
      const add = (k, v) => { if (v != null && v !== "") { dl.append(el("dt", k), el("dd", typeof v === "string" ? v : JSON.stringify(v))); } };
      add("cwd", r.cwd); add("env", r.env && Object.keys(r.env).length ? Object.entries(r.env).map((e) => e[0] + "=" + e[1]).join("  ") : null);
      add("asked by", a.requester); add("session", r.sessionKey || a.session);
      add("coach", (c.decision || "") + " · " + (c.severity || "") + (c.interactive ? " · interactive session" : ""));
      (c.matches || []).slice(0, 3).forEach((m) => add("why", m.title + (m.coaching ? ": " + m.coaching : "")));
      add("time left", "…");
      const left = dl.lastChild; left.className = "left"; left.dataset.until = a.expiresAtMs;
      card.append(dl);
      const answer = (d) => () => call("exec.approval.resolve", { id: a.id, decision: d }).then(() => { approvals.delete(a.id); drawApprovals(); }, fail);
      card.append(btn("Allow once", "allow", answer("allow-once")), btn("Allow always", "", answer("allow-always")), btn("Deny", "deny", answer("deny")));
      list.append(card);
    }
    countdown();
  }
  // Only the countdowns change each second: buttons are never redrawn under a click.
  function countdown() {
    const now = Date.now();
    document.querySelectorAll("#ap-list .left").forEach((d) => { d.textContent = Math.max(0, Math.round((d.dataset.until - now) / 1000)) + " s"; });
  }
  function loadApprovals() {
    if (!can("operator.approvals")) return;
    call("exec.approval.list").then((v) => {
      approvals.clear(); (Array.isArray(v) ? v : v.approvals || []).forEach((a) => approvals.set(a.id, a)); drawApprovals();
    }, fail);
  }

  // ----- history: audit rows, paged; the chain's verify status
  let before = null;
  function loadHistory(more) {
    if (!more) { before = null; $("h-rows").textContent = ""; }
    const p = { limit: 50 }; if (before) p.before = before;
    call("security.coach.history.query", p).then((v) => {
      v.entries.forEach((e) => $("h-rows").append(row([e.id, when(e.ts), e.kind, e.decision, e.decidedBy, e.conn, e.input])));
      before = v.entries.length ? v.entries[v.entries.length - 1].id : before;
      $("h-more").hidden = v.entries.length < 50;
    }, fail);
  }
  function verify() {
    $("h-verify").textContent = "chain: checking…";
    call("audit.verify").then((v) => {
      $("h-verify").textContent = v.ok ? "chain: intact (" + v.rows + " rows, head " + String(v.headHash || "").slice(0, 12) + ")" : "chain: BROKEN at row " + v.brokenAt + ": " + v.problem;
      $("h-verify").className = v.ok ? "" : "bad";
    }, fail);
  }

  // ----- processes
  function loadProcesses() {
    call("process.list").then((v) => {
      const t = $("p-rows"); t.textContent = "";
      v.processes.forEach((p) => {
        const tail = btn("output", "", () => call("process.poll", { processId: p.processId }).then((o) => { $("p-tail").textContent = (o.chunks || []).map((c) => c.encoding ? "[" + c.data.length + " base64 chars]" : c.data).join("") || o.output || "(no output)"; }, fail));
        const kill = p.status === "running" ? btn("kill", "deny", () => call("process.kill", { processId: p.processId }).then(loadProcesses, fail)) : "";
        const cell = el("span"); cell.append(tail); if (kill) cell.append(kill);
        t.append(row([p.processId, p.status, p.exitCode, p.clientId, p.command, cell]));
      });
    }, fail);
  }

  // ----- sessions and transcripts
  function loadSessions() {
    call("sessions.list", { limit: 100 }).then((v) => {
      const ul = $("s-list"); ul.textContent = "";
      v.sessions.forEach((s) => {
        const li = el("li", (s.label || s.key) + " (" + s.messageCount + ")");
        li.addEventListener("click", () => call("chat.history", { sessionKey: s.key, limit: 100 }).then((h) => {
          const box = $("s-chat"); box.textContent = "";
          h.messages.forEach((m) => box.append(el("p", when(m.ts) + " " + m.role + ": " + m.text)));
        }, fail));
        ul.append(li);
      });
    }, fail);
  }

  // ----- logs: tail, then follow from the cursor
  let logCursor = null;
  function loadLogs() {
    const p = { limit: 200 }; if (logCursor != null) p.cursor = logCursor;
    call("logs.tail", p).then((v) => {
      const pre = $("l-lines");
      if (v.reset || logCursor == null) pre.textContent = "";
      if (v.lines.length) pre.textContent += v.lines.join("\n") + "\n";
      const extra = pre.textContent.length - 200000; if (extra > 0) pre.textContent = pre.textContent.slice(extra);
      logCursor = v.cursor;
    }, fail);
  }

  // ----- coach rules
  function loadRules() {
    $("r-add").hidden = !can("operator.admin");
    call("security.coach.rules.list").then((v) => {
      const t = $("r-rows"); t.textContent = "";
      v.rules.forEach((r) => t.append(row([r.id, r.action, r.pattern || r.patternId, r.note, r.createdBy,
        can("operator.admin") ? btn("delete", "deny", () => call("security.coach.rules.delete", { id: r.id }).then(loadRules, fail)) : ""])));
    }, fail);
  }

  let tab = "overview";
  const loaders = { approvals: loadApprovals, history: loadHistory, processes: loadProcesses, sessions: loadSessions, logs: loadLogs, rules: loadRules };
  function show(name) {
    tab = name;
    document.querySelectorAll(".pane").forEach((p) => { p.hidden = p.id !== name; });
    document.querySelectorAll("#tabs button").forEach((b) => { b.className = b.dataset.tab === name ? "on" : ""; });
    if (loaders[name]) loaders[name]();
  }
  function onEvent(name, p) {
    if (name === "exec.approval.requested") { approvals.set(p.id, p); drawApprovals(); }
    else if (name === "exec.approval.resolved") { approvals.delete(p.id); drawApprovals(); }
    else if (name === "process.exit" && tab === "processes") loadProcesses();
  }
  function tickConsole() {
    if (approvals.size) countdown();
    if (tab === "logs" && $("l-follow").checked) loadLogs();
  }

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
          // The shared token grants these; a credential grants what it carries.
          role: "operator", scopes: ["operator.admin", "operator.approvals", "operator.write", "operator.read"], auth: { token: token },
        });
      } else if (f.type === "res" && f.id === connectId) {
        if (!f.ok) { refused = "sign-in refused: " + (f.error && f.error.message); status(refused, "bad"); return; }
        scopes = (f.payload.auth && f.payload.auth.scopes) || [];
        $("login").hidden = true; $("board").hidden = false;
        $("tab-approvals").hidden = !can("operator.approvals");
        status("signed in (" + scopes.join(", ") + ")", "");
        render(f.payload.snapshot.health);
        loadApprovals();
        timer = setInterval(() => { send("health", {}); tickConsole(); }, POLL_MS);
      } else if (f.type === "res" && waits[f.id]) {
        const w = waits[f.id]; delete waits[f.id];
        f.ok ? w.ok(f.payload) : w.fail(f.error || {});
      } else if (f.type === "res" && f.ok && f.payload && f.payload.gateway) {
        render(f.payload);
      } else if (f.type === "event") {
        onEvent(f.event, f.payload || {});
      }
    };
    ws.onclose = (ev) => {
      clearInterval(timer);
      status(refused || "disconnected (" + ev.code + (ev.reason ? ": " + ev.reason : "") + ")", "bad");
      $("login").hidden = false;
    };
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    $("h-more").addEventListener("click", () => loadHistory(true));
    $("h-check").addEventListener("click", verify);
    $("r-add").addEventListener("submit", (e) => {
      e.preventDefault();
      const p = { action: $("r-action").value, pattern: $("r-pattern").value };
      if ($("r-note").value) p.note = $("r-note").value;
      call("security.coach.rules.add", p).then(() => { $("r-pattern").value = ""; loadRules(); }, fail);
    });
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value; $("token").value = "";
      signIn(t);
    });
  });
})();

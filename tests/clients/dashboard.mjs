// Drives the dashboard in headless Chromium (playwright-core + Debian's
// chromium): load the page, sign in with the token, wait for live numbers
// to change, check a cross-site page cannot open the gateway's WebSocket,
// save a screenshot. Prints one JSON line per step.
// Usage: node dashboard.mjs <playwright-core dir> <gateway url> <token> <png>
import { createRequire } from "node:module";
const [pwDir, base, token, png] = process.argv.slice(2);
const require = createRequire(pwDir + "/");
const { chromium } = require("playwright-core");

const step = (o) => console.log(JSON.stringify(o));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 760 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const resp = await page.goto(base + "/", { waitUntil: "load" });
  step({ step: "load", status: resp.status(), title: await page.title() });
  // A wrong token first: refused, the form stays.
  await page.fill("#token", "wrong-token");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => /refused|disconnected/.test(document.getElementById("status").textContent), null, { timeout: 15000 });
  step({ step: "wrong-token", status: await page.textContent("#status") });
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("#board:not([hidden])", { timeout: 15000 });
  const first = await page.textContent("#footer");
  // Live: the footer's update time and the uptime move on their own.
  await page.waitForFunction((f) => document.getElementById("footer").textContent !== f, first, { timeout: 15000 });
  const cards = {};
  for (const id of ["c-active", "m-rss", "m-detail", "l-p99", "b-rate", "s-rows", "k-checks", "p-running", "r-total"]) {
    cards[id] = await page.textContent("#" + id);
  }
  const url = page.url();
  step({ step: "live", cards, footer: await page.textContent("#footer"), tokenInUrl: url.includes(token) });
  await page.screenshot({ path: png, fullPage: true });
  step({ step: "screenshot", path: png });
  // A page from another origin (another port on this host, served here)
  // tries the gateway's WebSocket.
  const http = await import("node:http");
  const server = http.createServer((q, r) => { r.end("<title>evil</title>"); });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const evil = await browser.newPage();
  await evil.goto("http://127.0.0.1:" + server.address().port + "/");
  const result = await evil.evaluate((u) => new Promise((done) => {
    const ws = new WebSocket(u);
    ws.onmessage = (m) => done("message: " + String(m.data).slice(0, 40));
    ws.onclose = (e) => done("close " + e.code + " " + e.reason);
    setTimeout(() => done("timeout"), 10000);
  }), base.replace("http://", "ws://") + "/");
  step({ step: "cross-site", result });
  server.close();
  step({ step: "errors", errors });
} finally {
  await browser.close();
}

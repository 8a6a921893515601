// OpenClaw's own Control UI (openclaw@2026.9.6, dist/control-ui served by
// the static server below) pointed at clawgate in headless Chromium: its
// inbox lists an agent's held exec.run (exec.approval.list and the
// exec.approval.requested event); its "Allow once" lets it run.
// Usage: node control_ui.mjs <playwright-core dir> <control-ui dir> <ui port> <gateway ws url> <token> <marker> <png>
import { createRequire } from "node:module";
import { writeSync } from "node:fs";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
const [pwDir, root, uiPort, gw, token, marker, png] = process.argv.slice(2);
const require = createRequire(pwDir + "/");
const { chromium } = require("playwright-core");
const step = (o) => writeSync(1, JSON.stringify(o) + "\n");
const types = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png", ".woff2": "font/woff2", ".webmanifest": "application/manifest+json" };
// Any static server will do; this one answers index.html for app routes.
const srv = http.createServer((q, r) => {
  const p = decodeURIComponent(new URL(q.url, "http://x").pathname);
  let f = path.join(root, p);
  if (!f.startsWith(root) || !fs.existsSync(f) || fs.statSync(f).isDirectory()) f = path.join(root, "index.html");
  r.writeHead(200, { "Content-Type": types[path.extname(f)] || "application/octet-stream" });
  fs.createReadStream(f).pipe(r);
});
await new Promise((ok) => srv.listen(Number(uiPort), "127.0.0.1", ok));
const base = "http://127.0.0.1:" + uiPort;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const T = { timeout: 20000 };
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  // The UI's own link form: gateway URL and token in the fragment; it asks
  // before switching to a gateway other than its origin.
  await page.goto(base + "/#gatewayUrl=" + encodeURIComponent(gw) + "&token=" + encodeURIComponent(token));
  await page.getByRole("button", { name: /Switch to/ }).click(T);
  const inbox = page.locator("button[aria-label*=inbox]");
  await inbox.first().waitFor(T);
  await page.waitForFunction(() => /[1-9] inbox item/.test([...document.querySelectorAll("button[aria-label]")].map((b) => b.getAttribute("aria-label")).join(" ")), null, T);
  await inbox.first().click();
  const card = page.locator("text=" + marker).first();
  await card.waitFor(T);
  step({ step: "inbox", text: await page.locator("text=Exec approval needed").first().textContent() });
  await page.screenshot({ path: png });
  await page.getByRole("button", { name: "Allow once" }).first().click();
  await card.waitFor({ state: "detached", timeout: 20000 });
  step({ step: "allowed" });
} catch (e) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  if (pages.length) await pages[0].screenshot({ path: png.replace(/\.png$/, "-failed.png") });
  step({ step: "failed", message: String(e).slice(0, 400) });
  process.exitCode = 1;
} finally {
  await browser.close();
  srv.close();
}

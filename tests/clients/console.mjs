// The operator console in headless Chromium (playwright-core): sign in,
// answer an agent's held exec.run with "Allow once", then another with
// "Deny", then walk History (verify the chain), Processes, Logs, Sessions
// and Coach rules (add one). Screenshots go next to <png prefix>.
// Usage: node console.mjs <playwright-core dir> <gateway url> <token> <png prefix>
// Prints one JSON line per step.
import { createRequire } from "node:module";
const [pwDir, base, token, png] = process.argv.slice(2);
const require = createRequire(pwDir + "/");
const { chromium } = require("playwright-core");
import { writeSync } from "node:fs";
// Written synchronously: a failure later must not lose the steps before it.
const step = (o) => writeSync(1, JSON.stringify(o) + "\n");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const T = { timeout: 20000 };
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });

  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/");
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("#board:not([hidden])", T);
  step({ step: "signed-in", status: await page.textContent("#status") });
  await page.click("#tab-approvals");
  const card = page.locator(".approval").first();
  await card.waitFor(T);
  const text = await card.textContent();
  await page.screenshot({ path: png + "-approvals.png" });
  step({ step: "card", text });
  await card.locator("button", { hasText: "Allow once" }).click();
  await page.waitForFunction(() => document.querySelectorAll(".approval").length === 0, null, T);
  step({ step: "allowed" });
  await page.locator(".approval").first().waitFor(T);
  const text2 = await page.locator(".approval").first().textContent();
  await page.locator(".approval").first().locator("button", { hasText: "Deny" }).click();
  await page.waitForFunction(() => document.querySelectorAll(".approval").length === 0, null, T);
  step({ step: "denied", text: text2 });
  await page.click("button[data-tab=history]");
  await page.waitForSelector("#h-rows tr", T);
  await page.click("#h-check");
  await page.waitForFunction(() => /intact|BROKEN/.test(document.getElementById("h-verify").textContent), null, T);
  step({ step: "history", rows: await page.locator("#h-rows tr").count(), verify: await page.textContent("#h-verify") });
  await page.screenshot({ path: png + "-history.png" });
  await page.click("button[data-tab=processes]");
  await page.waitForSelector("#p-rows tr", T);
  await page.locator("#p-rows button", { hasText: "output" }).first().click();
  await page.waitForFunction(() => document.getElementById("p-tail").textContent.length > 0, null, T);
  step({ step: "processes", rows: await page.locator("#p-rows tr").count(), tail: await page.textContent("#p-tail") });
  await page.click("button[data-tab=logs]");
  await page.waitForFunction(() => document.getElementById("l-lines").textContent.includes("approval"), null, T);
  step({ step: "logs" });
  await page.click("button[data-tab=rules]");
  await page.fill("#r-pattern", "console-added-rule");
  await page.fill("#r-note", "from the console test");
  await page.click("#r-add button[type=submit]");
  await page.waitForFunction(() => document.getElementById("r-rows").textContent.includes("console-added-rule"), null, T);
  step({ step: "rules" });
  await page.click("button[data-tab=sessions]");
  await page.waitForSelector("#s-list li", T);
  await page.locator("#s-list li").first().click();
  await page.waitForSelector("#s-chat p", T);
  step({ step: "sessions", chat: await page.textContent("#s-chat") });
  await page.screenshot({ path: png + "-sessions.png" });
  step({ step: "errors", errors });
} catch (e) {
  // Say what the page showed, then fail.
  const pages = browser.contexts().flatMap((c) => c.pages());
  const shown = pages.length ? await pages[0].evaluate(() => ({ err: document.getElementById("err").textContent, logs: document.getElementById("l-lines").textContent.slice(-500), status: document.getElementById("status").textContent, logsHidden: document.getElementById("logs").hidden })) : {};
  if (pages.length) await pages[0].screenshot({ path: png + "-failed.png" });
  step({ step: "failed", message: String(e).slice(0, 300), errors, ...shown });
  process.exitCode = 1;
} finally {
  await browser.close();
}

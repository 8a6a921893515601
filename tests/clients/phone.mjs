// A phone following an approval link from a notification, in headless
// Chromium (playwright-core): the GET shows a confirmation page and decides
// nothing; the button POSTs the decision; the same link again is refused.
// Usage: node phone.mjs <playwright-core dir> <link> <png>
// Prints one JSON line per step; waits for "go" on stdin between the page
// and the click, so the test can check nothing was decided yet.
import { createRequire } from "node:module";
import readline from "node:readline";
const [pwDir, link, png] = process.argv.slice(2);
const require = createRequire(pwDir + "/");
const { chromium } = require("playwright-core");
import { writeSync } from "node:fs";
// Written synchronously: a failure later must not lose the steps before it.
const step = (o) => writeSync(1, JSON.stringify(o) + "\n");
const rl = readline.createInterface({ input: process.stdin });
// Lines are buffered so one sent before we wait is not lost.
const lines = [];
let waiting = null;
rl.on("line", (l) => { if (waiting) { waiting(l); waiting = null; } else lines.push(l); });
const next = () => lines.length ? Promise.resolve(lines.shift()) : new Promise((ok) => { waiting = ok; });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 700 }, isMobile: true });
  const r = await page.goto(link);
  step({ step: "confirm-page", status: r.status(), title: await page.title(),
         command: await page.textContent("#command"), button: await page.textContent("#confirm") });
  await page.screenshot({ path: png });
  await next();
  await Promise.all([page.waitForNavigation(), page.click("#confirm")]);
  step({ step: "decided", title: await page.title(), result: await page.textContent("#result") });
  const again = await page.goto(link);
  step({ step: "again", status: again.status(), reason: await page.textContent("#reason") });
} finally {
  await browser.close();
  rl.close();
}

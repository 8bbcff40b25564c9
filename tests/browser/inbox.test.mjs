// The inbox page in Debian's Chromium, against the real binary: it loads with no console errors,
// shows a webhook posted while it is open within a second, narrows by search, shows hostile text
// literally without running it, and asks for the read token when one is set.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.SERVICE_BIN;
const SECRET = "browser-test-secret-0123456789";
const TOKEN = "browser-read-token-0123456789";
const SHOTS = process.env.SCREENSHOT_DIR || "../../target";

let service;
let base;
let browser;

function start(env) {
  return new Promise((resolve, reject) => {
    const dir = mkdtempSync(join(tmpdir(), "inbox-"));
    const child = spawn(BIN, [], {
      cwd: dir,
      env: { PATH: process.env.PATH, PORT: "0", HOST: "127.0.0.1", WEBHOOK_SECRET: SECRET, DATABASE_URL: `sqlite://${dir}/app.db`, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const timer = setTimeout(() => reject(new Error("the service did not start")), 30000);
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      for (const line of buffer.split("\n")) {
        if (line.includes('"msg":"listening"')) {
          const addr = JSON.parse(line).addr.replace(/[[\]]/g, "");
          clearTimeout(timer);
          resolve({ child, base: `http://${addr}` });
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`the service exited with ${code}`)));
  });
}

async function post(baseUrl, message) {
  const body = JSON.stringify(message);
  const signature = createHmac("sha256", SECRET).update(body).digest("hex");
  const response = await fetch(`${baseUrl}/webhook`, { method: "POST", body, headers: { "X-Signature": signature } });
  assert.equal(response.status, 200, await response.text());
}

const message = (id, from, text) => ({ message_id: id, from, to: "+14155550100", ts: new Date().toISOString().replace(/\.\d+Z$/, "Z"), text });

before(async () => {
  ({ child: service, base } = await start({ READ_API_TOKEN: TOKEN }));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  service?.kill();
});

test("the page asks for the token, then shows live, searchable, literal messages", async () => {
  await post(base, message("seed-1", "+15550001", "hello from the first customer"));
  await post(base, message("xss-1", "+15550002", "<img src=x onerror=alert(1)>"));
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  let dialogs = 0;
  page.on("dialog", async (d) => { dialogs += 1; await d.dismiss(); });

  await page.goto(`${base}/inbox`);
  await page.locator("#login").waitFor({ state: "visible" });
  assert.equal(await page.locator("#messages li").count(), 0, "nothing is shown without the token");
  await page.fill("#token", TOKEN);
  await page.click("#token-form button");
  await page.locator("#messages li[data-id='seed-1']").waitFor({ timeout: 5000 });

  // Hostile text is text: shown as typed, no element made from it, nothing run.
  const xss = page.locator("#messages li[data-id='xss-1'] .text");
  assert.equal(await xss.textContent(), "<img src=x onerror=alert(1)>");
  assert.equal(await page.locator("#messages img").count(), 0);

  // Live: a webhook posted now appears within a second.
  await page.locator("#live.on").waitFor({ timeout: 5000 });
  const posted = Date.now();
  await post(base, message("live-1", "+15550003", "arrived while the page was open"));
  await page.locator("#messages li[data-id='live-1']").waitFor({ timeout: 1000 });
  assert.ok(Date.now() - posted <= 1000, "shown within a second");
  assert.ok((await page.locator("#conversations li").count()) >= 3, "one conversation per sender");

  // Search narrows the list.
  await page.fill("#q", "first customer");
  await page.click("#filters button");
  await page.waitForFunction(() => document.querySelectorAll("#messages li").length === 1);
  assert.equal(await page.locator("#messages li").getAttribute("data-id"), "seed-1");

  mkdirSync(SHOTS, { recursive: true });
  await page.fill("#q", "");
  await page.click("#filters button");
  await page.locator("#messages li[data-id='live-1']").waitFor();
  await page.screenshot({ path: join(SHOTS, "inbox.png"), fullPage: true });
  assert.equal(dialogs, 0, "no script ran from a message");
  assert.deepEqual(problems, [], "no console errors");
});

test("a wrong token is refused and shows nothing", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/inbox`);
  await page.fill("#token", "not-the-token");
  await page.click("#token-form button");
  await page.locator("#token-error").waitFor({ state: "visible" });
  assert.equal(await page.locator("#app").isHidden(), true);
});

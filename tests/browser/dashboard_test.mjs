// The dashboard in a real browser (Debian's Chromium, driven by
// playwright-core): against a registryd started here, with instances
// registered over gRPC by registryctl. The page loads with no console
// errors; a new instance appears without a reload, one that expires
// disappears, one kept by a session shows it, in grace once its keeper is
// killed, the search filters the services, pages page; a screenshot is
// written. Then, under an authorization policy with bearer tokens: the page
// asks for a token, refuses an unknown one, and shows what the token's
// identity may read, across a reload, until the token is forgotten.
// Usage: node dashboard_test.mjs REGISTRYD REGISTRYCTL CHROMIUM SCREENSHOT
import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [registryd, registryctl, chromiumPath, screenshot] = process.argv.slice(2);
const WAIT_MS = 20000;  // generous: CI machines are slow
const SEEN_WITHIN_MS = 2000;  // the bound for a new instance to appear

function startRegistryd(...extra) {
  const child = spawn(registryd, ["--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                  "--dns-listen", "127.0.0.1:0", "--data-dir", "",
                                  "--min-ttl", "1s", "--tick", "20ms", "--threads", "2", ...extra],
                      { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("registryd did not start:\n" + log)), WAIT_MS);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const grpc = log.match(/listening on (\S+)/);
      const http = log.match(/HTTP face on (http:\/\/\S+)/);
      if (grpc && http) {
        clearTimeout(timer);
        resolve({ child, grpc: grpc[1], http: http[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`registryd exited (${code}):\n${log}`)));
  });
}

function register(grpc, service, instanceId, address, ...extra) {
  execFileSync(registryctl, ["--target", grpc, "register", "--service", service, "--instance-id", instanceId,
                             "--address", address, ...extra], { stdio: "pipe" });
}

// The id `registryctl keep --session` prints when it opened its session.
function sessionOpenedBy(keeper) {
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("keep --session opened no session:\n" + out)), WAIT_MS);
    keeper.stdout.on("data", (chunk) => {
      out += chunk;
      const opened = out.match(/^opened session (0x[0-9a-f]{16})/m);
      if (opened) {
        clearTimeout(timer);
        resolve(opened[1]);
      }
    });
  });
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  // As root in a sandbox without network: no sandbox, and none of Chromium's own traffic.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  await withoutPolicy();
  await underPolicy();
} finally {
  await browser.close();
}

async function withoutPolicy() {
  const server = await startRegistryd();
  const problems = [];
  try {
    register(server.grpc, "alpha", "a-1", "127.0.0.1:9001", "--meta", "zone=eu-1");
    register(server.grpc, "alpha", "a-2", "127.0.0.1:9002", "--overloaded");
    register(server.grpc, "beta", "b-1", "127.0.0.1:9101");
    register(server.grpc, "gamma", "g-1", "127.0.0.1:9201");
    for (let i = 0; i < 120; i++) register(server.grpc, "many", `m-${String(i).padStart(3, "0")}`, `127.0.0.1:${10000 + i}`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("console", (message) => { if (message.type() === "error") problems.push("console: " + message.text()); });
    page.on("pageerror", (error) => problems.push("page error: " + error.message));
    page.on("requestfailed", (request) => problems.push("request failed: " + request.url()));
    await page.goto(server.http + "/", { waitUntil: "load" });

    // The services and the node.
    await page.waitForFunction(() => document.querySelectorAll("#services li").length === 4, null, { timeout: WAIT_MS });
    assert.deepEqual(await page.$$eval("#services li b", (names) => names.map((n) => n.textContent)),
                     ["alpha", "beta", "gamma", "many"]);
    await page.waitForFunction(() => document.getElementById("ready").textContent === "serving", null,
                               { timeout: WAIT_MS });
    assert.equal(await page.textContent("#total-instances"), "124");

    // A service's instances.
    await page.click('#services li[data-name="alpha"]');
    await page.waitForSelector('#instances tr[data-id="a-2"]', { timeout: WAIT_MS });
    const row = await page.$$eval('#instances tr[data-id="a-1"] td', (cells) => cells.map((c) => c.textContent));
    assert.equal(row[1], "127.0.0.1:9001");
    assert.equal(row[2], "zone=eu-1");
    assert.equal(await page.$eval('#instances tr[data-id="a-2"] td:nth-child(4)', (c) => c.textContent), "yes");

    // Registered now: it appears without a reload.
    register(server.grpc, "alpha", "a-new", "127.0.0.1:9003");
    await page.waitForSelector('#instances tr[data-id="a-new"]', { timeout: SEEN_WITHIN_MS });

    // A lease of 1 s that nobody renews: it shows, then it is gone.
    register(server.grpc, "alpha", "a-short", "127.0.0.1:9004", "--ttl", "1s");
    await page.waitForSelector('#instances tr[data-id="a-short"]', { timeout: WAIT_MS });
    await page.waitForSelector('#instances tr[data-id="a-short"]', { state: "detached", timeout: WAIT_MS });

    // An instance kept by a session shows its session; once its keeper is
    // killed, the session waits in grace, then it is gone with its instance.
    const keeper = spawn(registryctl, ["--target", server.grpc, "keep", "--session", "--ttl", "5s", "--grace", "5s",
                                       "--instance", "alpha 127.0.0.1:9005 a-sess"], { stdio: ["ignore", "pipe", "pipe"] });
    const session = await sessionOpenedBy(keeper);
    await page.waitForFunction((id) => document.querySelector('#instances tr[data-id="a-sess"] td.session')?.textContent === id,
                               session, { timeout: WAIT_MS });
    keeper.kill("SIGKILL");
    await page.waitForFunction((id) => document.querySelector('#instances tr[data-id="a-sess"] td.session')?.textContent ===
                               id + " (in grace)", session, { timeout: WAIT_MS });
    await page.waitForSelector('#instances tr[data-id="a-sess"]', { state: "detached", timeout: WAIT_MS });

    // The search filters on the server.
    await page.fill("#search", "bet");
    await page.waitForFunction(() => {
      const names = [...document.querySelectorAll("#services li b")].map((n) => n.textContent);
      return names.length === 1 && names[0] === "beta";
    }, null, { timeout: WAIT_MS });
    await page.fill("#search", "");
    await page.waitForFunction(() => document.querySelectorAll("#services li").length === 4, null, { timeout: WAIT_MS });

    // A service larger than a page is paged.
    await page.click('#services li[data-name="many"]');
    await page.waitForFunction(() => document.getElementById("instances-range").textContent === "1-100 of 120", null,
                               { timeout: WAIT_MS });
    await page.click("#instances-next");
    await page.waitForFunction(() => document.getElementById("instances-range").textContent === "101-120 of 120", null,
                               { timeout: WAIT_MS });
    assert.equal(await page.$$eval("#instances tbody tr", (rows) => rows.length), 20);
    // The rates chart draws once two polls are in.
    await page.waitForSelector("#chart-registrations polyline", { timeout: WAIT_MS });

    await page.click('#services li[data-name="alpha"]');
    await page.waitForSelector('#instances tr[data-id="a-new"]', { timeout: WAIT_MS });
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.deepEqual(problems, []);
    console.log("dashboard: ok, screenshot in " + screenshot);
  } finally {
    server.child.kill("SIGTERM");
  }
}

// Under a policy: viewer may read alpha* only; loader registers.
async function underPolicy() {
  const files = mkdtempSync(join(tmpdir(), "dashboard_authz_"));
  const sha256 = (token) => createHash("sha256").update(token).digest("hex");
  writeFileSync(join(files, "policy.txt"), 'rule { identity: "viewer" service: "alpha*" permission: READ }\n' +
                                           'rule { identity: "loader" service: "*" permission: REGISTER }\n');
  writeFileSync(join(files, "tokens.txt"), `token { sha256: "${sha256("tok-viewer")}" identity: "viewer" }\n` +
                                           `token { sha256: "${sha256("tok-loader")}" identity: "loader" }\n`);
  writeFileSync(join(files, "loader.token"), "tok-loader\n");
  const guarded = await startRegistryd("--authz-policy", join(files, "policy.txt"), "--auth-tokens", join(files, "tokens.txt"));
  try {
    for (const [service, id] of [["alpha", "a-1"], ["beta", "b-1"]]) {
      register(guarded.grpc, service, id, "127.0.0.1:9301", "--token-file", join(files, "loader.token"));
    }
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push("page error: " + error.message));
    page.on("console", (message) => {
      // Chromium logs every 401 answer; anything else is a problem.
      if (message.type() === "error" && !message.text().includes("401")) errors.push("console: " + message.text());
    });
    await page.goto(guarded.http + "/", { waitUntil: "load" });
    await page.waitForSelector("#token-form", { state: "visible", timeout: WAIT_MS });
    assert.match(await page.textContent("#connection"), /401 .*bearer token/);

    // An unknown token: asked again.
    await page.fill("#token", "tok-nobody");
    await page.click("#token-form button");
    await page.waitForFunction(() => /401 .*token/.test(document.getElementById("connection").textContent) &&
                                     !document.getElementById("token-form").hidden, null, { timeout: WAIT_MS });

    // The viewer's token: alpha only, and its instances.
    await page.fill("#token", "tok-viewer");
    await page.click("#token-form button");
    const onlyAlpha = () => [...document.querySelectorAll("#services li b")].map((n) => n.textContent).join() === "alpha";
    await page.waitForFunction(onlyAlpha, null, { timeout: WAIT_MS });
    await page.click('#services li[data-name="alpha"]');
    await page.waitForSelector('#instances tr[data-id="a-1"]', { timeout: WAIT_MS });
    assert.equal(await page.isVisible("#token-form"), false);
    assert.equal(await page.isVisible("#token-forget"), true);

    // Kept across a reload of the tab, until forgotten.
    await page.reload({ waitUntil: "load" });
    await page.waitForFunction(onlyAlpha, null, { timeout: WAIT_MS });
    await page.click("#token-forget");
    await page.waitForSelector("#token-form", { state: "visible", timeout: WAIT_MS });
    assert.deepEqual(errors, []);
    console.log("dashboard under a policy: ok");
  } finally {
    guarded.child.kill("SIGTERM");
  }
}

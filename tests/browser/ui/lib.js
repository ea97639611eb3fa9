// Shared steps for the operator-UI browser tests: launch Debian's Chromium (headless) through
// playwright-core, log in, open panels, keep a screenshot of each, and collect every JavaScript
// error the page logs. Each test script calls run(async (t) => {...}) and prints one JSON
// object on stdout: {"ok": true, "steps": [...], "errors": [...], ...what the script set on t.out}.
//
// The script's argument (argv[2]) is a JSON object from the Rust test: {api, http, user,
// password, remote, shots, ...}. `api` is http://127.0.0.1:PORT; `remote: true` sends an
// X-Forwarded-For header so the server treats the browser as a remote caller that must log in.
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

async function run(body) {
  const args = JSON.parse(process.argv[2] || "{}");
  const out = { ok: false, steps: [], errors: [], console: [] };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    extraHTTPHeaders: args.remote ? { "X-Forwarded-For": "198.51.100.7" } : {},
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => out.errors.push("pageerror: " + e.message));
  page.on("console", (m) => {
    out.console.push(m.type() + ": " + m.text());
    if (m.type() === "error") out.errors.push("console: " + m.text());
  });
  page.on("dialog", (d) => d.accept());
  const t = {
    args, page, context, out,
    step(name) { out.steps.push(name); },
    // Opens the UI at #route (or the start page).
    async open(route) {
      await page.goto(args.api + "/" + (route ? "#" + route : ""));
    },
    // Logs in through the form (when the server asks for it).
    async login(user = args.user, password = args.password) {
      await page.fill("#login-user", user);
      await page.fill("#login-password", password);
      await page.click("form button[type=submit]");
    },
    // Clicks a menu entry and waits for its panel.
    async panel(route) {
      await page.click(`#menu a[data-route="${route}"]`);
      await page.waitForSelector(`main[data-panel="${route}"]`);
    },
    // Saves a screenshot of the page as SHOTS/name.png.
    async shot(name) {
      if (!args.shots) return;
      fs.mkdirSync(args.shots, { recursive: true });
      await page.screenshot({ path: path.join(args.shots, name + ".png"), fullPage: true });
    },
    // The texts of the notices shown now.
    async notices() {
      return page.$$eval("#notices .notice span", (ns) => ns.map((n) => n.textContent));
    },
    // Waits until fn() (run in the test) returns a truthy value; returns it.
    async until(what, fn, seconds = 15) {
      const end = Date.now() + seconds * 1000;
      let last;
      while (Date.now() < end) {
        try {
          last = await fn();
          if (last) return last;
        } catch (e) {
          last = e.message;
        }
        await page.waitForTimeout(250);
      }
      throw new Error("timed out waiting for " + what + " (last: " + JSON.stringify(last) + ")");
    },
    // Calls the API from the test (not through the page), for checks.
    async api(command) {
      const resp = await fetch(args.api + "/api2", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(command),
      });
      return JSON.parse(await resp.text());
    },
  };
  try {
    await body(t);
    out.ok = true;
  } catch (e) {
    out.failure = String(e && e.stack ? e.stack : e);
    try {
      await t.shot("failure-" + (out.steps[out.steps.length - 1] || "start").replace(/[^a-z0-9]+/gi, "-"));
      out.page = (await page.innerText("body")).slice(0, 3000);
    } catch (e2) { /* the page may be gone */ }
  }
  await browser.close();
  console.log(JSON.stringify(out));
}

module.exports = { run };

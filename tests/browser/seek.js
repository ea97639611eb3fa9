// Plays a media URL in a <video> in headless Chromium, seeks, and reports what happened:
// {"duration": s, "seeked": bool, "currentTime": s, "readyState": n, "error": ...} on stdout.
// Usage: node seek.js URL SECONDS_TO_SEEK_TO
const { chromium } = require("playwright-core");

(async () => {
  const [url, toArg] = process.argv.slice(2);
  const to = Number(toArg || 12);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const page = await browser.newPage();
  await page.setContent(`<video id="v" muted autoplay playsinline preload="auto" src="${url}"></video>`);
  const result = await page.evaluate(async (to) => {
    const v = document.getElementById("v");
    const wait = (ok, ms) => new Promise((resolve) => {
      const start = Date.now();
      const tick = () => (ok() || Date.now() - start > ms) ? resolve(ok()) : setTimeout(tick, 100);
      tick();
    });
    const out = {};
    out.metadata = await wait(() => v.readyState >= 1 && isFinite(v.duration), 15000);
    out.duration = v.duration;
    let seeked = false;
    v.addEventListener("seeked", () => { seeked = true; });
    v.currentTime = to;
    out.seeked = await wait(() => seeked, 15000);
    out.advanced = await wait(() => v.currentTime > to + 0.5, 15000);
    out.currentTime = v.currentTime;
    out.readyState = v.readyState;
    out.error = v.error && v.error.message;
    return out;
  }, to);
  console.log(JSON.stringify(result));
  await browser.close();
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });

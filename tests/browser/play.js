// Opens a page (or a media URL inside a <video>) in headless Chromium and reports whether a
// video element plays: {"firstTime": s, "currentTime": s, "wallSeconds": s, "readyState": n,
// "error": ...} on stdout.
// Usage: node play.js URL [seconds] [--media]
//   --media: URL is a media file; the script makes a page with <video src=URL>.
const { chromium } = require("playwright-core");

(async () => {
  const [url, secondsArg, mode] = process.argv.slice(2);
  const seconds = Number(secondsArg || 8);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required"],
  });
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  if (mode === "--media") {
    await page.setContent(`<video id="v" muted autoplay playsinline src="${url}"></video>`);
  } else {
    await page.goto(url);
  }
  const sample = () => page.evaluate(() => {
    const v = document.querySelector("video");
    if (!v) return { currentTime: 0, readyState: 0, error: "no video element", text: document.body.innerText };
    return { currentTime: v.currentTime, readyState: v.readyState, error: v.error && v.error.message, src: v.currentSrc };
  });
  // Wait for playback to start, then see how far it moves in the remaining time.
  const start = Date.now();
  let first = await sample();
  while (Date.now() - start < seconds * 500 && !(first.currentTime > 0)) {
    await page.waitForTimeout(250);
    first = await sample();
  }
  const t0 = Date.now();
  await page.waitForTimeout(Math.max(1000, seconds * 1000 - (t0 - start)));
  const result = await sample();
  result.firstTime = first.currentTime;
  result.wallSeconds = (Date.now() - t0) / 1000;
  result.logs = logs;
  console.log(JSON.stringify(result));
  await browser.close();
})().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });

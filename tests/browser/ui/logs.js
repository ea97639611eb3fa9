// The Logs panel: lines appear without a reload, the kind and stream filters, pause.
// args: {api, remote, rtmp: "rtmp://127.0.0.1:PORT/live/live", clip: "path to an FLV clip"}.
// The script publishes the clip with ffmpeg once the panel is open (a new STRM line about
// `live`) and adds a stream through the API (a new CONF line about it).
const { spawn } = require("child_process");
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  const rows = () => page.$$eval("#logs-list tbody tr.log-line", (trs) => trs.map((tr) => ({
    kind: tr.children[1].textContent, stream: tr.children[2].textContent, message: tr.children[3].textContent,
  })));
  let ffmpeg = null;
  try {
    t.step("open the logs panel");
    await t.open("logs");
    if (args.remote) {
      await page.waitForSelector("#login-user");
      await t.login();
    }
    await page.waitForSelector('main[data-panel="logs"]');
    const first = await t.until("the start-up lines", async () => {
      const r = await rows();
      return r.some((x) => x.message.includes("listening on")) && r;
    });
    t.out.firstCount = first.length;
    // A mark that a reload would lose.
    await page.evaluate(() => { window.__notReloaded = true; });

    t.step("publish with ffmpeg: a new line appears");
    ffmpeg = spawn("ffmpeg", ["-v", "error", "-re", "-stream_loop", "-1", "-i", args.clip, "-c", "copy", "-f", "flv", args.rtmp],
      { stdio: "ignore" });
    const published = await t.until("the publishing line", async () => {
      const r = await rows();
      return r.find((x) => x.kind === "STRM" && x.message.includes("publishing live"));
    }, 20);
    t.out.publishedLine = published;
    // Newest first: the publishing line is above the start-up lines.
    const order = await rows();
    t.out.newestFirst = order.findIndex((x) => x === published || x.message === published.message) <
      order.findIndex((x) => x.message.includes("listening on"));

    t.step("add a stream: another new line appears");
    await t.api({ addstream: { logcam: { source: "push://" } } });
    t.out.addedLine = await t.until("the added-stream line", async () => {
      const r = await rows();
      return r.find((x) => x.kind === "CONF" && x.message.includes("logcam"));
    });
    t.out.notReloaded = await page.evaluate(() => window.__notReloaded === true);
    await t.shot("logs");

    t.step("the kind filter");
    const kinds = await page.$$eval("#logs-kind option", (os) => os.map((o) => o.value));
    t.out.kinds = kinds;
    await page.selectOption("#logs-kind", "STRM");
    const strm = await t.until("only STRM lines", async () => {
      const r = await rows();
      return r.length && r.every((x) => x.kind === "STRM") && r;
    });
    t.out.strmRows = strm.length;
    t.out.allRowsAtStrm = (await page.textContent("#logs-count"));
    await page.selectOption("#logs-kind", "CONF");
    const conf = await t.until("only CONF lines", async () => {
      const r = await rows();
      return r.length && r.every((x) => x.kind === "CONF") && r;
    });
    t.out.confHasPublish = conf.some((x) => x.message.includes("publishing"));
    await page.selectOption("#logs-kind", "@problems");
    t.out.problemRows = await rows();
    await page.selectOption("#logs-kind", "");

    t.step("the stream filter");
    const streams = await page.$$eval("#logs-stream option", (os) => os.map((o) => o.value));
    t.out.streamOptions = streams;
    await page.selectOption("#logs-stream", "live");
    const live = await t.until("only lines about live", async () => {
      const r = await rows();
      return r.length && r.every((x) => x.stream === "live" || /\blive\b/.test(x.message)) && r;
    });
    t.out.liveRows = live;
    await page.selectOption("#logs-stream", "logcam");
    t.out.logcamRows = await t.until("only lines about logcam", async () => {
      const r = await rows();
      return r.length && r.every((x) => x.stream === "logcam" || x.message.includes("logcam")) && r;
    });
    // A line that names no stream but mentions one in its text counts for it (and for its
    // wildcard parent); a longer name does not.
    t.out.mentions = await page.evaluate(() => [
      UI.logMatchesStream([0, "INFO", "Stream live+cam went away", ""], "live"),
      UI.logMatchesStream([0, "INFO", "Stream live went away", ""], "live"),
      UI.logMatchesStream([0, "INFO", "Stream lively went away", ""], "live"),
      UI.logMatchesStream([0, "INFO", "Buffer full", "live+cam"], "live"),
    ]);
    await t.shot("logs-stream-filter");
    await page.selectOption("#logs-stream", "");

    t.step("pause holds new lines back");
    await page.click("#logs-pause");
    await t.api({ addstream: { pausedcam: { source: "push://" } } });
    await t.until("the pause button counts the new line", async () => /Resume \(\d+ new\)/.test(await page.textContent("#logs-pause")));
    t.out.hiddenWhilePaused = !(await rows()).some((x) => x.message.includes("pausedcam"));
    await page.click("#logs-pause");
    t.out.shownAfterResume = !!(await t.until("the held line", async () => (await rows()).find((x) => x.message.includes("pausedcam"))));
  } finally {
    if (ffmpeg) ffmpeg.kill("SIGKILL");
  }
});

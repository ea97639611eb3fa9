// The Push panel, as an operator uses it (remote, so logged in):
// - the automatic-push form refuses a target Eddy cannot record to, then adds a rule for every
//   live+… stream (but not live+skip) to a file in args.recDir;
// - ffmpeg publishes live+cam and live+skip (args.publish, args.publishSkip: ffmpeg arguments);
// - the recording of live+cam appears in the running pushes with growing bytes, and its file on
//   disk grows; live+skip gets no push; the log lines open on demand;
// - it is stopped from the table, then the rule is removed;
// - "start a push" starts a one-off recording, which is stopped from the table too;
// - the push settings are changed (args.wait, args.maxspeed).
// Reports the recorded files (t.out.autoFile, t.out.manualFile) for the test to probe.
const { run } = require("./lib");
const { spawn } = require("child_process");
const fs = require("fs");

run(async (t) => {
  const { page, args } = t;
  const publishers = [];
  const rows = async () => page.$$eval("#push-running tbody tr[data-push-id]", (trs) => trs.map((tr) => ({
    id: Number(tr.dataset.pushId), text: tr.innerText, bytes: tr.querySelector(".push-bytes").textContent,
  })));
  const pushList = async () => (await t.api({ push_list: true })).push_list || [];
  try {
    t.step("log in and open the Push panel");
    await t.open("push");
    await page.waitForSelector("#login-user");
    await t.login();
    await page.waitForSelector('main[data-panel="push"]');
    await t.until("the empty tables", async () => (await page.textContent("#push-running")).includes("No push is running"));
    await t.until("the settings", async () => (await page.inputValue("#push-wait")) !== "");

    t.step("the automatic-push form checks the target");
    await page.click("#push-auto-new");
    await page.waitForSelector("#push-auto-stream");
    await page.fill("#push-auto-stream", "live+");
    await page.fill("#push-auto-target", args.recDir + "/$stream.avi");
    await t.until("the preview's complaint", async () => (await page.textContent("#push-target-preview")).includes(".flv, .ts, .mp4"));
    await page.click("#push-auto-save");
    t.out.badTarget = await page.textContent("#push-problem");
    if (!t.out.badTarget.includes("extension picks the container")) throw new Error("no complaint about .avi: " + t.out.badTarget);
    if (Object.keys((await t.api({ push_auto_list: true })).auto_push || {}).length) throw new Error("a bad rule was sent");

    t.step("add the automatic push");
    await page.fill("#push-auto-target", args.recDir + "/auto/$stream.mp4");
    const where = await t.until("the file preview", async () => {
      const text = await page.textContent("#push-target-preview");
      return text.includes("The file goes to") && text;
    });
    if (!where.includes(args.recDir + "/auto/live+example.mp4")) throw new Error("preview: " + where);
    t.out.hintLink = await page.getAttribute("#push-recording-hint a", "href");
    await page.click("#push-auto-optional summary");
    await page.fill("#push-auto-inhibit", "live+skip");
    await t.shot("push-auto-form");
    await page.click("#push-auto-save");
    await page.waitForSelector('main[data-panel="push"] #push-auto');
    await t.until("the rule in the table", async () => (await page.textContent("#push-auto")).includes("never for live+skip"));

    t.step("publish live+cam and live+skip");
    for (const a of [args.publish, args.publishSkip]) {
      const p = spawn("ffmpeg", a, { stdio: ["ignore", "ignore", "pipe"] });
      p.stderr.on("data", () => {});
      publishers.push(p);
    }

    t.step("the recording appears with growing bytes");
    const first = await t.until("a running push of live+cam", async () => {
      const r = (await rows()).find((x) => x.text.includes("live+cam") && x.text.includes("Recording to") && !/^0 B$/.test(x.bytes));
      return r;
    }, 30);
    const later = await t.until("the bytes to grow in the table", async () => {
      const r = (await rows()).find((x) => x.id === first.id);
      return r && r.bytes !== first.bytes && r;
    }, 20);
    t.out.bytesShown = [first.bytes, later.bytes];
    const row = (await pushList()).find((p) => p[0] === first.id);
    t.out.autoFile = row[3];
    const size1 = fs.statSync(row[3]).size;
    await page.waitForTimeout(2000);
    const size2 = fs.statSync(row[3]).size;
    if (!(size2 > size1 && size1 > 0)) throw new Error("the file does not grow: " + size1 + " then " + size2);
    t.out.inTable = later.text;
    const skipped = (await pushList()).filter((p) => p[1] === "live+skip");
    if (skipped.length) throw new Error("live+skip got a push: " + JSON.stringify(skipped));
    if (!(await t.api({ active_streams: true })).active_streams.includes("live+skip")) throw new Error("live+skip is not live, so its inhibit proves nothing");

    t.step("the log lines on demand");
    await page.click("#push-logs-" + first.id);
    await t.until("the log lines", async () => (await page.textContent("#push-log-" + first.id)).includes("Recording live+cam"));
    await t.shot("push-running");

    t.step("stop it from the table");
    await page.click("#push-stop-" + first.id);
    await t.until("the push gone from the table", async () => !(await rows()).some((x) => x.id === first.id), 15);
    if ((await pushList()).some((p) => p[0] === first.id)) throw new Error("push_list still has the push");
    t.out.stopNotice = (await t.notices()).join(" | ");

    t.step("remove the rule");
    await page.click("#push-auto tbody button.danger");
    await t.until("the rule gone", async () => (await page.textContent("#push-auto")).includes("No automatic push"));
    t.out.rulesLeft = (await t.api({ push_auto_list: true })).push_auto_list;

    t.step("start a one-off push");
    await page.click("#push-new");
    await page.waitForSelector("#push-stream");
    await page.fill("#push-stream", "live+cam");
    await page.fill("#push-target", "ftp://example.com/x.ts");
    await page.click("#push-start");
    t.out.badScheme = await page.textContent("#push-problem");
    await page.fill("#push-target", args.recDir + "/manual-$basename.ts");
    await t.until("the preview", async () => (await page.textContent("#push-target-preview")).includes(args.recDir + "/manual-live.ts"));
    await t.shot("push-start-form");
    await page.click("#push-start");
    await page.waitForSelector('main[data-panel="push"] #push-running');
    const manual = await t.until("the one-off push in the table", async () =>
      (await rows()).find((x) => x.text.includes("manual-live.ts") && !/^0 B$/.test(x.bytes)), 20);
    t.out.manualFile = (await pushList()).find((p) => p[0] === manual.id)[3];
    await page.waitForTimeout(3000);
    await page.click("#push-stop-" + manual.id);
    await t.until("the one-off push gone", async () => !(await rows()).length, 15);

    t.step("push settings");
    await page.fill("#push-wait", "-1");
    await page.click("#push-settings-save");
    t.out.badWait = await page.textContent("#push-settings-problem");
    await page.fill("#push-wait", String(args.wait));
    await page.fill("#push-maxspeed", String(args.maxspeed));
    await page.click("#push-settings-save");
    await t.until("the saved notice", async () => (await t.notices()).some((n) => n.includes("Push settings saved")));
    await t.shot("push-panel");
  } finally {
    for (const p of publishers) p.kill("SIGKILL");
  }
});

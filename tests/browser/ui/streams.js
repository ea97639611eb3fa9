// The Streams panel with a live stream, as an operator uses it (the Rust test publishes and plays
// with ffmpeg; the two sides meet through files in args.sync):
//   create a stream through the form (a bad name first), open its preview while it is offline
//   ("created" -> the test publishes NAME and NAME+cam2), watch the preview play, see the row go
//   Active with the ffmpeg viewer ("viewer") and the indented wildcard row, read and fetch the
//   embed URLs, use a different host, edit the stream, Stop sessions ("stop-clicked" ->
//   "viewer-gone" once the ffmpeg viewer was disconnected), delete the stream.
const { run } = require("./lib");
const fs = require("fs");
const path = require("path");

run(async (t) => {
  const { page, args } = t;
  const name = args.stream;
  const mark = (f) => fs.writeFileSync(path.join(args.sync, f), String(Date.now()));
  const marked = (f) => fs.existsSync(path.join(args.sync, f));
  const row = (n) => `#streams-list tr[data-stream="${n}"]`;
  const cell = async (n, cls) => ((await page.textContent(`${row(n)} td.${cls}`)) || "").trim();
  const config = async () => ((await t.api({ streams: true })).streams || {})[name];

  t.step("log in");
  await t.open("streams");
  await page.waitForSelector("#login-user");
  await t.login();
  await page.waitForSelector('main[data-panel="streams"]');
  await t.until("the empty list", async () => (await page.textContent("#streams-list")).includes("No stream is configured"));

  t.step("a bad name is refused in the page");
  await page.click("#streams-new");
  await page.waitForSelector("#stream-form");
  await page.fill("#stream-name", "Bad Name!");
  await page.click("#stream-save");
  t.out.badNameMessage = await t.until("the name rule", async () => {
    const text = await page.textContent("#stream-name-problem");
    return text.includes("lowercase") && text;
  });
  await page.waitForTimeout(500);
  t.out.streamsAfterBadName = Object.keys((await t.api({ streams: true })).streams || {});

  t.step("a good name with a segment size");
  await page.fill("#stream-name", name);
  await page.fill("#stream-opt-segmentsize", "2500");
  t.out.sourceShown = await page.inputValue("#stream-source");
  await t.shot("form-new");
  await page.click("#stream-save");
  await page.waitForSelector(row(name));
  t.out.created = await config();
  await t.shot("list-offline");

  t.step("the preview says the stream is offline");
  await page.click(`[id="streams-preview-${name}"]`);
  await page.waitForSelector('main[data-panel="preview"]');
  t.out.menuCurrent = await page.textContent("#menu a.current");
  await t.until("the offline message", async () => (await page.textContent("#preview-state")).includes("offline"));
  mark("created");

  t.step("the preview plays once the stream is published");
  const time = () => page.$eval("#preview-video", (v) => v.currentTime);
  const first = await t.until("playback to start", async () => {
    const now = await time();
    return now > 0 && now;
  }, 60);
  const later = await t.until("playback to advance 4 s", async () => {
    const now = await time();
    return now >= first + 4 && now;
  }, 30);
  t.out.playedSeconds = later - first;
  t.out.previewSource = await page.$eval("#preview-video", (v) => v.currentSrc);
  t.out.sourceOptions = await page.$$eval("#preview-source option", (os) => os.map((o) => o.textContent));
  t.out.meta = await page.textContent("#preview-meta");
  t.out.playerLog = await page.textContent("#preview-log");
  await t.shot("preview");

  t.step("the list shows the stream active with the viewer and the wildcard stream");
  await t.panel("streams");
  await t.until("the ffmpeg viewer", async () => marked("viewer"), 60);
  await t.until("the row active with a viewer", async () =>
    (await cell(name, "streams-status")) === "Active" && Number(await cell(name, "streams-viewers")) >= 1, 20);
  t.out.viewers = Number(await cell(name, "streams-viewers"));
  t.out.inputs = Number(await cell(name, "streams-inputs"));
  await page.waitForSelector(`${row(name + "+cam2")}.child`);
  t.out.childStatus = await cell(name + "+cam2", "streams-status");
  t.out.rowOrder = await page.$$eval("#streams-list tbody tr", (trs) => trs.map((tr) => tr.dataset.stream));
  await t.shot("list-active");

  t.step("embed: the URLs answer");
  await page.click(`[id="streams-embed-${name}"]`);
  await page.waitForSelector('main[data-panel="embed"]');
  await t.until("the protocol URLs", async () => (await page.$$("#embed-urls input.embed-proto-url")).length >= 2, 20);
  t.out.embedCode = await page.inputValue("#embed-code");
  t.out.embedScriptUrl = await page.inputValue("#embed-script-url");
  t.out.jsonUrl = await page.inputValue("#embed-json-url");
  t.out.infoUrl = await page.inputValue("#embed-info-url");
  t.out.htmlUrl = await page.inputValue("#embed-html-url");
  t.out.protocolUrls = await page.$$eval("#embed-urls input.embed-proto-url", (is) => is.map((i) => i.value));
  const script = await fetch(t.out.embedScriptUrl);
  t.out.embedScriptType = script.headers.get("content-type");
  t.out.embedScriptHasName = (await script.text()).includes(JSON.stringify(name));
  const json = await fetch(t.out.jsonUrl);
  t.out.jsonType = json.headers.get("content-type");
  const info = JSON.parse(await json.text());
  t.out.jsonSourceTypes = (info.source || []).map((s) => s.type);
  await t.shot("embed");
  await page.click("#embed-json-url-copy");
  t.out.copyNotice = await t.until("the copy notice", async () => (await t.notices()).find((n) => /Copied|selected/.test(n)));

  t.step("embed: a different host");
  await page.fill("#embed-host", "media.example.com");
  await t.until("URLs on the other host", async () => (await page.inputValue("#embed-json-url")).includes("//media.example.com:"));
  t.out.otherHost = {
    json: await page.inputValue("#embed-json-url"),
    code: await page.inputValue("#embed-code"),
    protocols: await page.$$eval("#embed-urls input.embed-proto-url", (is) => is.map((i) => i.value)),
  };
  await page.fill("#embed-host", "https://cdn.example.com/video/");
  await t.until("URLs under the other base", async () => (await page.inputValue("#embed-json-url")).startsWith("https://cdn.example.com/video/"));
  t.out.otherBase = { json: await page.inputValue("#embed-json-url"), script: await page.inputValue("#embed-script-url") };
  await page.fill("#embed-host", "not a host/");
  await t.until("the host problem", async () => (await page.textContent("#embed-host-problem")).length > 0);
  await t.shot("embed-other-host");

  t.step("edit: a script's key is kept, the changed fields are stored");
  const before = Object.assign({}, await config());
  for (const k of ["online", "error", "name"]) delete before[k];
  await t.api({ addstream: { [name]: Object.assign(before, { comment: "set by a script" }) } });
  await t.panel("streams");
  await page.click(`[id="streams-edit-${name}"]`);
  await page.waitForSelector("#stream-form");
  t.out.nameReadOnly = await page.$eval("#stream-name", (i) => i.readOnly);
  t.out.segmentShown = await page.inputValue("#stream-opt-segmentsize");
  t.out.keptNote = await page.textContent("#stream-kept");
  await page.fill("#stream-opt-segmentsize", "3000");
  await page.fill("#stream-debug", "5");
  await t.shot("form-edit");
  await page.click("#stream-save");
  await page.waitForSelector(row(name));
  t.out.edited = await config();

  t.step("stop sessions disconnects the viewer and the publisher");
  await t.until("the viewer still there", async () => Number(await cell(name, "streams-viewers")) >= 1, 20);
  mark("stop-clicked");
  await page.click(`[id="streams-stop-${name}"]`);
  await t.until("the ffmpeg viewer disconnected", async () => marked("viewer-gone"), 20);
  await t.until("no session left on the row", async () =>
    Number(await cell(name, "streams-viewers")) === 0 && Number(await cell(name, "streams-inputs")) === 0, 20);

  t.step("delete");
  await page.click(`[id="streams-delete-${name}"]`);
  await t.until("the row gone", async () => !(await page.$(row(name))), 10);
  t.out.afterDelete = Object.keys((await t.api({ streams: true })).streams || {});
  t.out.notices = await t.notices();
});

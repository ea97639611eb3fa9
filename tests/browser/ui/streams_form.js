// The stream form's details, with no media (a local browser, let straight in):
//   a file source picked with Browse (into a subfolder, "use this folder", back up, a file), with
//   the note that no input reads it; a stream a STREAM_ADD trigger refuses; a push:// source built
//   from host and passphrase (a bad passphrase first) with the Buffer input's options, always on
//   and debug; an edit that keeps a key the form does not show; a stream with no source.
// args.media is a folder on the server holding a.mp4 and clips/b.mkv.
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  const row = (n) => `#streams-list tr[data-stream="${n}"]`;
  const streams = async () => (await t.api({ streams: true })).streams || {};
  const names = () => page.$$eval("#stream-browse-list [data-name]", (bs) => bs.map((b) => b.dataset.name));
  const newStream = async () => {
    await t.open("streams");
    await page.waitForSelector('main[data-panel="streams"]');
    await page.click("#streams-new");
    await page.waitForSelector("#stream-form");
  };

  t.step("a file source through Browse");
  await newStream();
  await page.fill("#stream-name", "vod_files");
  await page.selectOption("#stream-source-type", "file");
  t.out.sourceAfterType = await page.inputValue("#stream-source");
  await page.click("#stream-browse");
  await page.waitForSelector("#stream-browse-dialog[open]");
  await page.fill("#stream-browse-path", args.media);
  await page.click("#stream-browse-go");
  await page.waitForSelector('#stream-browse-list .browse-file[data-name="a.mp4"]');
  t.out.listed = await names();
  await t.shot("browse");
  await page.click('#stream-browse-list .browse-dir[data-name="clips"]');
  await page.waitForSelector('#stream-browse-list .browse-file[data-name="b.mkv"]');
  t.out.subListed = await names();
  await page.click("#stream-browse-use-folder");
  await page.waitForSelector("#stream-browse-dialog", { state: "hidden" });
  t.out.folderPicked = await page.inputValue("#stream-source");

  t.step("browse again: up, then a file");
  await page.click("#stream-browse");
  await page.waitForSelector('#stream-browse-list .browse-file[data-name="b.mkv"]');
  await page.click("#stream-browse-list .browse-up");
  await page.waitForSelector('#stream-browse-list .browse-file[data-name="a.mp4"]');
  await page.click('#stream-browse-list .browse-file[data-name="a.mp4"]');
  await page.waitForSelector("#stream-browse-dialog", { state: "hidden" });
  t.out.picked = await page.inputValue("#stream-source");
  // An MP4 has an input: no note. A source no input reads gets one.
  t.out.pickedNoteHidden = await page.isHidden("#stream-source-note");
  await page.fill("#stream-source", "/srv/notes.txt");
  await page.waitForSelector("#stream-source-note", { state: "visible" });
  t.out.fileNote = await page.textContent("#stream-source-note");
  await t.shot("form-file-note");
  await page.fill("#stream-source", t.out.picked);
  await page.waitForSelector("#stream-source-note", { state: "hidden" });
  await t.shot("form-file");
  await page.click("#stream-save");
  await page.waitForSelector(row("vod_files"));
  await t.until("the server's status in the list", async () => (await page.textContent(`${row("vod_files")} td.streams-status`)).includes("Available"));
  t.out.vodStatus = await page.textContent(`${row("vod_files")} td.streams-status`);

  t.step("a stream the STREAM_ADD trigger refuses");
  await page.click("#streams-new");
  await page.waitForSelector("#stream-form");
  await page.fill("#stream-name", "blocked");
  await page.click("#stream-save");
  t.out.refusedMessage = await t.until("the refusal", async () => (await t.notices()).find((n) => n.includes("blocked")));
  t.out.stillOnForm = !!(await page.$("#stream-form"));
  await t.shot("refused");

  t.step("a stream with no source is refused in the page");
  await page.click("#stream-cancel");
  await page.waitForSelector("#streams-new");
  await page.click("#streams-new");
  await page.waitForSelector("#stream-form");
  await page.fill("#stream-name", "nosrc");
  await page.selectOption("#stream-source-type", "other");
  await page.fill("#stream-source", "");
  await page.click("#stream-save");
  t.out.noSourceMessage = await t.until("the source message", async () => (await page.textContent("#stream-source-problem")) || "");

  t.step("push:// from host and passphrase, with options");
  await page.fill("#stream-name", "guarded");
  await page.selectOption("#stream-source-type", "push");
  await page.fill("#stream-push-host", "127.0.0.1");
  await page.fill("#stream-push-pass", "a b");
  await page.click("#stream-save");
  t.out.badPassMessage = await t.until("the passphrase message", async () => (await page.textContent("#stream-push-pass-problem")) || "");
  await page.fill("#stream-push-pass", "s3cret");
  t.out.builtSource = await page.inputValue("#stream-source");
  t.out.publishHint = await page.textContent("#stream-publish-url");
  await page.fill("#stream-opt-DVR", "20000");
  await page.selectOption("#stream-opt-resume", "1");
  await page.check("#stream-always-on");
  await page.fill("#stream-debug", "7");
  await page.click("#stream-save");
  await page.waitForSelector(row("guarded"));
  t.out.createdGuarded = (await streams()).guarded;

  t.step("edit keeps what the form does not show");
  const cfg = Object.assign({}, t.out.createdGuarded, { comment: "set by a script" });
  for (const k of ["online", "error", "name"]) delete cfg[k];
  await t.api({ addstream: { guarded: cfg } });
  await page.click('[id="streams-edit-guarded"]');
  await page.waitForSelector("#stream-form");
  t.out.guardedShown = [
    await page.inputValue("#stream-push-host"), await page.inputValue("#stream-push-pass"),
    await page.inputValue("#stream-opt-DVR"), await page.isChecked("#stream-always-on"),
  ];
  await page.uncheck("#stream-always-on");
  await page.fill("#stream-opt-DVR", "");
  await page.click("#stream-save");
  await page.waitForSelector(row("guarded"));
  t.out.editedGuarded = (await streams()).guarded;
  await t.shot("list");
});

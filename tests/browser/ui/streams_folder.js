// A folder stream in the Streams panel (manual §3.3.6.1): its playable files are listed under it
// as NAME+FILENAME (other files are not), each Available, and a file's Preview plays it.
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  const row = (n) => `#streams-list tr[data-stream="${n}"]`;
  const cell = async (n, cls) => ((await page.textContent(`${row(n)} td.${cls}`)) || "").trim();
  const file = args.stream + "+" + args.file;

  t.step("the folder's files under it");
  await t.open("streams");
  await page.waitForSelector(row(file));
  t.out.rows = await page.$$eval("#streams-list tr[data-stream]", (rs) => rs.map((r) => r.dataset.stream));
  t.out.fileStatus = await cell(file, "streams-status");
  t.out.fileSource = await cell(file, "streams-source");
  await t.shot("folder-rows");

  t.step("a file's preview plays");
  await page.click(`${row(file)} button.streams-preview`);
  await page.waitForSelector('main[data-panel="preview"]');
  const time = () => page.$eval("#preview-video", (v) => v.currentTime);
  const first = await t.until("playback to start", async () => {
    const now = await time();
    return now > 0 && now;
  }, 60);
  t.out.played = await t.until("playback to advance 2 s", async () => {
    const now = await time();
    return now >= first + 2 && now;
  }, 30);
  t.out.previewSource = await page.$eval("#preview-video", (v) => v.currentSrc);
  await t.shot("folder-preview");
});

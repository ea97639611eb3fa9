// The Statistics panel: the sessions table with two ffmpeg viewers and the publisher, the
// charts, "Tag session", "Stop tag" and "Stop session".
// args: {api, remote, viewerA: {sessid, pid}, viewerB: {sessid, pid}, publisher: {pid}}: the
// viewers are ffmpeg processes the test started (HTTP-FLV); A gets tagged and stopped by its
// tag, B is stopped by its session.
const fs = require("fs");
const { run } = require("./lib");

// Whether a process the test started is still running (an exited child the test has not
// reaped yet is a zombie).
function alive(pid) {
  try {
    const stat = fs.readFileSync("/proc/" + pid + "/stat", "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch (e) {
    return false;
  }
}

run(async (t) => {
  const { page, args } = t;
  const A = args.viewerA, B = args.viewerB;
  const row = (id) => `#stats-sessions tr[data-sessid="${id}"]`;
  const cells = (id) => page.$eval(row(id), (tr) => [...tr.children].map((td) => td.innerText.trim()));

  t.step("open the statistics panel");
  await t.open("statistics");
  if (args.remote) {
    await page.waitForSelector("#login-user");
    await t.login();
  }
  await page.waitForSelector('main[data-panel="statistics"]');

  t.step("the sessions table lists the viewers and the publisher");
  await page.waitForSelector(row(A.sessid));
  await page.waitForSelector(row(B.sessid));
  t.out.rowA = await cells(A.sessid);
  t.out.rowB = await cells(B.sessid);
  t.out.rows = await page.$$eval("#stats-sessions tbody tr.stats-session", (trs) => trs.map((tr) => [...tr.children].map((td) => td.innerText.trim())));

  t.step("the viewers chart has points above zero");
  t.out.viewersLegend = await t.until("two viewers in the chart", async () => {
    const legend = await page.textContent("#stats-chart-viewers .legend");
    return /All streams: 2\b/.test(legend) && legend;
  });
  // The line's lowest point (largest y) and highest point (smallest y) in the SVG.
  t.out.viewersLine = await page.$eval('#stats-chart-viewers path.line[data-series="All streams"]', (p) => {
    const ys = [...p.getAttribute("d").matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
    const base = Number(p.ownerSVGElement.querySelector("line.axis").getAttribute("y1"));
    return { points: ys.length, above: ys.filter((y) => y < base - 1).length };
  });
  t.out.viewersFigure = await page.textContent("#stats-fig-viewers .value");
  t.out.downLegend = await page.textContent("#stats-chart-down .legend");
  await t.shot("statistics");

  t.step("tag session A: the form checks the tag");
  await page.click(`button.stats-tag-session[data-sessid="${A.sessid}"]`);
  await page.waitForSelector("#stats-tag-dialog[open]");
  await page.click("#stats-tag-save");
  t.out.emptyTagMessage = await t.until("the empty-tag message", async () => page.textContent("#stats-tag-problem"));
  await page.fill("#stats-tag-input", "bad[tag]");
  await page.click("#stats-tag-save");
  t.out.badTagMessage = await t.until("the bracket message", async () => {
    const m = await page.textContent("#stats-tag-problem");
    return m.includes("[") && m;
  });
  await t.shot("statistics-tag-form");
  await page.fill("#stats-tag-input", "vip-a");
  await page.click("#stats-tag-save");
  await t.until("the tag in A's row", async () => (await page.textContent(row(A.sessid) + " td.stats-tags-cell")).includes("vip-a"));
  t.out.rowATagged = await cells(A.sessid);
  t.out.rowBAfterTag = await cells(B.sessid);
  t.out.tagNotice = (await t.notices()).find((n) => n.startsWith("Tagged")) || null;
  const api = await t.api({ clients: { fields: ["sessid", "tags"] } });
  t.out.apiTags = api.clients;
  await page.waitForSelector('#stats-tags .stats-tag[data-tag="vip-a"]');
  await t.shot("statistics-tagged");

  t.step("stop tag: viewer A disconnects");
  t.out.aliveBeforeStopTag = { a: alive(A.pid), b: alive(B.pid) };
  await page.click('button.stats-stop-tag[data-tag="vip-a"]');
  await t.until("A's ffmpeg exits", async () => !alive(A.pid), 15);
  await t.until("A's row goes", async () => !(await page.$(row(A.sessid))), 15);
  t.out.afterStopTag = { a: alive(A.pid), b: alive(B.pid), rowB: !!(await page.$(row(B.sessid))) };
  t.out.stopTagNotice = await t.until("the stop-tag notice", async () => (await t.notices()).find((n) => n.startsWith("Stopped the sessions tagged")));

  t.step("stop session: viewer B disconnects");
  await page.click(`button.stats-stop-session[data-sessid="${B.sessid}"]`);
  await t.until("B's ffmpeg exits", async () => !alive(B.pid), 15);
  await t.until("B's row goes", async () => !(await page.$(row(B.sessid))), 15);
  t.out.afterStopSession = { b: alive(B.pid), publisher: alive(args.publisher.pid) };
  t.out.stopSessionNotice = await t.until("the stop notice", async () => (await t.notices()).find((n) => n.startsWith("Stopped session")));
  t.out.rowsAfter = await page.$$eval("#stats-sessions tbody tr.stats-session", (trs) => trs.map((tr) => tr.dataset.sessid));

  t.step("pick the stream");
  await page.selectOption("#stats-stream", "live");
  await t.until("the stream's line", async () => (await page.textContent("#stats-chart-viewers .legend")).startsWith("live"));
  t.out.hash = await page.evaluate(() => location.hash);
  await t.shot("statistics-after");
});

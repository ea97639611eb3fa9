// The Server stats panel: the charts get points, the figures are plausible, Eddy's uptime
// advances, and the page keeps what it measured when another panel is shown in between.
// args: {api, remote}.
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  const points = (chart) => page.$eval(`#server-chart-${chart} svg`, (s) => Number(s.dataset.points || 0));

  t.step("open the server stats panel");
  await t.open("server");
  if (args.remote) {
    await page.waitForSelector("#login-user");
    await t.login();
  }
  await page.waitForSelector('main[data-panel="server"]');
  const uptime0 = Number(await t.until("the first figures", async () => page.$eval("#server-figures", (f) => f.dataset.uptime)));
  t.out.uptime0 = uptime0;

  t.step("the charts fill");
  await t.until("three measurements", async () => (await page.evaluate(() => UI.serverHistory.points.length)) >= 3, 20);
  t.out.chartPoints = {};
  for (const c of ["cpu", "mem", "rss", "load"]) t.out.chartPoints[c] = await points(c);
  t.out.lines = await page.$$eval(".charts path.line", (ps) => ps.map((p) => p.dataset.series));
  t.out.history = await page.evaluate(() => UI.serverHistory.points);
  t.out.uptime1 = Number(await page.$eval("#server-figures", (f) => f.dataset.uptime));
  t.out.figures = await page.$$eval("#server-figures .figure", (fs) => Object.fromEntries(fs.map((f) => [f.id, f.innerText.replace(/\s+/g, " ")])));
  t.out.machine = await page.textContent("#server-machine");
  await t.shot("server");

  t.step("the chart breaks its lines at gaps; totals times come from interval");
  t.out.chartGaps = await page.evaluate(() => {
    const t0 = Math.floor(Date.now() / 1000) - 300;
    const c = UI.chart("Gaps", [{ name: "a", points: [[t0, 1], [t0 + 5, 2], [t0 + 100, 3], [t0 + 105, null], [t0 + 110, 4], [t0 + 115, 5]] }],
      { seconds: 600, gap: 20 });
    document.getElementById("main").append(c.el);
    const d = c.el.querySelector("path.line").getAttribute("d");
    const dots = c.el.querySelectorAll("circle.dot").length;
    c.el.remove();
    return { moves: (d.match(/M/g) || []).length, dots };
  });
  t.out.totalsPoints = await page.evaluate(() => UI.totalsPoints(
    { start: 1000, end: 1011, fields: ["clients", "downbps"], data: [[1, 10], [2, 20], [3, 30]], interval: [[1, 10], [1, 1]] }, "downbps"));
  t.out.totalsNull = await page.evaluate(() => UI.totalsPoints({ start: null, end: null, data: null, interval: null, fields: ["clients"] }, "clients"));

  t.step("the page keeps its measurements across panels");
  const before = await page.evaluate(() => UI.serverHistory.points.length);
  await t.panel("overview");
  await t.panel("server");
  await t.until("one more measurement", async () => (await page.evaluate(() => UI.serverHistory.points.length)) > before);
  t.out.keptPoints = { before, after: await page.evaluate(() => UI.serverHistory.points.length) };
});

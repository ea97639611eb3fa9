// Login, the first-time set-up, the Overview panel and the Protocols panel.
// args.mode:
//   "setup": a server with no account; the browser is remote: it creates the account through
//            the set-up page (with the default protocols), lands in the panels, logs out and in.
//   "login": a server with an account; remote: a wrong password first, then the right one; then
//            the Overview (name, debug level, force save) and Protocols (add, edit, delete).
//   "local": a local caller on a server with an account is let straight in.
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  if (args.mode === "setup") {
    t.step("set-up page");
    await t.open("");
    await page.waitForSelector('main[data-panel="setup"]');
    await t.shot("setup");
    await page.fill("#setup-user", args.user);
    await page.fill("#setup-password", args.password);
    await page.fill("#setup-password2", args.password + "x");
    await page.click("form button[type=submit]");
    await t.until("the mismatch message", async () => (await page.textContent("#setup-message")).includes("differ"));
    await page.fill("#setup-password2", args.password);
    await page.click("form button[type=submit]");
    t.step("panels after set-up");
    await page.waitForSelector("#menu a[data-route=overview]");
    await page.waitForSelector('main[data-panel="overview"]');
    t.out.who = await page.textContent("#who");
    t.step("protocols enabled by the set-up");
    await t.panel("protocols");
    await t.until("protocol rows", async () => (await page.$$("#protocol-list tbody tr")).length >= 3);
    t.out.protocolRows = await page.$$eval("#protocol-list tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
    t.step("log out and in");
    await page.click("#logout");
    await page.waitForSelector("#login-user");
    await t.login();
    await page.waitForSelector('main[data-panel="protocols"]');
    return;
  }

  if (args.mode === "local") {
    t.step("local caller");
    await t.open("");
    await page.waitForSelector('main[data-panel="overview"]');
    t.out.who = await page.textContent("#who");
    t.out.logoutHidden = await page.isHidden("#logout");
    return;
  }

  t.step("wrong password");
  await t.open("overview");
  await page.waitForSelector("#login-user");
  await t.shot("login");
  await t.login(args.user, "not-the-password");
  await t.until("the wrong-password message", async () => (await page.textContent("#login-message")).includes("Wrong"));
  t.out.wrongMessage = await page.textContent("#login-message");
  t.out.menuHiddenAfterWrong = await page.isHidden("#menu");

  t.step("right password");
  await t.login();
  await page.waitForSelector('main[data-panel="overview"]');
  await t.until("figures", async () => (await page.textContent("#fig-version")).includes("Eddy"));
  t.out.version = await page.textContent("#fig-version .value");
  t.out.uptime = await page.textContent("#fig-uptime .value");
  await t.shot("overview");

  t.step("a reload keeps the login");
  await page.reload();
  await page.waitForSelector('main[data-panel="overview"]');

  t.step("overview: a bad debug level is refused in the page");
  await page.fill("#overview-debug", "12");
  await page.click("#overview-apply");
  await t.until("the debug message", async () => (await page.textContent('main[data-panel="overview"]')).includes("0 to 10"));

  t.step("overview: name, debug level and force save");
  await page.fill("#overview-name", "studio-east");
  await page.fill("#overview-debug", "4");
  await page.check("#overview-force-save");
  await page.click("#overview-apply");
  await t.until("the saved notice", async () => (await t.notices()).some((n) => n.includes("saved to disk")));
  await t.until("the name in the header", async () => (await page.textContent("#server-name")) === "studio-east");

  t.step("protocols: the list");
  await t.panel("protocols");
  await t.until("the HTTP row", async () => (await page.textContent("#protocol-list tbody")).includes("HTTP"));
  await t.shot("protocols");

  t.step("protocols: a required field is checked in the page");
  await page.click("#protocols-new");
  await page.waitForSelector("#protocol-connector");
  await page.click("#protocol-save");
  await t.until("choose message", async () => (await page.textContent("main")).includes("Choose a protocol"));
  await page.selectOption("#protocol-connector", "RTMP");
  await page.waitForSelector("#protocol-fields input[name=port]");
  await t.shot("protocol-new");
  await page.fill("#protocol-fields input[name=port]", "-5");
  await page.click("#protocol-save");
  await t.until("negative port refused", async () => (await page.textContent("#protocol-fields")).includes("negative"));

  t.step("protocols: add RTMP on a port");
  await page.fill("#protocol-fields input[name=port]", String(args.rtmpPort));
  await page.fill("#protocol-fields input[name=interface]", "127.0.0.1");
  await page.click("#protocol-save");
  await page.waitForSelector("#protocol-list");
  await t.until("RTMP running", async () => {
    const rows = await page.$$eval("#protocol-list tbody tr", (trs) => trs.map((tr) => tr.innerText));
    return rows.find((r) => r.startsWith("RTMP") && r.includes("Running") && r.includes(String(args.rtmpPort)));
  });
  t.out.afterAdd = (await t.api({ config: true })).config.protocols;

  t.step("protocols: edit its port");
  const row = await t.until("the RTMP row", async () => {
    const rows = await page.$$("#protocol-list tbody tr");
    for (const r of rows) if ((await r.innerText()).startsWith("RTMP")) return r;
  });
  await (await row.$("text=Edit")).click();
  await page.waitForSelector("#protocol-fields input[name=port]");
  await page.fill("#protocol-fields input[name=port]", String(args.rtmpPort2));
  await page.click("#protocol-save");
  await t.until("RTMP running on the new port", async () => {
    const rows = await page.$$eval("#protocol-list tbody tr", (trs) => trs.map((tr) => tr.innerText));
    return rows.find((r) => r.startsWith("RTMP") && r.includes("Running") && r.includes(String(args.rtmpPort2)));
  });
  t.out.afterEdit = (await t.api({ config: true })).config.protocols;

  t.step("protocols: delete it");
  const row2 = await t.until("the RTMP row", async () => {
    const rows = await page.$$("#protocol-list tbody tr");
    for (const r of rows) if ((await r.innerText()).startsWith("RTMP")) return r;
  });
  await (await row2.$("text=Delete")).click();
  await t.until("RTMP gone", async () => {
    const rows = await page.$$eval("#protocol-list tbody tr", (trs) => trs.map((tr) => tr.innerText));
    return !rows.some((r) => r.startsWith("RTMP"));
  });
  t.out.afterDelete = (await t.api({ config: true })).config.protocols;
  t.out.notices = await t.notices();
});

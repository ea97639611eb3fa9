// The Triggers panel, as a paywall author uses it (remote, so logged in).
// args.mode:
//   "add":  the list shows the legacy STREAM_ADD entry; the form documents USER_NEW (payload lines
//           as capabilities.triggers gives them, the answer, blocking), refuses a handler Eddy
//           cannot call, then adds USER_NEW to args.handler, blocking, for the stream live, with
//           the default response false. Reports the payload lines shown (t.out.payloadLines).
//   "edit": edits that handler's default response to true, then removes it.
const { run } = require("./lib");

run(async (t) => {
  const { page, args } = t;
  const triggers = async () => ((await t.api({ config: true })).config || {}).triggers || {};
  t.step("log in and open the Triggers panel");
  await t.open("triggers");
  await page.waitForSelector("#login-user");
  await t.login();
  await page.waitForSelector('main[data-panel="triggers"]');
  await t.until("the list", async () => (await page.textContent("#trigger-list")).includes("STREAM_ADD"));

  if (args.mode === "add") {
    const legacy = await page.textContent("#trigger-list");
    if (!legacy.includes("/bin/true") || !legacy.includes("Non-blocking") || !legacy.includes("legacy array form")) {
      throw new Error("the legacy entry is not shown as it is: " + legacy);
    }
    await t.shot("triggers-list-before");

    t.step("the form documents the trigger");
    await page.click("#triggers-new");
    await page.waitForSelector("#trigger-name");
    await page.selectOption("#trigger-name", "USER_NEW");
    await page.fill("#trigger-handler", args.handler);
    const caps = (await t.api({ capabilities: true })).capabilities.triggers;
    t.out.payloadLines = await page.$$eval("#trigger-doc-payload li", (lis) => lis.map((li) => li.textContent));
    if (JSON.stringify(t.out.payloadLines) !== JSON.stringify(caps.USER_NEW.payload.split("\n"))) {
      throw new Error("payload shown " + JSON.stringify(t.out.payloadLines) + " is not capabilities' " + caps.USER_NEW.payload);
    }
    const answer = await page.textContent("#trigger-doc-response");
    if (!answer.includes(caps.USER_NEW.response_action) || !answer.includes("starts with 1, yes, true or cont")) {
      throw new Error("the answer is not documented: " + answer);
    }
    const request = await page.textContent("#trigger-doc-request");
    if (!request.includes("POST " + new URL(args.handler).pathname) || !request.includes("X-Trigger: USER_NEW")) throw new Error("request: " + request);
    if (!(await page.isChecked("#trigger-sync"))) throw new Error("USER_NEW is not blocking by default");
    if (await page.isVisible("#trigger-params")) throw new Error("USER_NEW takes no parameter, yet the field shows");

    t.step("a global trigger has no stream list; LIVE_BANDWIDTH has a parameter");
    await page.selectOption("#trigger-name", "SYSTEM_STOP");
    if (!(await page.isDisabled("#trigger-streams"))) throw new Error("the stream list is open for a global trigger");
    await page.selectOption("#trigger-name", "LIVE_BANDWIDTH");
    if (!(await page.isVisible("#trigger-params"))) throw new Error("no parameter field for LIVE_BANDWIDTH");
    await page.selectOption("#trigger-name", "USER_NEW");

    t.step("the form refuses what Eddy cannot call");
    await page.fill("#trigger-handler", "ftp://127.0.0.1/x");
    await page.click("#trigger-save");
    t.out.badHandler = await page.textContent("#trigger-problem");
    if (!t.out.badHandler) throw new Error("no complaint about ftp://");
    await page.fill("#trigger-handler", args.handler);
    await page.fill("#trigger-streams", "live+");
    await page.click("#trigger-save");
    if (!(await page.textContent("#trigger-problem")).includes("matches none")) throw new Error("live+ accepted");
    if ((await triggers()).USER_NEW) throw new Error("a refused form was sent");

    t.step("add the handler");
    await page.fill("#trigger-streams", "live");
    await page.fill("#trigger-default", "false");
    await t.shot("triggers-form-user-new");
    await page.click("#trigger-save");
    await page.waitForSelector("#triggers-new");
    await t.until("the new row", async () => (await page.textContent("#trigger-list")).includes(args.handler));
    await t.shot("triggers-list");
    return;
  }

  t.step("edit the default response");
  await page.click("#trigger-edit-USER_NEW-0");
  await page.waitForSelector("#trigger-default");
  if ((await page.inputValue("#trigger-default")) !== "false") throw new Error("the form does not show the stored default");
  if ((await page.inputValue("#trigger-streams")) !== "live") throw new Error("the form does not show the stored streams");
  await page.fill("#trigger-default", "true");
  await t.shot("triggers-form-edit");
  await page.click("#trigger-save");
  await page.waitForSelector("#triggers-new");
  await t.until("the edited row", async () => {
    const row = await page.textContent("#trigger-list tbody");
    return row.includes(args.handler) && !row.includes("false");
  });
  t.out.afterEdit = (await triggers()).USER_NEW;

  t.step("remove it");
  await page.click("#trigger-remove-USER_NEW-0");
  await t.until("the row gone", async () => !(await page.textContent("#trigger-list")).includes(args.handler));
  await t.until("the removed notice", async () => (await t.notices()).some((n) => n.includes("Removed the USER_NEW handler")));
});

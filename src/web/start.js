"use strict";
// Start-up: ask the server who we are, then show the set-up, the login or the panels.

window.addEventListener("hashchange", () => {
  if (document.getElementById("menu").hidden) return;
  UI.show();
});

window.addEventListener("error", (e) => UI.notify("The page hit an error: " + e.message));
window.addEventListener("unhandledrejection", (e) => {
  const r = e.reason;
  UI.notify(r instanceof ApiError ? r.message : "The page hit an error: " + (r && r.message ? r.message : r));
});

document.getElementById("logout").addEventListener("click", () => UI.logout());

(async function start() {
  UI.loadLogin();
  let answer;
  try {
    answer = await UI.api({ config: true, capabilities: true, unsaved_changes: true }, { quiet: true });
  } catch (e) {
    if (e.message.startsWith("Not logged in")) return UI.showLogin("");
    clear(document.getElementById("main"));
    UI.notify(e.message);
    setTimeout(start, 3000);
    return;
  }
  const status = answer.authorize && answer.authorize.status;
  if (status === "NOACC") return UI.showSetup(!!answer.LTS, answer);
  UI.enter(answer);
})();

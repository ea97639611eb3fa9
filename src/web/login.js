"use strict";
// Login (challenge: MD5(MD5(password) + challenge), facts §1.3), the first-time set-up for a
// server without accounts (manual §1.5), and log out. The login is kept for the browser tab
// (sessionStorage) as the user name and MD5 of the password, never the password itself.

UI.saveLogin = function () {
  sessionStorage.setItem("eddy-login", JSON.stringify({ user: UI.auth.user, hash: UI.auth.hash }));
};

UI.loadLogin = function () {
  try {
    const saved = JSON.parse(sessionStorage.getItem("eddy-login") || "null");
    if (saved && saved.user && saved.hash) Object.assign(UI.auth, saved);
  } catch (e) {
    sessionStorage.removeItem("eddy-login");
  }
};

// Shows the login form in place of the panels; `why` says why when it is not the first time.
UI.showLogin = function (why) {
  UI.auth.user = "";
  UI.auth.hash = "";
  sessionStorage.removeItem("eddy-login");
  for (const t of UI.timers) clearInterval(t);
  UI.timers = [];
  document.getElementById("menu").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
  document.body.classList.add("no-menu");
  const main = clear(document.getElementById("main"));
  main.dataset.panel = "login";
  const user = h("input#login-user", { name: "username", autocomplete: "username", required: true });
  const pass = h("input#login-password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = h("div.invalid#login-message", why || "");
  const button = h("button.primary", { type: "submit" }, "Log in");
  const form = h("form", {
    onsubmit: (ev) => {
      ev.preventDefault();
      UI.run(button, async () => {
        message.textContent = "";
        if (!user.value.trim() || !pass.value) {
          message.textContent = "Enter your user name and password.";
          return;
        }
        UI.auth.user = user.value.trim();
        UI.auth.hash = md5(pass.value);
        let answer;
        try {
          answer = await UI.api({ config: true, unsaved_changes: true }, { quiet: true });
        } catch (e) {
          UI.auth.user = "";
          UI.auth.hash = "";
          message.textContent = e.message.startsWith("Not logged in")
            ? "Wrong user name or password." : e.message;
          pass.select();
          return;
        }
        UI.saveLogin();
        UI.enter(answer);
      });
    },
  },
  h("label", { htmlFor: "login-user" }, "User name"), user,
  h("label", { htmlFor: "login-password" }, "Password"), pass,
  message, button);
  append(main, [h("div.login.card", h("h1", "Log in to Eddy"), form)]);
  user.focus();
};

// The web version of the first-time set-up: create the account, then enable the default
// protocols (every connector that needs no settings, as a first start does).
UI.showSetup = function (local, answer) {
  document.getElementById("menu").hidden = true;
  document.body.classList.add("no-menu");
  const main = clear(document.getElementById("main"));
  main.dataset.panel = "setup";
  const user = h("input#setup-user", { name: "username", autocomplete: "username" });
  const pass = h("input#setup-password", { type: "password", autocomplete: "new-password" });
  const again = h("input#setup-password2", { type: "password", autocomplete: "new-password" });
  const defaults = h("input#setup-defaults", { type: "checkbox", checked: true });
  const message = h("div.invalid#setup-message");
  const button = h("button.primary", { type: "submit" }, "Create the account");
  const form = h("form", {
    onsubmit: (ev) => {
      ev.preventDefault();
      UI.run(button, async () => {
        message.textContent = "";
        const name = user.value.trim();
        if (!name) return void (message.textContent = "Choose a user name.");
        if (!pass.value) return void (message.textContent = "Choose a password.");
        if (pass.value !== again.value) return void (message.textContent = "The two passwords differ.");
        const answer = await UI.api({ authorize: { new_username: name, new_password: pass.value } }, { quiet: true })
          .catch((e) => ({ error: e.message }));
        const status = answer.authorize && answer.authorize.status;
        if (status !== "ACC_MADE") {
          message.textContent = answer.error || "The server did not create the account (it answered " + (status || "nothing") + ").";
          return;
        }
        UI.auth.user = name;
        UI.auth.hash = md5(pass.value);
        UI.auth.challenge = answer.authorize.challenge || UI.auth.challenge;
        UI.saveLogin();
        const entered = await UI.api({ config: true, capabilities: true, unsaved_changes: true });
        if (defaults.checked) await UI.enableDefaultProtocols();
        UI.notify("Account " + name + " created." + (defaults.checked ? " The default protocols are enabled." : ""), "ok");
        UI.enter(entered);
      });
    },
  },
  h("label", { htmlFor: "setup-user" }, "User name"), user,
  h("label", { htmlFor: "setup-password" }, "Password"), pass,
  h("label", { htmlFor: "setup-password2" }, "Password again"), again,
  h("label.inline", defaults, "Enable the default protocols (every output that needs no settings)"),
  message, button);
  append(main, [h("div.login.card",
    h("h1", "Welcome to Eddy"),
    h("p", "This server has no account yet. Create the one you will log in with."),
    form,
    local ? h("p.muted.small", "You are on the server's own machine, which may use the API without an account; every other address needs one. ",
      h("button.link#setup-skip", { onclick: () => UI.enter(answer) }, "Continue without an account")) : null)]);
  user.focus();
};

// Adds every connector with no required settings that is not configured yet.
UI.enableDefaultProtocols = async function () {
  if (!UI.capabilities) await UI.api({ capabilities: true });
  const have = new Set(((UI.config && UI.config.protocols) || []).map((p) => String(p.connector).toUpperCase()));
  const add = Object.values((UI.capabilities && UI.capabilities.connectors) || {})
    .filter((c) => !c.required || !Object.keys(c.required).length)
    .filter((c) => !have.has(String(c.name).toUpperCase()))
    .map((c) => ({ connector: c.name }));
  if (!add.length) return 0;
  await UI.change({ addprotocol: add, config: true });
  return add.length;
};

// Leaves the login screen for the panels.
UI.enter = function (answer) {
  const auth = (answer && answer.authorize) || {};
  UI.auth.local = !!auth.local;
  document.getElementById("who").textContent = UI.auth.user ? "Logged in as " + UI.auth.user : (UI.auth.local ? "Local access" : "");
  document.getElementById("logout").hidden = !UI.auth.user;
  UI.buildMenu();
  UI.show();
};

UI.logout = async function () {
  try {
    await UI.api({ logout: true }, { quiet: true });
  } catch (e) {
    // Logging out of a server that cannot be reached still forgets the login here.
  }
  UI.showLogin("You are logged out.");
};

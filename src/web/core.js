"use strict";
// The shared core of Eddy's operator UI: the API client, a small DOM builder, the router with
// its per-panel polling, notices, tables, form fields and number formatting. Panels register
// themselves with UI.panel(...) and use only what is here plus the JSON API.

const UI = {
  panels: {},        // route name -> {title, menu, render(main, arg)}
  order: [],         // menu order
  config: null,      // the last `config` answer
  streams: {},       // the last `streams` answer (configured streams with online/error)
  capabilities: null,
  auth: { user: "", hash: "", challenge: "", local: false },
  timers: [],        // the current panel's polls
  route: "",
  connected: true,
};

class ApiError extends Error {}

// ---------------------------------------------------------------------------------------------
// DOM

// h("tag.class#id", {attr: value, onclick: fn}, children...): builds an element. Strings become
// text; arrays are flattened; null, undefined and false are skipped.
function h(spec, attrs, ...children) {
  const [, tag, rest] = /^([a-z0-9]+)?(.*)$/i.exec(spec);
  const el = document.createElement(tag || "div");
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className += (el.className ? " " : "") + v;
    else if (k === "text") el.textContent = v;
    else if (["value", "checked", "selected", "disabled", "hidden", "htmlFor"].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  // Forms check their fields themselves and say what is wrong in the page, in words.
  if (el.tagName === "FORM") el.noValidate = true;
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ---------------------------------------------------------------------------------------------
// Notices: every failure is said in the page, in plain words.

UI.notify = function (message, kind = "error", seconds = 0) {
  const box = document.getElementById("notices");
  for (const n of box.children) if (n.dataset.text === message) n.remove();
  const n = h("div.notice." + kind, { "data-text": message, role: kind === "error" ? "alert" : "status" },
    h("span", message), h("button", { title: "Dismiss", onclick: () => n.remove() }, "×"));
  box.prepend(n);
  while (box.children.length > 4) box.lastChild.remove();
  if (seconds || kind !== "error") setTimeout(() => n.remove(), (seconds || 6) * 1000);
  return n;
};

UI.clearNotices = function () { clear(document.getElementById("notices")); };

// Runs an action for a button: the button is disabled meanwhile, an error becomes a notice.
UI.run = async function (button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (e) {
    UI.notify(e instanceof ApiError ? e.message : "Something went wrong in the page: " + e.message);
  } finally {
    if (button) button.disabled = false;
  }
};

// ---------------------------------------------------------------------------------------------
// The API (facts §1): POST JSON to /api2 (minimal answers) with the login in every request, so a
// request on a new connection is authorised too. The challenge stays the same for a day; when
// it changes the request is sent once more with the new one.

UI.api = async function (command, { full = false, quiet = false } = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const body = Object.assign({}, command);
    if (UI.auth.user && UI.auth.hash) {
      body.authorize = { username: UI.auth.user, password: md5(UI.auth.hash + UI.auth.challenge) };
    }
    let resp;
    try {
      resp = await fetch(full ? "/api" : "/api2", {
        method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      UI.setConnected(false);
      throw new ApiError("Lost the connection to the server (" + e.message + "). Retrying while this page is open.");
    }
    if (!resp.ok) {
      UI.setConnected(true);
      throw new ApiError("The server answered " + resp.status + " " + resp.statusText + ".");
    }
    let answer;
    try {
      answer = JSON.parse(await resp.text());
    } catch (e) {
      throw new ApiError("The server's answer was not JSON: " + e.message);
    }
    UI.setConnected(true);
    const auth = answer.authorize || {};
    if (auth.status === "CHALL") {
      const changed = auth.challenge !== UI.auth.challenge;
      UI.auth.challenge = auth.challenge || "";
      if (changed && UI.auth.hash && attempt === 0) continue;
      if (!quiet) UI.showLogin(UI.auth.hash ? "Your login is no longer accepted; please log in again." : "");
      throw new ApiError("Not logged in.");
    }
    UI.absorb(answer);
    return answer;
  }
  throw new ApiError("Not logged in.");
};

// Keeps what every panel shares from an answer.
UI.absorb = function (answer) {
  if (answer.config) {
    UI.config = answer.config;
    document.getElementById("server-name").textContent = answer.config.serverid || "";
    document.title = answer.config.serverid ? "Eddy · " + answer.config.serverid : "Eddy";
  }
  if (answer.capabilities) UI.capabilities = answer.capabilities;
  if (answer.streams && typeof answer.streams === "object") {
    if (answer.streams["incomplete list"]) {
      const s = Object.assign({}, answer.streams);
      delete s["incomplete list"];
      Object.assign(UI.streams, s);
    } else {
      UI.streams = answer.streams;
    }
  }
  if ("unsaved_changes" in answer) document.getElementById("unsaved").hidden = !answer.unsaved_changes;
};

UI.setConnected = function (ok) {
  if (ok === UI.connected) return;
  UI.connected = ok;
  const pill = document.getElementById("connection");
  pill.hidden = ok;
  pill.className = "pill bad";
  pill.textContent = "Server unreachable";
  if (ok) {
    for (const n of document.querySelectorAll("#notices .notice")) {
      if (n.dataset.text.startsWith("Lost the connection")) n.remove();
    }
    UI.notify("The connection to the server is back.", "ok", 4);
  }
};

// Sends a change and checks the answer with `check(answer)`, which returns an error text when
// the server did not do what was asked (it ignores bad input silently, as MistServer does).
UI.change = async function (command, check, done) {
  const answer = await UI.api(Object.assign({ unsaved_changes: true }, command));
  const problem = check ? check(answer) : null;
  if (problem) throw new ApiError(problem + " The log panel may say why.");
  if (done) UI.notify(done, "ok", 4);
  return answer;
};

// Calls `check` now and every half second for up to `seconds`; true once it holds. For actions
// whose effect shows a moment later (a stopped push, a disconnected session).
UI.settle = async function (seconds, check) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 500));
  }
};

// ---------------------------------------------------------------------------------------------
// Router: #name or #name/argument. A panel's polls stop when another panel is shown.

UI.panel = function (name, panel) {
  UI.panels[name] = panel;
  if (panel.menu) UI.order.push(name);
};

UI.go = function (route) {
  if (location.hash === "#" + route) UI.show();
  else location.hash = route;
};

UI.show = function () {
  for (const t of UI.timers) clearInterval(t);
  UI.timers = [];
  const raw = decodeURIComponent(location.hash.slice(1));
  const [name, ...rest] = raw.split("/");
  const panel = UI.panels[name] || UI.panels.overview;
  UI.route = UI.panels[name] ? name : "overview";
  for (const a of document.querySelectorAll("#menu a")) {
    a.classList.toggle("current", a.dataset.route === (panel.parent || UI.route));
  }
  const main = clear(document.getElementById("main"));
  main.dataset.panel = UI.route;
  Promise.resolve()
    .then(() => panel.render(main, rest.join("/")))
    .catch((e) => UI.notify(e instanceof ApiError ? e.message : "The panel failed: " + e.message));
};

// Calls `fn` now and every `seconds` while the current panel is shown and the page visible.
UI.every = function (seconds, fn) {
  const route = UI.route;
  const tick = () => {
    if (document.hidden || UI.route !== route) return;
    Promise.resolve().then(fn).catch((e) => {
      if (!(e instanceof ApiError)) UI.notify("The panel failed to refresh: " + e.message);
      else if (!e.message.startsWith("Not logged in")) UI.notify(e.message);
    });
  };
  tick();
  UI.timers.push(setInterval(tick, seconds * 1000));
};

UI.buildMenu = function () {
  const menu = clear(document.getElementById("menu"));
  for (const name of UI.order) {
    append(menu, [h("a", { href: "#" + name, "data-route": name }, UI.panels[name].title)]);
  }
  menu.hidden = false;
  document.body.classList.remove("no-menu");
};

// ---------------------------------------------------------------------------------------------
// Tables: columns are {title, value(row) -> text or node, num, cls}.

UI.table = function (columns, rows, { empty = "Nothing here yet.", rowClass } = {}) {
  const head = h("tr", columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)));
  const body = rows.length
    ? rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : null },
      columns.map((c) => h("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null }, c.value(r)))))
    : [h("tr", h("td.empty", { colspan: columns.length }, empty))];
  return h("div.table-wrap", h("table", h("thead", head), h("tbody", body)));
};

// ---------------------------------------------------------------------------------------------
// Form fields from a capability description ({name, help, type, default, select}, as
// `capabilities` gives them for connectors and inputs), with an optional stable element `id`.
// field.read() gives the value to send, or undefined to leave the key out; field.check() gives
// an error text or "".

UI.field = function (key, spec, value, { required = false, id = "" } = {}) {
  id = id || "f-" + key + "-" + Math.random().toString(36).slice(2, 7);
  const type = spec.type || "str";
  let input;
  if (type === "select" && Array.isArray(spec.select)) {
    input = h("select", { id, name: key },
      required ? null : h("option", { value: "" }, spec.default !== undefined ? "Default (" + UI.optionLabel(spec, spec.default) + ")" : "Default"),
      spec.select.map((o) => {
        const [v, label] = Array.isArray(o) ? o : [o, o];
        return h("option", { value: String(v), selected: value !== undefined && String(value) === String(v) }, label);
      }));
  } else if (type === "bool" || type === "boolean") {
    input = h("input", { id, name: key, type: "checkbox", checked: value === true || value === 1 || value === "1" });
  } else if (type === "json" || type === "inputlist") {
    input = h("textarea", { id, name: key, value: value === undefined ? "" : (typeof value === "string" ? value : JSON.stringify(value)) });
  } else {
    const numeric = ["uint", "int", "integer", "debug", "float", "double"].includes(type);
    input = h("input", {
      id, name: key, type: numeric ? "number" : (type === "password" ? "password" : "text"),
      step: type === "float" || type === "double" ? "any" : null,
      min: type === "uint" || type === "debug" ? 0 : null,
      max: type === "debug" ? 10 : null,
      placeholder: spec.default !== undefined && spec.default !== "" ? "Default: " + spec.default : "",
      value: value === undefined || value === null ? "" : String(value),
    });
  }
  const invalid = h("div.invalid");
  const field = {
    key, input,
    label: h("label.name", { htmlFor: id }, (spec.name || key) + (required ? " *" : "")),
    box: h("div", input, spec.help ? h("div.help", spec.help) : null, invalid),
    read() {
      if (input.type === "checkbox") return input.checked;
      const raw = input.value.trim();
      if (raw === "") return undefined;
      if (input.type === "number") return Number(raw);
      if (input.tagName === "SELECT") {
        const o = (spec.select || []).map((x) => (Array.isArray(x) ? x[0] : x)).find((x) => String(x) === raw);
        return o === undefined ? raw : o;
      }
      if (type === "json" || type === "inputlist") return JSON.parse(raw);
      return raw;
    },
    check() {
      let msg = "";
      const raw = input.type === "checkbox" ? "x" : input.value.trim();
      if (required && raw === "") msg = "This field is required.";
      else if (input.type === "number" && raw !== "") {
        const n = Number(raw);
        if (!Number.isFinite(n)) msg = "Not a number.";
        else if ((type === "uint" || type === "int" || type === "debug") && !Number.isInteger(n)) msg = "A whole number, please.";
        else if ((type === "uint" || type === "debug") && n < 0) msg = "Must not be negative.";
        else if (type === "debug" && n > 10) msg = "Debug levels go from 0 to 10.";
      } else if ((type === "json" || type === "inputlist") && raw !== "") {
        try { JSON.parse(raw); } catch (e) { msg = "Not valid JSON: " + e.message; }
      }
      invalid.textContent = msg;
      input.classList.toggle("bad", !!msg);
      return msg;
    },
  };
  input.addEventListener("change", () => field.check());
  return field;
};

UI.optionLabel = function (spec, v) {
  const o = (spec.select || []).find((x) => Array.isArray(x) && String(x[0]) === String(v));
  return o ? o[1] : String(v);
};

// Lays fields out in a two-column form.
UI.fieldRows = function (fields) {
  return fields.map((f) => [f.label, f.box]);
};

// Checks every field; focuses the first bad one. Returns true when all are good.
UI.checkFields = function (fields) {
  let first = null;
  for (const f of fields) if (f.check() && !first) first = f;
  if (first) first.input.focus();
  return !first;
};

// ---------------------------------------------------------------------------------------------
// Stream names (manual §3.1): the base name is lowercase a-z, 0-9 and _; a wildcard part after
// a "+" may hold other characters, but no "/" or NUL.

UI.streamNameProblem = function (name, { wildcard = false } = {}) {
  if (!name) return "A stream needs a name.";
  const [base, ...rest] = name.split("+");
  if (!/^[a-z0-9_]+$/.test(base)) return "Use only lowercase letters a-z, digits and _ in a stream name.";
  if (base.length > 100) return "Stream names are at most 100 characters.";
  if (rest.length && !wildcard) return "A configured stream has no + in its name: its wildcard streams (" + base + "+anything) share its settings.";
  if (/[\/\0]/.test(rest.join("+"))) return "A wildcard part may not hold / .";
  return "";
};

// ---------------------------------------------------------------------------------------------
// Numbers for people.

const fmt = {
  bytes(n) {
    if (n === null || n === undefined || !Number.isFinite(Number(n))) return "–";
    n = Number(n);
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : n) + " " + units[i];
  },
  bps(bytesPerSecond) {
    if (bytesPerSecond === null || bytesPerSecond === undefined) return "–";
    let n = Number(bytesPerSecond) * 8;
    const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : Math.round(n)) + " " + units[i];
  },
  duration(seconds) {
    seconds = Math.max(0, Math.floor(Number(seconds) || 0));
    const d = Math.floor(seconds / 86400), hr = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return d + "d " + hr + "h " + m + "m";
    if (hr) return hr + "h " + m + "m " + s + "s";
    if (m) return m + "m " + s + "s";
    return s + "s";
  },
  time(unix) {
    if (!unix) return "–";
    return new Date(unix * 1000).toLocaleString();
  },
  clock(unix) {
    return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  },
  number(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString();
  },
};

// The `active_streams` object of an answer, or {} (it is an empty list when nothing is active).
UI.activeStreams = function (answer) {
  const a = answer && answer.active_streams;
  return a && typeof a === "object" && !Array.isArray(a) ? a : {};
};

// The status of a configured stream as a pill (facts §2.3: online 0 offline, 1 active, 2 standby).
UI.streamStatus = function (s) {
  if (!s) return h("span.pill", "Unknown");
  if (s.online === 1) return h("span.pill.ok", "Active");
  if (s.online === 2) return h("span.pill.warn", s.error || "Standby");
  return h("span.pill", { title: s.error || "" }, s.error && !/^Stream offline$/i.test(s.error) ? s.error : "Offline");
};

// The HTTP output's base URL as a viewer's browser reaches it: the host the UI was opened on,
// with the HTTP connector's port (8080 unless configured otherwise).
UI.httpBase = function (host) {
  const protocols = (UI.config && UI.config.protocols) || [];
  const http = protocols.find((p) => String(p.connector).toUpperCase() === "HTTP");
  const port = http && http.port ? http.port : 8080;
  return location.protocol + "//" + (host || location.hostname) + ":" + port + "/";
};

"use strict";
// The Streams panel (manual §2.3): every configured stream with its status, viewers, inputs,
// outputs and source; the active wildcard streams (base+anything) indented under their parent
// (§3.3.1.1); Preview, Embed, Edit, Stop sessions and Delete per stream. The create/edit form
// (#streams/new, #streams/edit/NAME) is in the second half: the name (§3.1), the source with a
// source-type choice (push:// host and passphrase, a file or folder with a server-side Browse
// dialog, anything else), the options of the input that reads the source (from
// `capabilities.inputs`), "Always on" and the debug level. Preview and Embed are in preview.js.

// The keys of a `streams` entry that the server computes (not part of the stored config).
UI.STREAM_RUNTIME_KEYS = ["online", "error"];

// A stream's stored configuration: its `streams` entry without the computed keys.
UI.streamConfig = function (entry) {
  const c = Object.assign({}, entry || {});
  for (const k of UI.STREAM_RUNTIME_KEYS) delete c[k];
  return c;
};

// Matches `text` against `pattern` with at most one `*` for any run of characters, as the server
// matches `source_match` (src/protocols/catalogue.rs).
UI.wildcardMatch = function (pattern, text) {
  const star = pattern.indexOf("*");
  if (star < 0) return pattern === text;
  const head = pattern.slice(0, star), tail = pattern.slice(star + 1);
  return text.length >= head.length + tail.length && text.startsWith(head) && text.endsWith(tail);
};

// The input of `capabilities.inputs` that reads `source`, or null.
UI.inputFor = function (source) {
  const inputs = (UI.capabilities && UI.capabilities.inputs) || {};
  return Object.values(inputs).find((i) => (i.source_match || []).some((m) => UI.wildcardMatch(String(m), source))) || null;
};

UI.panel("streams", {
  title: "Streams",
  menu: true,
  async render(main, arg) {
    if (!UI.capabilities) await UI.api({ capabilities: true });
    if (arg === "new") return this.form(main, null);
    if (arg.startsWith("edit/")) {
      const name = arg.slice(5);
      await UI.api({ streams: true });
      if (!UI.streams[name]) {
        UI.notify("There is no stream named " + name + " (any more).");
        return UI.go("streams");
      }
      return this.form(main, name);
    }
    return this.list(main);
  },

  // ---------------------------------------------------------------------------------------------
  // The list.

  list(main) {
    const list = h("div#streams-list");
    append(main, [
      h("div.heading", h("h1", "Streams"),
        h("button.primary#streams-new", { onclick: () => UI.go("streams/new") }, "New stream")),
      h("p.muted", "Every configured stream with what is connected to it now. Wildcard streams (name+anything) appear under their parent while they are active; a folder stream lists its files (name+filename)."),
      list,
    ]);
    const refresh = async () => {
      const a = await UI.api({ streams: true, active_streams: { longform: true, fields: ["status", "viewers", "inputs", "outputs"] } });
      const active = UI.activeStreams(a);
      await this.listFolders(UI.streams || {});
      clear(list);
      append(list, [this.table(UI.streams || {}, active, refresh)]);
    };
    UI.every(3, refresh);
  },

  // A folder source's playable files (manual §3.3.6.1), by stream name, from `browse`; each
  // folder is listed again after 30 s.
  folders: {},
  async listFolders(configured) {
    const now = Date.now();
    for (const [name, entry] of Object.entries(configured)) {
      const source = String((entry && entry.source) || "");
      if (!/^\/.*\/$/.test(source)) continue;
      const known = this.folders[name];
      if (known && known.source === source && now - known.at < 30000) continue;
      const a = await UI.api({ browse: source });
      const files = ((a.browse && a.browse.files) || []).filter((f) => UI.inputFor(source + "x." + String(f).split(".").pop()) && !/\.eddyidx$/.test(f));
      this.folders[name] = { source, at: now, files: files.sort() };
    }
  },

  // Rows: each configured stream, then its active wildcard streams and a folder's files.
  rows(configured, active) {
    const rows = [];
    for (const name of Object.keys(configured).sort()) {
      rows.push({ name, entry: configured[name], stats: active[name], child: false });
      const folder = this.folders[name] && this.folders[name].source === (configured[name] || {}).source ? this.folders[name].files : [];
      const children = new Set(Object.keys(active).filter((n) => n.startsWith(name + "+")));
      for (const f of folder) children.add(name + "+" + f);
      for (const c of [...children].sort()) rows.push({ name: c, parent: name, stats: active[c], child: true, file: folder.includes(c.slice(name.length + 1)) });
    }
    return rows;
  },

  status(r) {
    if (r.child) {
      const st = (r.stats && r.stats.status) || (r.file ? "Available" : "Unknown");
      return h("span.pill" + (st === "Online" ? ".ok" : ".warn"), st === "Online" ? "Active" : st);
    }
    const st = r.stats && r.stats.status;
    if (r.entry && r.entry.online !== 1 && st && st !== "Online" && st !== "Offline") return h("span.pill.warn", st);
    return UI.streamStatus(r.entry);
  },

  table(configured, active, refresh) {
    const rows = this.rows(configured, active);
    const count = (r, k) => (r.stats && r.stats[k] !== undefined ? fmt.number(r.stats[k]) : "0");
    const button = (r, cls, label, onclick, danger) =>
      h("button." + cls + (danger ? ".danger" : ""), { id: cls + "-" + r.name, "data-stream": r.name, onclick }, label);
    const wrap = UI.table([
      {
        title: "Stream", value: (r) => h("a.stream-name", { href: "#preview/" + encodeURIComponent(r.name), title: "Preview " + r.name }, r.name),
      },
      { title: "Status", value: (r) => this.status(r), cls: "streams-status" },
      { title: "Viewers", num: true, value: (r) => count(r, "viewers"), cls: "streams-viewers" },
      { title: "Inputs", num: true, value: (r) => count(r, "inputs"), cls: "streams-inputs" },
      { title: "Outputs", num: true, value: (r) => count(r, "outputs"), cls: "streams-outputs" },
      {
        title: "Source", cls: "streams-source",
        value: (r) => (r.child ? h("span.muted", (r.file ? "A file of " : "Settings of ") + r.parent) : h("code", String((r.entry && r.entry.source) || "–"))),
      },
      {
        title: "", cls: "actions", value: (r) => [
          button(r, "streams-preview", "Preview", () => UI.go("preview/" + encodeURIComponent(r.name))), " ",
          button(r, "streams-embed", "Embed", () => UI.go("embed/" + encodeURIComponent(r.name))), " ",
          r.child ? null : [button(r, "streams-edit", "Edit", () => UI.go("streams/edit/" + encodeURIComponent(r.name))), " "],
          button(r, "streams-stop", "Stop sessions", (ev) => this.stopSessions(ev.target, r.name, refresh)), " ",
          r.child ? null : button(r, "streams-delete", "Delete", (ev) => this.remove(ev.target, r.name, refresh), true),
        ],
      },
    ], rows, { empty: "No stream is configured yet. Use “New stream” to add one.", rowClass: (r) => (r.child ? "child" : null) });
    const trs = wrap.querySelectorAll("tbody tr");
    rows.forEach((r, i) => { if (trs[i]) trs[i].dataset.stream = r.name; });
    return wrap;
  },

  stopSessions(button, name, refresh) {
    if (!confirm("Disconnect every viewer and input of " + name + " now? Viewers and publishers may connect again.")) return;
    UI.run(button, async () => {
      await UI.api({ stop_sessions: name });
      UI.notify("Disconnected every session of " + name + ".", "ok", 4);
      await refresh();
    });
  },

  remove(button, name, refresh) {
    if (!confirm("Delete the stream " + name + "? Whoever is connected to it is disconnected.")) return;
    UI.run(button, async () => {
      await UI.change({ deletestream: name }, (a) => (a.streams && a.streams[name] ? "The server still has the stream " + name + "." : ""),
        "Deleted the stream " + name + ".");
      delete UI.streams[name];
      await refresh();
    });
  },

  // ---------------------------------------------------------------------------------------------
  // The create / edit form. `name` is null for a new stream.

  form(main, name) {
    const current = name ? UI.streamConfig(UI.streams[name]) : {};
    const source0 = String(current.source || "");
    const nameInput = h("input#stream-name", {
      value: name || "", readonly: name ? true : null, autocomplete: "off", spellcheck: "false",
      placeholder: "e.g. live or studio_1",
    });
    const nameProblem = h("div.invalid#stream-name-problem");
    const kind = h("select#stream-source-type",
      h("option", { value: "push" }, "Live push (RTMP publishing to this server)"),
      h("option", { value: "file" }, "File or folder on the server"),
      h("option", { value: "other" }, "Other source"));
    kind.value = source0.startsWith("push://") || !name ? "push" : source0.startsWith("/") ? "file" : "other";
    const source = h("input#stream-source", { value: name ? source0 : "push://", autocomplete: "off", spellcheck: "false" });
    const browse = h("button#stream-browse", { type: "button", onclick: () => this.browse(main, source, update) }, "Browse…");
    const sourceHelp = h("div.help#stream-source-help");
    const sourceNote = h("div.stream-note#stream-source-note", { hidden: true });
    const sourceProblem = h("div.invalid#stream-source-problem");

    // push://[host][@passphrase]
    const push = /^push:\/\/([^@]*)(?:@(.*))?$/.exec(source0) || [];
    const host = h("input#stream-push-host", { value: push[1] || "", placeholder: "anyone may push", autocomplete: "off" });
    const pass = h("input#stream-push-pass", { value: push[2] || "", placeholder: "no passphrase", autocomplete: "off" });
    const hostProblem = h("div.invalid#stream-push-host-problem");
    const passProblem = h("div.invalid#stream-push-pass-problem");
    const publishHint = h("div.help#stream-publish-url");
    const pushBox = h("fieldset.full#stream-push", h("legend", "Who may push"),
      h("div.grid2",
        h("label.name", { htmlFor: "stream-push-host" }, "Allowed host"),
        h("div", host, h("div.help", "An address or host name, with an optional /mask (192.168.0.0/16). Empty: any host."), hostProblem),
        h("label.name", { htmlFor: "stream-push-pass" }, "Passphrase"),
        h("div", pass, h("div.help", "A publisher from another host must give it as the RTMP application name."), passProblem, publishHint)));

    const inputBox = h("div.full#stream-input-fields");
    const alwaysOn = h("input#stream-always-on", { type: "checkbox", checked: current.always_on === true || current.always_on === 1 });
    const debug = UI.field("debug", {
      name: "Debug level", type: "debug",
      help: "How much this stream's input logs: 0 nothing up to 10 everything. Empty: the server's level.",
    }, current.debug, { id: "stream-debug" });
    const kept = h("div.full.help#stream-kept", { hidden: true });
    const problem = h("div.invalid#stream-problem");
    const submit = h("button.primary#stream-save", { type: "submit" }, name ? "Save" : "Create stream");

    let fields = [];          // the input's fields shown now
    let shownInput = null;    // the input they belong to
    const typed = {};         // values typed into input fields, kept when the fields change

    const pushSource = () => "push://" + host.value.trim() + (pass.value.trim() ? "@" + pass.value.trim() : "");
    const rtmpUrl = () => {
      const rtmp = ((UI.config && UI.config.protocols) || []).find((p) => String(p.connector).toUpperCase() === "RTMP");
      if (!rtmp) return "";
      const n = nameInput.value.trim() || "NAME";
      return "rtmp://" + location.hostname + ":" + (rtmp.port || 1935) + "/" + (pass.value.trim() || "live") + "/" + n;
    };

    // Shows what belongs to the source type and the input that matches the source.
    const update = () => {
      const type = kind.value;
      pushBox.hidden = type !== "push";
      browse.hidden = type !== "file";
      source.readOnly = type === "push";
      if (type === "push") source.value = pushSource();
      sourceHelp.textContent = {
        push: "Built from the fields below: push://[host][@passphrase] (manual §3.3.1).",
        file: "The absolute path of a file, or of a folder ending in / whose files become NAME+filename (manual §3.3.6).",
        other: "Any source URI, e.g. dtsc://host/stream or h264-exec:command (manual §3.3).",
      }[type];
      source.placeholder = type === "file" ? "/path/to/video.mp4 or /path/to/folder/" : "";
      const url = rtmpUrl();
      publishHint.textContent = url ? "Publish to " + url : "Enable the RTMP protocol to publish to this stream.";
      const value = source.value.trim();
      const input = value ? UI.inputFor(value) : null;
      const known = Object.values((UI.capabilities && UI.capabilities.inputs) || {})
        .flatMap((i) => i.source_match || []).join(", ");
      sourceNote.hidden = !value || !!input;
      sourceNote.textContent = value && !input
        ? "Eddy has no input that reads this source (it reads " + (known || "none") + "). The server stores it anyway, but the stream stays offline and says why in the list."
        : "";
      if (input !== shownInput) showInput(input);
      const shown = new Set(["name", "source", "always_on", "debug", ...fields.map((f) => f.key)]);
      const others = Object.keys(current).filter((k) => !shown.has(k));
      kept.hidden = !others.length;
      kept.textContent = others.length ? "Also kept as they are (set outside this form): " + others.join(", ") + "." : "";
    };

    const showInput = (input) => {
      for (const f of fields) typed[f.key] = f.input.type === "checkbox" ? f.input.checked : f.input.value;
      shownInput = input;
      fields = [];
      clear(inputBox);
      if (!input) return;
      const group = (title, specs, required) => {
        const own = Object.entries(specs || {}).map(([k, s]) => {
          const f = UI.field(k, s, k in typed ? undefined : current[k], { required, id: "stream-opt-" + k });
          if (k in typed) {
            if (f.input.type === "checkbox") f.input.checked = typed[k];
            else f.input.value = typed[k];
          }
          return f;
        });
        fields.push(...own);
        return own.length ? h("fieldset", h("legend", title), h("div.grid2", UI.fieldRows(own))) : null;
      };
      append(inputBox, [
        group("Required by the " + input.name + " input", input.required, true),
        group("Options of the " + input.name + " input", input.optional, false),
        input.desc ? h("p.muted.small", input.desc) : null,
      ]);
    };

    kind.addEventListener("change", () => {
      if (kind.value === "push") {
        const m = /^push:\/\/([^@]*)(?:@(.*))?$/.exec(source.value.trim());
        if (m) { host.value = m[1] || ""; pass.value = m[2] || ""; }
      } else if (source.value.trim().startsWith("push://")) {
        source.value = "";
      }
      update();
      if (kind.value !== "push") source.focus();
    });
    for (const el of [source, host, pass, nameInput]) el.addEventListener("input", update);
    nameInput.addEventListener("change", () => { nameProblem.textContent = this.nameProblem(nameInput.value.trim(), name); });

    const form = h("form.fields#stream-form", {
      onsubmit: (ev) => {
        ev.preventDefault();
        this.save({ name, current, nameInput, nameProblem, kind, source, sourceProblem, host, hostProblem, pass, passProblem, fields: () => fields, alwaysOn, debug, problem, submit });
      },
    },
    h("label.name", { htmlFor: "stream-name" }, "Stream name *"),
    h("div", nameInput, h("div.help", name
      ? "The name cannot change; delete the stream and create another to rename it."
      : "Lowercase letters a-z, digits and _, at most 100 (manual §3.1). It is part of every URL of the stream."), nameProblem),
    h("label.name", { htmlFor: "stream-source-type" }, "Source type"),
    h("div", kind),
    h("label.name", { htmlFor: "stream-source" }, "Source *"),
    h("div", h("div.inline", source, browse), sourceHelp, sourceNote, sourceProblem),
    pushBox,
    inputBox,
    h("label.name", { htmlFor: "stream-always-on" }, "Always on"),
    h("div", h("label.inline", alwaysOn, "Keep the input running with no viewer"),
      h("div.help", "Normally an input stops when nobody watches; this keeps it up, so the first viewer waits less (manual §3.2).")),
    debug.label, debug.box,
    kept,
    h("div.full.row", submit, h("button#stream-cancel", { type: "button", onclick: () => UI.go("streams") }, "Cancel"), problem));

    append(main, [
      h("div.heading", h("h1", name ? "Edit stream " + name : "New stream"),
        name ? h("button#stream-preview", { onclick: () => UI.go("preview/" + encodeURIComponent(name)) }, "Preview") : null),
      h("div.card", form),
    ]);
    update();
    (name ? (kind.value === "push" ? host : source) : nameInput).focus();
  },

  // The name's problem, "" when it may be added.
  nameProblem(value, editing) {
    if (editing) return "";
    const p = UI.streamNameProblem(value);
    if (p) return p;
    if (UI.streams && UI.streams[value]) return "A stream named " + value + " exists already; edit it in the list instead.";
    return "";
  },

  save(f) {
    f.problem.textContent = "";
    const name = f.name || f.nameInput.value.trim();
    let bad = null;
    const say = (el, msg, input) => { el.textContent = msg; if (msg && !bad) bad = input; if (input) input.classList.toggle("bad", !!msg); };
    say(f.nameProblem, this.nameProblem(name, f.name), f.nameInput);
    if (f.kind.value === "push") {
      const host = f.host.value.trim(), pass = f.pass.value.trim();
      say(f.hostProblem, host && !/^[A-Za-z0-9.:_\-\[\]]+(\/\d{1,3})?$/.test(host) ? "A host name or address, with an optional /mask, please." : "", f.host);
      say(f.passProblem, /[\s\/@?#]/.test(pass) ? "A passphrase may not hold spaces, /, @, ? or #." : "", f.pass);
    }
    const src = f.source.value.trim();
    say(f.sourceProblem, src ? "" : "A stream needs a source.", f.source);
    const fieldsOk = UI.checkFields([...f.fields(), f.debug]);
    if (bad) {
      bad.focus();
      f.problem.textContent = "Please correct the marked fields.";
      return;
    }
    if (!fieldsOk) {
      f.problem.textContent = "Please correct the marked fields.";
      return;
    }
    // Keys the form does not show are kept as they are.
    const config = Object.assign({}, f.current);
    config.source = src;
    for (const field of f.fields()) {
      const v = field.read();
      if (v === undefined || (v === false && field.input.type === "checkbox" && !(field.key in f.current))) delete config[field.key];
      else config[field.key] = v;
    }
    if (f.alwaysOn.checked) config.always_on = true;
    else delete config.always_on;
    const level = f.debug.read();
    if (level === undefined) delete config.debug;
    else config.debug = level;
    delete config.name;
    UI.run(f.submit, async () => {
      await UI.change({ addstream: { [name]: config } }, (a) => {
        const got = a.streams && a.streams[name];
        const trigger = f.name ? "STREAM_CONFIG" : "STREAM_ADD";
        if (!got) return "The server did not " + (f.name ? "change" : "add") + " the stream " + name + " (a " + trigger + " trigger may have refused it).";
        const stored = UI.streamConfig(got);
        const differs = Object.keys(config).filter((k) => JSON.stringify(stored[k]) !== JSON.stringify(config[k]))
          .concat(Object.keys(stored).filter((k) => k !== "name" && !(k in config)));
        if (differs.length) return "The server kept a different configuration for " + name + " (" + differs.join(", ") + "); a " + trigger + " trigger may have refused the change.";
        return "";
      }, (f.name ? "Saved the stream " : "Created the stream ") + name + ".");
      UI.go("streams");
    });
  },

  // The Browse dialog: folders and files on the server (`browse`); picks a file or a folder.
  browse(main, source, update) {
    const old = document.getElementById("stream-browse-dialog");
    if (old) old.remove();
    const where = h("input#stream-browse-path", { autocomplete: "off", spellcheck: "false" });
    const listBox = h("div.browse-list#stream-browse-list");
    const message = h("div.invalid#stream-browse-message");
    const useFolder = h("button#stream-browse-use-folder", { type: "button" }, "Use this folder");
    const dialog = h("dialog#stream-browse-dialog",
      h("h3", { style: "margin-top:0" }, "Choose a file or folder on the server"),
      h("form.inline", { onsubmit: (ev) => { ev.preventDefault(); go(where.value.trim()); } },
        where, h("button#stream-browse-go", { type: "submit" }, "Go")),
      message, listBox,
      h("div.row.end", useFolder, h("button#stream-browse-cancel", { type: "button", onclick: () => dialog.close() }, "Cancel")));
    let path = "";
    const pick = (value) => {
      source.value = value;
      dialog.close();
      update();
      source.focus();
    };
    const join = (dir, leaf) => (dir.endsWith("/") ? dir : dir + "/") + leaf;
    const go = (target) => UI.run(null, async () => {
      message.textContent = "";
      const a = await UI.api({ browse: target });
      const b = a.browse || {};
      const shown = Array.isArray(b.path) && b.path.length ? String(b.path[0]) : target;
      if (!Array.isArray(b.subdirectories) && !Array.isArray(b.files)) {
        message.textContent = "The server cannot open " + shown + " (it does not exist or may not be read).";
        where.value = shown;
        return;
      }
      path = shown;
      where.value = path;
      useFolder.disabled = false;
      clear(listBox);
      const parent = path.replace(/\/[^\/]*\/?$/, "") || "/";
      append(listBox, [
        path !== "/" ? h("button.browse-up", { type: "button", onclick: () => go(parent) }, "↑ .. (parent folder)") : null,
        (b.subdirectories || []).map((d) => h("button.browse-dir", { type: "button", "data-name": d, onclick: () => go(join(path, d)) }, d + "/")),
        (b.files || []).map((n) => h("button.browse-file", { type: "button", "data-name": n, onclick: () => pick(join(path, n)) }, n)),
        !(b.subdirectories || []).length && !(b.files || []).length ? h("p.muted", { style: "padding:8px 12px;margin:0" }, "This folder is empty.") : null,
      ]);
    });
    useFolder.addEventListener("click", () => { if (path) pick(join(path, "")); });
    useFolder.disabled = true;
    main.append(dialog);
    dialog.showModal();
    const value = source.value.trim();
    go(value.startsWith("/") ? (value.endsWith("/") ? value : value.replace(/\/[^\/]*$/, "") || "/") : "");
  },
});

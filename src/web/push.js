"use strict";
// The Push panel (manual §2.4): the running pushes from `push_list` (stream, target, status,
// bytes, time, the last log lines on demand; stop with `push_stop`), "start a push"
// (`push_start`), the automatic pushes (`push_auto_add` with the schedule, inhibit and start/end
// rules Eddy stores; `push_auto_remove`) and the push settings (`push_settings`). A recording
// target (a file path) shows where the file goes, the supported extensions, the variables and
// the RECORDING_END hint. The target helpers are on UI.pushTarget.

(function () {
  // File extensions Eddy records to (README "Pushes and recordings"), and what each gives.
  const EXTENSIONS = [
    ["flv", "FLV"],
    ["ts", "MPEG-TS"],
    ["mp4", "fragmented MP4; the index is written at the end, so the finished file seeks"],
    ["fmp4", "the same as .mp4"],
    ["mp3", "MP3 audio only"],
    ["aac", "AAC audio only"],
  ];
  const VARIABLES = [
    ["$stream", "the stream's full name"],
    ["$basename", "the name before the +"],
    ["$wildcard", "the part after the + (empty without one)"],
    ["$pluswildcard", "+ and the part after it (empty without one)"],
    ["$datetime", "$year.$month.$day.$hour.$minute.$second"],
    ["$year", "four digits"], ["$month", "01-12"], ["$day", "01-31"],
    ["$hour", "00-23"], ["$minute", "00-59"], ["$second", "00-59"],
    ["$wday", "weekday, 1-7, Monday is 1"], ["$yday", "day of the year, 001-366"],
    ["$week", "ISO week, 01-53"],
  ];
  // Start/end rule operators (facts §7.3).
  const OPERATORS = [
    [0, "is set and true"], [1, "is unset or false"], [2, "=="], [3, "!="],
    [10, "> (number)"], [11, ">= (number)"], [12, "< (number)"], [13, "<= (number)"],
    [20, "> (text)"], [21, ">= (text)"], [22, "< (text)"], [23, "<= (text)"],
  ];

  const T = UI.pushTarget = {
    isFile(target) {
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target);
      return !scheme || scheme[1].toLowerCase() === "file";
    },
    // The file path of a recording target, without file:// and the ?options.
    path(target) {
      return target.trim().replace(/^file:\/\//i, "").split("?")[0];
    },
    extension(target) {
      const name = T.path(target).split("/").pop();
      const dot = name.lastIndexOf(".");
      return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
    },
    // What is wrong with a target, as Eddy would see it (src/protocols/push/target.rs), or "".
    problem(target) {
      const t = target.trim();
      if (!t) return "A push needs a target: a file path (a recording) or an rtmp:// URL.";
      if (/[\r\n]/.test(t)) return "A target is one line.";
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(t);
      if (scheme && !/^(rtmp|file)$/i.test(scheme[1])) {
        return "Eddy pushes to rtmp:// URLs and records to files; it cannot push to " + scheme[1] + "://.";
      }
      if (scheme && /^rtmp$/i.test(scheme[1])) {
        return /^rtmp:\/\/[^\/\s]+\/[^\/\s]+\/\S+$/i.test(t) ? "" : "An RTMP target is rtmp://host[:port]/application/stream-key.";
      }
      const path = T.path(t);
      if (!path || path.endsWith("/")) return "Give a file name, not only a folder (e.g. /srv/rec/$stream.mp4).";
      const ext = T.extension(t);
      if (!EXTENSIONS.some(([e]) => e === ext)) {
        return "The file name must end in .flv, .ts, .mp4, .mp3 or .aac: the extension picks the container.";
      }
      const options = new URLSearchParams(t.includes("?") ? t.slice(t.indexOf("?") + 1) : "");
      const append = options.get("append");
      if (append !== null && append !== "0" && append.toLowerCase() !== "false" && (ext === "mp4" || ext === "fmp4")) {
        return "An MP4 file cannot be added to: record to a new file name (e.g. with $datetime) or use .ts or .flv.";
      }
      const duration = options.get("duration");
      if (duration !== null && !(Number(duration) > 0)) return "duration= is a number of seconds above 0.";
      return "";
    },
    // The target with its variables substituted for `stream` at `now` (local time), as Eddy does.
    substitute(target, stream, now = new Date()) {
      const two = (n) => String(n).padStart(2, "0");
      const base = stream.split(/[+ ]/)[0];
      const wildcard = stream.length > base.length ? stream.slice(base.length + 1) : "";
      const utc = Date.UTC(now.getFullYear(), now.getMonth(), now.getDate());
      const yday = (utc - Date.UTC(now.getFullYear(), 0, 1)) / 864e5 + 1;
      const thursday = new Date(utc + (4 - (now.getDay() || 7)) * 864e5);
      const week = Math.ceil(((thursday - Date.UTC(thursday.getUTCFullYear(), 0, 1)) / 864e5 + 1) / 7);
      const values = {
        stream, basename: base, wildcard, pluswildcard: wildcard ? "+" + wildcard : "",
        year: String(now.getFullYear()).padStart(4, "0"), month: two(now.getMonth() + 1), day: two(now.getDate()),
        hour: two(now.getHours()), minute: two(now.getMinutes()), second: two(now.getSeconds()),
        wday: String(((now.getDay() + 6) % 7) + 1), yday: String(yday).padStart(3, "0"), week: two(week),
      };
      values.datetime = [values.year, values.month, values.day, values.hour, values.minute, values.second].join(".");
      return target.replace(/\$\{([a-z_0-9]+)\}|\$([a-z_0-9]+)/gi, (whole, braced, bare) => {
        if (braced !== undefined) return braced in values ? values[braced] : whole;
        for (let end = bare.length; end > 0; end--) {
          if (bare.slice(0, end) in values) return values[bare.slice(0, end)] + bare.slice(end);
        }
        return whole;
      });
    },
    // "Recording to PATH" / "Pushing to URL", for tables.
    describe(target) {
      if (!T.isFile(target)) return [h("span.muted", "Pushing to "), h("code", target)];
      return [h("span.muted", "Recording to "), h("code", T.path(target))];
    },
  };

  // Whether an automatic push pattern covers a stream name (src/actors/push/auto.rs).
  function patternMatches(pattern, name) {
    if (!pattern || pattern.startsWith("#")) return false;
    if (pattern.endsWith("+")) return name.length > pattern.length && name.startsWith(pattern);
    return pattern === name;
  }

  function patternWords(pattern) {
    if (pattern.startsWith("#")) return "streams tagged " + pattern.slice(1);
    if (pattern.endsWith("+")) return "every " + pattern + "… stream (not " + pattern.slice(0, -1) + " itself)";
    return "the stream " + pattern;
  }

  function streamProblem(name) {
    if (!name) return "Name the stream to push.";
    if (name.startsWith("#")) return /^#[^\s]+$/.test(name) ? "" : "A tag is # and a word.";
    return UI.streamNameProblem(name.replace(/\+$/, ""), { wildcard: true });
  }

  function streamList(id) {
    const names = new Set(Object.keys(UI.streams || {}));
    for (const n of Object.keys((UI.config && UI.config.streams) || {})) names.add(n);
    return h("datalist", { id }, [...names].sort().flatMap((n) => [h("option", { value: n }), h("option", { value: n + "+" })]));
  }

  // The help shown under a target field: the preview, extensions, options, variables, RTMP and
  // the RECORDING_END hint.
  function targetHelp(preview) {
    return h("div.push-help",
      preview,
      h("details#push-target-help", { open: true },
        h("summary", "Targets, file types and variables"),
        h("p", "A file path records the stream: missing folders are created, a relative path is relative to the folder Eddy runs in. The extension picks the container:"),
        h("ul.push-ext", EXTENSIONS.map(([e, what]) => h("li", h("code", "." + e), " " + what))),
        h("p", "Options after the path: ", h("code", "?append=1"), " adds to an existing .flv, .ts, .mp3 or .aac file; ",
          h("code", "?duration=SECONDS"), " ends the recording after that much media."),
        h("p", h("code", "rtmp://host[:port]/application/stream-key"), " pushes to another server instead."),
        h("p", "Variables, substituted in local time when the push starts:"),
        h("ul.push-vars", VARIABLES.map(([v, what]) => h("li", h("code", v), " " + what))),
        h("p.push-hint#push-recording-hint", "Each finished file is reported by the ", h("strong", "RECORDING_END"),
          " trigger (stream, file path, container, bytes, duration, …): ",
          h("a", { href: "#triggers/new/RECORDING_END" }, "add a RECORDING_END handler"), " in the ",
          h("a", { href: "#triggers" }, "Triggers panel"), " to hear about it.")));
  }

  // Keeps a preview line under the target field current.
  function wirePreview(target, stream, preview, problem) {
    const update = () => {
      const t = target.value.trim();
      clear(preview);
      if (!t) return;
      const problem = T.problem(t);
      if (problem) return append(preview, [h("span.invalid", problem)]);
      let name = stream.value.trim();
      let note = "";
      if (!name || name.startsWith("#")) { name = "live"; note = " (for a stream called live)"; }
      else if (name.endsWith("+")) { name = name + "example"; note = " (for " + name + ")"; }
      const resolved = T.substitute(t, name);
      if (T.isFile(t)) {
        const ext = T.extension(t);
        append(preview, [h("span", "The file goes to "), h("code#push-target-where", T.path(resolved)),
          " — " + (EXTENSIONS.find(([e]) => e === ext) || ["", ""])[1] + note + ".",
          T.path(t).startsWith("/") ? null : h("div.muted", "This path is relative to the folder Eddy runs in.")]);
      } else {
        append(preview, [h("span", "Pushes to "), h("code#push-target-where", resolved), note + "."]);
      }
    };
    for (const input of [target, stream]) {
      input.addEventListener("input", () => {
        input.classList.remove("bad");
        problem.textContent = "";
        update();
      });
    }
    update();
  }

  UI.panel("push", {
    title: "Push",
    menu: true,
    logsOpen: new Set(),
    lastBytes: {},
    async render(main, arg) {
      if (arg === "start") return this.startForm(main);
      if (arg === "auto") return this.autoForm(main);
      const running = h("div#push-running");
      const auto = h("div#push-auto");
      const settings = h("div#push-settings-box");
      append(main, [
        h("div.heading", h("h1", "Push"),
          h("button#push-new", { onclick: () => UI.go("push/start") }, "Start a push"),
          h("button.primary#push-auto-new", { onclick: () => UI.go("push/auto") }, "Add an automatic push")),
        h("p.muted", "A push sends a live stream to another server or to a file on disk: a recording is a push to a file. " +
          "A push you start runs once, until its stream ends or you stop it; an automatic push starts for every matching stream that goes live."),
        h("h2", "Running pushes"), running,
        h("h2", "Automatic pushes"), auto,
        h("h2", "Push settings"), settings,
      ]);
      this.settingsForm(settings);
      let rules = {};
      const refresh = async () => {
        const a = await UI.api({ push_list: true, push_auto_list: true });
        rules = a.auto_push && typeof a.auto_push === "object" ? a.auto_push : {};
        this.rates = this.measure(Array.isArray(a.push_list) ? a.push_list : []);
        this.showRunning(running, Array.isArray(a.push_list) ? a.push_list : [], rules);
        this.showAuto(auto, rules);
      };
      this.refresh = refresh;
      UI.every(3, refresh);
    },

    // Bytes per second of each push since the previous poll.
    measure(list) {
      const now = Date.now();
      const rate = {}, seen = {};
      for (const [id, , , , , status] of list) {
        const bytes = (status && status.bytes) || 0;
        const last = this.lastBytes[id];
        if (last && now > last.at) rate[id] = ((bytes - last.bytes) * 1000) / (now - last.at);
        seen[id] = { bytes, at: now };
      }
      this.lastBytes = seen;
      return rate;
    },

    showRunning(box, list, rules) {
      const rate = this.rates || {};
      const table = UI.table([
        { title: "Stream", value: (r) => h("strong", String(r[1])) },
        {
          title: "Target", value: (r) => [
            h("div", T.describe(String(r[3] || r[2]))),
            r[3] && r[3] !== r[2] ? h("div.muted.small", "as given: ", h("code", String(r[2]))) : null,
          ],
        },
        {
          title: "Status", value: (r) => {
            const s = r[5] || {};
            const logs = Array.isArray(r[4]) ? r[4] : [];
            const last = logs.length ? logs[logs.length - 1] : null;
            const pill = !s.bytes ? h("span.pill.warn", "Waiting for media")
              : h("span.pill.ok", T.isFile(String(r[3] || r[2])) ? "Recording" : "Pushing");
            return [pill, last ? h("div.muted.small", String(last[2])) : null];
          },
        },
        { title: "Bytes", num: true, value: (r) => h("span.push-bytes", fmt.bytes((r[5] || {}).bytes || 0)) },
        { title: "Rate", num: true, value: (r) => (rate[r[0]] === undefined ? "–" : fmt.bps(Math.max(0, rate[r[0]]))) },
        {
          title: "Time", num: true, value: (r) => {
            const s = r[5] || {};
            return [fmt.duration(s.active_seconds || 0), h("div.muted.small", "media " + fmt.duration((s.media_tx || 0) / 1000))];
          },
        },
        {
          title: "", cls: "actions", value: (r) => [
            h("button#push-logs-" + r[0], {
              onclick: () => {
                if (this.logsOpen.has(r[0])) this.logsOpen.delete(r[0]);
                else this.logsOpen.add(r[0]);
                this.showRunning(box, list, rules);
              },
            }, this.logsOpen.has(r[0]) ? "Hide log" : "Log"), " ",
            h("button.danger#push-stop-" + r[0], { onclick: (ev) => this.stop(ev.target, r, rules) }, "Stop"),
          ],
        },
      ], list, { empty: "No push is running." });
      const rows = table.querySelectorAll("tbody tr");
      list.forEach((r, i) => {
        if (!rows[i]) return;
        rows[i].dataset.pushId = r[0];
        if (!this.logsOpen.has(r[0])) return;
        const logs = Array.isArray(r[4]) ? r[4] : [];
        const lines = logs.map((l) => h("div", { class: "kind-" + l[1] }, fmt.clock(l[0]) + "  " + l[1] + "  " + l[2]));
        rows[i].after(h("tr.push-log", h("td", { colspan: 7 },
          h("div.player-log#push-log-" + r[0], lines.length ? lines : h("span.muted", "No log lines yet.")))));
      });
      clear(box);
      append(box, [table]);
    },

    async stop(button, r, rules) {
      const [id, stream] = r;
      if (!confirm("Stop the push of " + stream + " to " + (r[3] || r[2]) + "?")) return;
      await UI.run(button, async () => {
        await UI.change({ push_stop: id });
        const gone = await UI.settle(6, async () => {
          const a = await UI.api({ push_list: true });
          return !(a.push_list || []).some((p) => p[0] === id);
        });
        if (!gone) throw new ApiError("The push of " + stream + " is still running after six seconds. The Logs panel may say why.");
        const restarts = Object.values(rules).some((e) => e && patternMatches(String(e.stream), stream) && e.target === r[2]) && this.wait > 0;
        UI.notify("Stopped the push of " + stream + "." + (restarts ? " An automatic push rule covers it: it starts again after " + this.wait + " s while the stream is live; remove the rule to stop it for good." : ""), "ok", 6);
        this.logsOpen.delete(id);
        if (this.refresh) await this.refresh();
      });
    },

    showAuto(box, rules) {
      const rows = Object.entries(rules).map(([id, e]) => ({ id, e: e || {} }));
      const when = (t) => fmt.time(Number(t));
      const rule = (words, r) => (Array.isArray(r) && r.length >= 2
        ? words + " " + r[0] + " " + ((OPERATORS.find(([n]) => n === Number(r[1])) || [0, String(r[1])])[1]) + (Number(r[1]) >= 2 && r[2] !== undefined && r[2] !== null ? " " + r[2] : "")
        : null);
      const table = UI.table([
        { title: "Streams", value: (r) => [h("strong", String(r.e.stream)), h("div.muted.small", patternWords(String(r.e.stream)))] },
        { title: "Target", value: (r) => h("div", T.describe(String(r.e.target))) },
        {
          title: "Conditions", value: (r) => {
            const inhibit = Array.isArray(r.e.inhibit) ? r.e.inhibit : r.e.inhibit ? [r.e.inhibit] : [];
            const parts = [
              r.e.scheduletime ? "from " + when(r.e.scheduletime) : null,
              r.e.completetime ? "until " + when(r.e.completetime) + " (then the rule is removed)" : null,
              r.e.scheduletime && !r.e.completetime ? "runs once, then the rule is removed" : null,
              inhibit.length ? "never for " + inhibit.join(", ") : null,
              rule("start when", r.e.start_rule), rule("stop when", r.e.end_rule),
            ].filter(Boolean);
            return parts.length ? parts.map((p) => h("div", p)) : h("span.muted", "Whenever a matching stream is live");
          },
        },
        {
          title: "", cls: "actions", value: (r) => h("button.danger#push-auto-remove-" + r.id, {
            onclick: (ev) => {
              if (!confirm("Remove the automatic push of " + r.e.stream + " to " + r.e.target + "? Running pushes keep running.")) return;
              UI.run(ev.target, async () => {
                await UI.change({ push_auto_remove: r.id, push_auto_list: true },
                  (a) => (a.auto_push && a.auto_push[r.id] ? "The rule is still there." : ""),
                  "Removed the automatic push of " + r.e.stream + ". Pushes it started keep running; stop them above.");
                if (this.refresh) await this.refresh();
              });
            },
          }, "Remove"),
        },
      ], rows, { empty: "No automatic push. “Add an automatic push” records or relays every matching stream as it goes live." });
      table.querySelectorAll("tbody tr").forEach((tr, i) => { if (rows[i]) tr.dataset.ruleId = rows[i].id; });
      clear(box);
      append(box, [table]);
    },

    // The push settings (manual §2.4), read once when the panel opens.
    async settingsForm(box) {
      const wait = h("input#push-wait", { type: "number", min: 0, step: 1 });
      const maxspeed = h("input#push-maxspeed", { type: "number", min: 0, step: 1 });
      const save = h("button.primary#push-settings-save", { type: "submit" }, "Save settings");
      const problem = h("div.invalid#push-settings-problem");
      const form = h("form.fields.card#push-settings", {
        onsubmit: (ev) => {
          ev.preventDefault();
          problem.textContent = "";
          const values = {};
          for (const [input, key, words] of [[wait, "wait", "The delay before retry"], [maxspeed, "maxspeed", "The maximum retries"]]) {
            const raw = input.value.trim();
            const n = Number(raw);
            const bad = raw === "" || !Number.isInteger(n) || n < 0;
            input.classList.toggle("bad", bad);
            if (bad && !problem.textContent) problem.textContent = words + " is a whole number, 0 or more.";
            values[key] = n;
          }
          if (problem.textContent) return;
          UI.run(save, async () => {
            const a = await UI.change({ push_settings: values }, (a) => {
              const s = a.push_settings || {};
              return Number(s.wait) === values.wait && Number(s.maxspeed) === values.maxspeed ? "" : "The server did not take the push settings.";
            }, "Push settings saved.");
            this.wait = Number(a.push_settings.wait);
          });
        },
      },
      h("label.name", { htmlFor: "push-wait" }, "Delay before retry"),
      h("div", wait, h("div.help", "How many seconds a failed or stopped automatic push waits before it is started again, while its stream is still live. " +
        "0 (the default) means no retries at all: set at least 1 to turn retries on.")),
      h("label.name", { htmlFor: "push-maxspeed" }, "Maximum retries"),
      h("div", maxspeed, h("div.help", "How many retries may start per second, to keep from overloading a target or the server. 0 (the default) means no limit.")),
      h("div.full.row", save, problem));
      append(box, [form]);
      const a = await UI.api({ push_settings: true });
      const s = a.push_settings || {};
      wait.value = s.wait !== undefined ? s.wait : 0;
      maxspeed.value = s.maxspeed !== undefined ? s.maxspeed : 0;
      this.wait = Number(s.wait) || 0;
    },

    // "Start a push": push_start {stream, target}; the push shows in push_list when it runs.
    async startForm(main) {
      await UI.api({ streams: true, config: true });
      const stream = h("input#push-stream", { list: "push-stream-names", placeholder: "e.g. live", autocomplete: "off" });
      const target = h("input#push-target", { placeholder: "e.g. /srv/recordings/$stream-$datetime.mp4 or rtmp://host/app/key", autocomplete: "off" });
      const preview = h("div.push-preview#push-target-preview");
      const problem = h("div.invalid#push-problem");
      const submit = h("button.primary#push-start", { type: "submit" }, "Start the push");
      const form = h("form.fields", {
        onsubmit: (ev) => {
          ev.preventDefault();
          const s = stream.value.trim(), t = target.value.trim();
          problem.textContent = streamProblem(s) || T.problem(t);
          stream.classList.toggle("bad", !!streamProblem(s));
          target.classList.toggle("bad", !!T.problem(t));
          if (problem.textContent) return;
          UI.run(submit, async () => {
            await UI.change({ push_start: { stream: s, target: t } });
            const exact = !s.endsWith("+") && !s.startsWith("#");
            const started = await UI.settle(4, async () => {
              const a = await UI.api({ push_list: true });
              return (a.push_list || []).some((p) => (exact ? p[1] === s : patternMatches(s, String(p[1]))) && p[2] === t);
            });
            if (!started) {
              throw new ApiError("The push of " + s + " did not start or ended at once" + (exact && !(UI.streams[s] && UI.streams[s].online === 1) ? ": " + s + " does not seem to be live." : ".") + " The Logs panel says why.");
            }
            UI.notify("Started the push of " + s + ".", "ok", 4);
            UI.go("push");
          });
        },
      },
      h("label.name", { htmlFor: "push-stream" }, "Stream *"),
      h("div", stream, streamList("push-stream-names"),
        h("div.help", "A stream name; live+ pushes every live live+… stream, #tag every stream with that tag. The stream must be live (a push ends with its stream).")),
      h("label.name", { htmlFor: "push-target" }, "Target *"),
      h("div", target, targetHelp(preview)),
      h("div.full.row", submit, h("button", { type: "button", onclick: () => UI.go("push") }, "Cancel"), problem));
      append(main, [h("div.heading", h("h1", "Start a push")),
        h("p.muted", "Runs once: until the stream ends, the target fails or you stop it. For a recording of every broadcast, add an automatic push instead."),
        h("div.card", form)]);
      wirePreview(target, stream, preview, problem);
      stream.focus();
    },

    // "Add an automatic push": push_auto_add with the optional fields Eddy stores.
    async autoForm(main) {
      await UI.api({ streams: true, config: true });
      const stream = h("input#push-auto-stream", { list: "push-auto-stream-names", placeholder: "e.g. live, or cam+ for every cam+… stream", autocomplete: "off" });
      const target = h("input#push-auto-target", { placeholder: "e.g. /srv/recordings/$stream/$datetime.mp4", autocomplete: "off" });
      const preview = h("div.push-preview#push-target-preview");
      const start = h("input#push-auto-start", { type: "datetime-local" });
      const end = h("input#push-auto-end", { type: "datetime-local" });
      const inhibit = h("input#push-auto-inhibit", { placeholder: "e.g. cam+test, cam+private" });
      const ruleFields = (prefix) => {
        const variable = h("input#push-auto-" + prefix + "-var", { placeholder: "variable, e.g. $recording" });
        const op = h("select#push-auto-" + prefix + "-op", OPERATORS.map(([n, words]) => h("option", { value: n }, words)));
        const value = h("input#push-auto-" + prefix + "-value", { placeholder: "value" });
        op.addEventListener("change", () => { value.disabled = Number(op.value) < 2; });
        value.disabled = true;
        return { variable, op, value, box: h("div.push-rule", variable, op, value) };
      };
      const startRule = ruleFields("startrule"), endRule = ruleFields("endrule");
      const problem = h("div.invalid#push-problem");
      const submit = h("button.primary#push-auto-save", { type: "submit" }, "Add the automatic push");
      const unix = (input) => (input.value ? Math.floor(new Date(input.value).getTime() / 1000) : 0);
      const form = h("form.fields", {
        onsubmit: (ev) => {
          ev.preventDefault();
          const s = stream.value.trim(), t = target.value.trim();
          const from = unix(start), until = unix(end);
          let msg = streamProblem(s) || T.problem(t);
          const inhibited = inhibit.value.split(",").map((x) => x.trim()).filter(Boolean);
          const badInhibit = inhibited.find((x) => streamProblem(x));
          if (!msg && badInhibit) msg = "“" + badInhibit + "” in Never for: " + streamProblem(badInhibit);
          if (!msg && until && until <= Date.now() / 1000) msg = "The end time is in the past: the rule would be removed at once.";
          if (!msg && from && until && until <= from) msg = "The end time must come after the start time.";
          for (const [r, words] of [[startRule, "start"], [endRule, "stop"]]) {
            if (!msg && !r.variable.value.trim() && r.value.value.trim()) msg = "The " + words + " condition needs a variable name.";
          }
          stream.classList.toggle("bad", !!streamProblem(s));
          target.classList.toggle("bad", !!T.problem(t));
          problem.textContent = msg;
          if (msg) return;
          const entry = { stream: s, target: t };
          if (from) entry.scheduletime = from;
          if (until) entry.completetime = until;
          if (inhibited.length) entry.inhibit = inhibited;
          for (const [r, key] of [[startRule, "start_rule"], [endRule, "end_rule"]]) {
            const v = r.variable.value.trim();
            if (v) entry[key] = [v, Number(r.op.value), Number(r.op.value) < 2 ? "" : r.value.value.trim()];
          }
          UI.run(submit, async () => {
            await UI.change({ push_auto_add: entry, push_auto_list: true }, (a) => {
              const stored = Object.values(a.auto_push || {});
              return stored.some((e) => e && e.stream === s && e.target === t) ? "" : "The server did not store the automatic push.";
            }, "Added the automatic push of " + s + ".");
            UI.go("push");
          });
        },
      },
      h("label.name", { htmlFor: "push-auto-stream" }, "Streams *"),
      h("div", stream, streamList("push-auto-stream-names"),
        h("div.help", "foo is only the stream foo; foo+ is every wildcard stream foo+… but not foo itself; foo+bar only that one.")),
      h("label.name", { htmlFor: "push-auto-target" }, "Target *"),
      h("div", target, targetHelp(preview)),
      h("div.full", h("details.push-optional#push-auto-optional",
        h("summary", "Schedule, exceptions and conditions (optional)"),
        h("div.grid2",
          h("label.name", { htmlFor: "push-auto-start" }, "Start at"),
          h("div", start, h("div.help", "The rule waits until then. A rule with a start but no end runs once and is then removed.")),
          h("label.name", { htmlFor: "push-auto-end" }, "End at"),
          h("div", end, h("div.help", "At this time the rule's pushes are stopped and the rule is removed.")),
          h("label.name", { htmlFor: "push-auto-inhibit" }, "Never for"),
          h("div", inhibit, h("div.help", "Streams that must not get this push, separated by commas (the same patterns: cam+test, cam+ …).")),
          h("label.name", "Start when"),
          h("div", startRule.box, h("div.help", "A condition on a stream variable. Eddy keeps it with the rule (for MistServer) but has no custom stream variables yet, so it does not check it: the push starts as if it were not set.")),
          h("label.name", "Stop when"),
          h("div", endRule.box, h("div.help", "Kept with the rule and not checked, like the start condition."))))),
      h("div.full.row", submit, h("button", { type: "button", onclick: () => UI.go("push") }, "Cancel"), problem));
      append(main, [h("div.heading", h("h1", "Add an automatic push")),
        h("p.muted", "An automatic push starts at once for every matching stream that is live, and every time a matching stream goes live. " +
          "With a delay before retry (Push settings) it also restarts a push that stopped or failed while the stream is still live."),
        h("div.card", form)]);
      wirePreview(target, stream, preview, problem);
      stream.focus();
    },
  });
})();

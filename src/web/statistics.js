"use strict";
// The Statistics panel (manual §2.7) and the Server stats panel (§2.8).
//
// Statistics: live charts of viewers and bandwidth over the last ten minutes, in total and per
// stream (from `totals`), and the sessions connected now (from `clients`, with Eddy's `tags`
// field) with "Stop session" (`stop_sessid`), "Tag session" (`tag_sessid`) and "Stop tag"
// (`stop_tag`): the commands scripts use.
//
// Server stats: the machine's CPU use, memory and load, and Eddy's own CPU use, memory and
// uptime (`capabilities`, with Eddy's `process` extension), charted over the time the page has
// been open (at most ten minutes, kept in the page).

const STATS_SECONDS = 600;
const STATS_MAX_STREAM_LINES = 8;
const STATS_MAX_ROWS = 300;
const STATS_CLIENT_FIELDS = ["host", "stream", "protocol", "conntime", "down", "up", "downbps", "upbps", "sessid", "tags"];

// A `clients` answer as objects keyed by field name.
UI.clientRows = function (answer) {
  if (!answer || !Array.isArray(answer.fields) || !Array.isArray(answer.data)) return [];
  return answer.data.map((row) => Object.fromEntries(answer.fields.map((f, i) => [f, row[i]])));
};

// Asks `clients` every half second, for up to `seconds`, until `done(rows)` is true.
UI.waitForClients = function (filter, done, seconds = 6) {
  return UI.settle(seconds, async () => {
    const a = await UI.api({ clients: Object.assign({ fields: ["sessid", "tags"] }, filter) });
    return done(UI.clientRows(a.clients));
  });
};

// A tag is any short text; brackets are left out because the access log and USER_END list
// tags as [tag1][tag2].
UI.tagProblem = function (tag) {
  if (!tag) return "Type a tag.";
  if (tag.length > 100) return "A tag is at most 100 characters.";
  if (/[\[\]\u0000-\u001f]/.test(tag)) return "A tag may not hold [ ] or control characters.";
  return "";
};

// A session id is long; the table shows its start.
UI.shortId = (id) => (String(id).length > 12 ? String(id).slice(0, 10) + "…" : String(id));

UI.panel("statistics", {
  title: "Statistics",
  menu: true,
  async render(main, arg) {
    let picked = arg || "";
    let known = [];            // stream names the picker lists
    let polls = 0;
    const stopping = new Set(); // sessions asked to stop, until they are gone
    const picker = h("select#stats-stream", { title: "Show one stream (with its wildcard streams) or all" });
    const updated = h("span#stats-updated.muted.small");
    const figures = h("div.cards#stats-figures");
    const unit = { viewers: fmt.number, rate: fmt.bps };
    const charts = {
      viewers: UI.chart("Viewers", [], { unit: unit.viewers, seconds: STATS_SECONDS, gap: 25, integer: true, empty: "No viewers in the last ten minutes" }),
      // MistServer's sense, from the server's side: up is what it sent, down what it received.
      up: UI.chart("Sent to viewers (up)", [], { unit: unit.rate, seconds: STATS_SECONDS, gap: 25, empty: "Nothing sent in the last ten minutes" }),
      down: UI.chart("Received from sources (down)", [], { unit: unit.rate, seconds: STATS_SECONDS, gap: 25, empty: "Nothing received in the last ten minutes" }),
    };
    charts.viewers.el.id = "stats-chart-viewers";
    charts.down.el.id = "stats-chart-down";
    charts.up.el.id = "stats-chart-up";
    const tagsBar = h("div#stats-tags.row");
    const sessions = h("div#stats-sessions");
    const sessionsNote = h("span#stats-sessions-note.muted.small");

    // The tag form: a small dialog, not prompt().
    const tagInput = h("input#stats-tag-input", { type: "text", maxlength: 100, placeholder: "e.g. paid", autocomplete: "off" });
    const tagWho = h("p.muted.small#stats-tag-who");
    const tagProblemBox = h("div.invalid#stats-tag-problem");
    const tagSave = h("button.primary#stats-tag-save", { type: "submit" }, "Tag session");
    let tagTarget = null;
    const tagDialog = h("dialog#stats-tag-dialog",
      h("form.stats-tag-form", { method: "dialog", onsubmit: (ev) => { ev.preventDefault(); submitTag(); } },
        h("h3", { style: "margin-top:0" }, "Tag a session"), tagWho,
        h("label.name", { htmlFor: "stats-tag-input" }, "Tag"), tagInput,
        h("div.help.muted.small", "Tags mark sessions for scripts and for “Stop tag”; they appear in the access log and in USER_END."),
        tagProblemBox,
        h("div.row.end", h("button#stats-tag-cancel", { type: "button", onclick: () => tagDialog.close() }, "Cancel"), tagSave)));

    append(main, [
      h("div.heading", h("h1", "Statistics"), updated, h("label.inline", h("span.muted", "Stream"), picker)),
      figures,
      h("div.charts.stats-charts", charts.viewers.el, charts.up.el, charts.down.el),
      h("div.heading.stats-sessions-head", h("h2", "Sessions connected now"), sessionsNote),
      tagsBar,
      sessions,
      h("p.muted.small", "Statistics of sessions that ended are kept for about ten minutes; the charts show the last ten minutes. “Stop session” closes a session's connections: a player that reconnects comes back as the same session."),
      tagDialog,
    ]);

    const setPicker = () => {
      const names = new Set(known);
      for (const n of Object.keys(UI.streams || {})) names.add(n);
      if (picked) names.add(picked);
      const options = [["", "All streams"], ...[...names].sort().map((n) => [n, n])];
      const sig = JSON.stringify(options);
      if (picker.dataset.sig === sig) return;
      picker.replaceChildren(...options.map(([v, t]) => h("option", { value: v, selected: v === picked }, t)));
      picker.dataset.sig = sig;
      picker.value = picked;
    };
    picker.addEventListener("change", () => {
      picked = picker.value;
      history.replaceState(null, "", "#statistics" + (picked ? "/" + encodeURIComponent(picked) : ""));
      for (const c of Object.values(charts)) c.draw([]);
      UI.run(null, refresh);
    });

    // The streams drawn as their own lines with "All streams": base names (a base name's line
    // counts its wildcard streams too).
    const lineStreams = () => {
      const bases = [...new Set(known.map((n) => n.split("+")[0]))].sort();
      // One stream's line would only hide the total's.
      return bases.length > 1 ? bases.slice(0, STATS_MAX_STREAM_LINES) : [];
    };

    const refresh = async () => {
      const fields = ["clients", "inputs", "downbps", "upbps"];
      const perStream = picked ? [] : lineStreams();
      const totals = [{ fields, start: -STATS_SECONDS }];
      if (picked) totals[0].streams = [picked];
      for (const s of perStream) totals.push({ fields, start: -STATS_SECONDS, streams: [s] });
      const clients = { fields: STATS_CLIENT_FIELDS };
      if (picked) clients.streams = [picked];
      // The configured streams too, for the picker, now and then.
      const command = { totals, clients, stats_streams: true };
      if (polls++ % 10 === 0) command.streams = true;
      const asked = picked;
      const a = await UI.api(command);
      // An answer for the stream picked before is not drawn.
      if (asked !== picked) return;
      known = Array.isArray(a.stats_streams) ? a.stats_streams.filter((s) => typeof s === "string") : known;
      setPicker();
      const answers = Array.isArray(a.totals) ? a.totals : [a.totals];
      const total = answers[0];
      const series = (field) => {
        const name = picked || "All streams";
        const out = [{ name, points: UI.totalsPoints(total, field) }];
        perStream.forEach((s, i) => out.push({ name: s, points: UI.totalsPoints(answers[i + 1], field), color: UI.chartColors[(i + 1) % UI.chartColors.length] }));
        return out;
      };
      charts.viewers.draw(series("clients"));
      charts.down.draw(series("downbps"));
      charts.up.draw(series("upbps"));
      const rows = UI.clientRows(a.clients);
      this.figures(figures, total, rows);
      this.sessions(sessions, sessionsNote, tagsBar, rows, { stopping, openTag, stopSession, stopTag });
      updated.textContent = "Updated " + fmt.clock(Date.now() / 1000);
    };

    const openTag = (row) => {
      tagTarget = row;
      tagInput.value = "";
      tagProblemBox.textContent = "";
      tagInput.classList.remove("bad");
      tagWho.textContent = "Session " + UI.shortId(row.sessid) + " on " + row.stream + " (" + row.protocol + " from " + row.host + ")" +
        (row.tags && row.tags.length ? "; tagged " + row.tags.join(", ") : "") + ".";
      tagDialog.showModal();
      tagInput.focus();
    };
    const submitTag = () => {
      const tag = tagInput.value.trim();
      const problem = UI.tagProblem(tag);
      tagProblemBox.textContent = problem;
      tagInput.classList.toggle("bad", !!problem);
      if (problem || !tagTarget) return;
      const sessid = tagTarget.sessid;
      UI.run(tagSave, async () => {
        await UI.api({ tag_sessid: { [sessid]: tag } });
        const ok = await UI.waitForClients({}, (rows) => rows.some((r) => r.sessid === sessid && (r.tags || []).includes(tag)), 5);
        tagDialog.close();
        if (!ok) throw new ApiError("The server did not tag session " + UI.shortId(sessid) + ": it may have ended.");
        UI.notify("Tagged session " + UI.shortId(sessid) + " “" + tag + "”.", "ok", 4);
        await refresh();
      });
    };
    tagInput.addEventListener("input", () => { tagProblemBox.textContent = ""; tagInput.classList.remove("bad"); });

    const stopSession = (button, row) => {
      if (!confirm("Stop session " + UI.shortId(row.sessid) + " (" + row.protocol + " from " + row.host + " on " + row.stream + ")? Its connections close now.")) return;
      UI.run(button, async () => {
        stopping.add(row.sessid);
        UI.run(null, refresh);
        try {
          await UI.api({ stop_sessid: row.sessid });
          const gone = await UI.waitForClients({}, (rows) => !rows.some((r) => r.sessid === row.sessid));
          if (!gone) throw new ApiError("Session " + UI.shortId(row.sessid) + " is still connected: it may have reconnected at once.");
          UI.notify("Stopped session " + UI.shortId(row.sessid) + ".", "ok", 4);
        } finally {
          stopping.delete(row.sessid);
          await refresh();
        }
      });
    };

    const stopTag = (button, tag, n) => {
      if (!confirm("Stop the " + n + " session" + (n === 1 ? "" : "s") + " tagged “" + tag + "”? Their connections close now.")) return;
      UI.run(button, async () => {
        await UI.api({ stop_tag: tag });
        const gone = await UI.waitForClients({}, (rows) => !rows.some((r) => (r.tags || []).includes(tag)));
        await refresh();
        if (!gone) throw new ApiError("Sessions tagged “" + tag + "” are still connected: a player that reconnects comes back with its tags.");
        UI.notify("Stopped the sessions tagged “" + tag + "”.", "ok", 4);
      });
    };

    setPicker();
    UI.every(3, refresh);
  },

  // The figures now: the last point of the totals, and the sessions listed.
  figures(box, total, rows) {
    const fig = (id, value, label) => h("div.figure", { id: "stats-fig-" + id }, h("div.value", value), h("div.label", label));
    const last = total && Array.isArray(total.data) && total.data.length ? total.data[total.data.length - 1] : null;
    const col = (f) => (last && total.fields.indexOf(f) >= 0 ? last[total.fields.indexOf(f)] : 0);
    box.replaceChildren(
      fig("viewers", fmt.number(col("clients")), "Viewers now"),
      fig("inputs", fmt.number(col("inputs")), "Inputs now"),
      fig("up", fmt.bps(col("upbps")), "Sent to viewers"),
      fig("down", fmt.bps(col("downbps")), "Received from sources"),
      fig("sessions", fmt.number(rows.length), "Sessions connected"));
  },

  // The sessions table and the tags above it. Rows are kept per session and updated in place,
  // so a poll neither flickers nor takes a button away from under the pointer.
  sessions(box, note, tagsBar, rows, actions) {
    const tags = {};
    for (const r of rows) for (const t of r.tags || []) tags[t] = (tags[t] || 0) + 1;
    const tagNames = Object.keys(tags).sort();
    const tagSig = JSON.stringify(tags);
    if (tagsBar.dataset.sig !== tagSig) {
      tagsBar.dataset.sig = tagSig;
      tagsBar.replaceChildren(...(tagNames.length
        ? [h("span.muted", "Tags:"), ...tagNames.map((t) => h("span.stats-tag", { "data-tag": t },
          h("span.pill", t), h("span.muted.small", " " + tags[t] + " session" + (tags[t] === 1 ? "" : "s") + " "),
          h("button.danger.stats-stop-tag", { type: "button", "data-tag": t, title: "Stop every session tagged " + t, onclick: (ev) => actions.stopTag(ev.currentTarget, t, tags[t]) }, "Stop tag")))]
        : []));
    }
    const shown = rows.slice(-STATS_MAX_ROWS).reverse();
    note.textContent = rows.length > shown.length ? "The newest " + shown.length + " of " + rows.length + " sessions." : "";
    const columns = [
      { title: "Session", value: (r) => h("code", { title: r.sessid }, UI.shortId(r.sessid)) },
      { title: "Stream", value: (r) => r.stream },
      { title: "Protocol", value: (r) => r.protocol },
      { title: "Host", value: (r) => r.host },
      { title: "Connected", num: true, value: (r) => fmt.duration(r.conntime) },
      { title: "Sent / received", num: true, value: (r) => fmt.bytes(r.up) + " / " + fmt.bytes(r.down) },
      { title: "Rate sent / received", num: true, value: (r) => fmt.bps(r.upbps) + " / " + fmt.bps(r.downbps) },
      { title: "Tags", cls: "stats-tags-cell", value: (r) => (r.tags || []).map((t) => h("span.pill", { "data-tag": t }, t)) },
      {
        title: "", cls: "actions", value: (r) => actions.stopping.has(r.sessid) ? h("span.muted.small", "Stopping…") : [
          h("button.stats-tag-session", { type: "button", "data-sessid": r.sessid, onclick: () => actions.openTag(box.rows.get(r.sessid).row) }, "Tag session"), " ",
          h("button.danger.stats-stop-session", { type: "button", "data-sessid": r.sessid, onclick: (ev) => actions.stopSession(ev.currentTarget, box.rows.get(r.sessid).row) }, "Stop session"),
        ],
      },
    ];
    if (!box.rows) {
      box.rows = new Map();
      box.replaceChildren(UI.table(columns, [], { empty: "No session is connected now." }));
      box.tbody = box.querySelector("tbody");
      box.emptyRow = box.tbody.firstChild;
    }
    const rowsNow = new Map();
    for (const r of shown) {
      let entry = box.rows.get(r.sessid);
      if (!entry) {
        const tr = h("tr.stats-session", { "data-sessid": r.sessid });
        entry = { tr, cells: columns.map((c) => tr.appendChild(h("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null }))), sigs: [] };
      }
      entry.row = r;
      // A cell is rebuilt only when what it shows changed.
      columns.forEach((c, i) => {
        const sig = i === columns.length - 1 ? String(actions.stopping.has(r.sessid)) : JSON.stringify(c.title === "Session" ? r.sessid : c.title === "Tags" ? r.tags : String(textOf(c.value(r))));
        if (entry.sigs[i] === sig) return;
        entry.sigs[i] = sig;
        entry.cells[i].replaceChildren(...[c.value(r)].flat().filter((x) => x !== null && x !== undefined).map((x) => (x instanceof Node ? x : document.createTextNode(String(x)))));
      });
      rowsNow.set(r.sessid, entry);
    }
    for (const [id, entry] of box.rows) if (!rowsNow.has(id)) entry.tr.remove();
    box.rows = rowsNow;
    // Put the rows in order, moving only those out of place.
    let at = box.tbody.firstChild;
    if (shown.length && at === box.emptyRow) { box.emptyRow.remove(); at = box.tbody.firstChild; }
    for (const r of shown) {
      const tr = rowsNow.get(r.sessid).tr;
      if (at === tr) at = tr.nextSibling;
      else box.tbody.insertBefore(tr, at);
    }
    if (!shown.length && !box.emptyRow.parentNode) box.tbody.append(box.emptyRow);

    function textOf(v) {
      return v instanceof Node ? v.textContent : v;
    }
  },
});

// ---------------------------------------------------------------------------------------------
// Server stats (manual §2.8).

// What the page has measured while open, at most ten minutes: {t, cpu, eddyCpu, used, cached,
// total, rss, load1, load5, load15}.
UI.serverHistory = { points: [], prev: null };

UI.panel("server", {
  title: "Server stats",
  menu: true,
  async render(main) {
    const hist = UI.serverHistory;
    const figures = h("div.cards#server-figures");
    const updated = h("span#server-updated.muted.small");
    const pct = (v) => (Math.round(v * 10) / 10) + "%";
    const mib = (v) => fmt.bytes(v * 1048576);
    const charts = {
      cpu: UI.chart("CPU use (% of all cores)", [], { unit: pct, gap: 12, min: 0, floor: 10 }),
      mem: UI.chart("Machine memory", [], { unit: fmt.bytes, gap: 12, binary: true }),
      rss: UI.chart("Eddy's memory (resident)", [], { unit: fmt.bytes, gap: 12, binary: true }),
      load: UI.chart("Load average", [], { unit: (v) => (Math.round(v * 100) / 100).toString(), gap: 12, floor: 1 }),
    };
    for (const [k, c] of Object.entries(charts)) c.el.id = "server-chart-" + k;
    const machine = h("div#server-machine.muted.small");
    append(main, [
      h("div.heading", h("h1", "Server stats"), updated),
      figures,
      h("div.charts", charts.cpu.el, charts.mem.el, charts.rss.el, charts.load.el),
      machine,
      h("p.muted.small", "Measured by this page while it is open (at most the last ten minutes); a gap is time the page was not looking. Figures for the machine come from /proc and are informational."),
    ]);

    const draw = () => {
      const p = hist.points;
      const s = (name, key, scale = 1) => ({ name, points: p.map((x) => [x.t, x[key] === null ? null : x[key] * scale]) });
      charts.cpu.draw([s("Machine", "cpu"), s("Eddy", "eddyCpu")]);
      charts.mem.draw([s("Used", "used", 1048576), s("Cache", "cached", 1048576)]);
      charts.rss.draw([s("Eddy", "rss")]);
      charts.load.draw([s("1 min", "load1"), s("5 min", "load5"), s("15 min", "load15")]);
    };

    const refresh = async () => {
      const a = await UI.api({ capabilities: true });
      const c = a.capabilities || {};
      const proc = c.process || {};
      const now = Date.now() / 1000;
      const threads = Number(c.threads) || (Array.isArray(c.cpu) ? c.cpu.reduce((n, x) => n + (Number(x.threads) || 0), 0) : 0) || 1;
      // Eddy's CPU: the CPU seconds it used since the last look, over the time passed.
      let eddyCore = null;
      if (hist.prev && typeof proc.cpu_seconds === "number" && now - hist.prev.t > 0.5 && now - hist.prev.t < 30 &&
        proc.cpu_seconds >= hist.prev.cpu) {
        eddyCore = ((proc.cpu_seconds - hist.prev.cpu) / (now - hist.prev.t)) * 100;
      }
      if (typeof proc.cpu_seconds === "number") hist.prev = { t: now, cpu: proc.cpu_seconds };
      const mem = c.mem || {}, load = c.load || {};
      const point = {
        t: now,
        cpu: typeof c.cpu_use === "number" ? c.cpu_use / 10 : null,
        eddyCpu: eddyCore === null ? null : eddyCore / threads,
        used: typeof mem.used === "number" ? mem.used : null,
        cached: typeof mem.cached === "number" ? mem.cached : null,
        total: typeof mem.total === "number" ? mem.total : null,
        rss: typeof proc.rss === "number" ? proc.rss : null,
        load1: typeof load.one === "number" ? load.one / 100 : null,
        load5: typeof load.five === "number" ? load.five / 100 : null,
        load15: typeof load.fifteen === "number" ? load.fifteen / 100 : null,
      };
      hist.points.push(point);
      while (hist.points.length && hist.points[0].t < now - STATS_SECONDS) hist.points.shift();
      draw();

      const fig = (id, value, label, title) => h("div.figure", { id: "server-fig-" + id, title: title || null }, h("div.value", value), h("div.label", label));
      figures.replaceChildren(
        fig("cpu", point.cpu === null ? "–" : pct(point.cpu), "Machine CPU use"),
        fig("eddy-cpu", eddyCore === null ? "…" : pct(eddyCore / threads), "Eddy's CPU use" + (eddyCore === null ? "" : " (" + pct(eddyCore) + " of one core)"),
          "CPU seconds Eddy used per second, over the last few seconds, as a share of all " + threads + " threads"),
        fig("mem", point.used === null ? "–" : mib(point.used), "Machine memory used" + (point.total ? " of " + mib(point.total) : "")),
        fig("rss", point.rss === null ? "–" : fmt.bytes(point.rss), "Eddy's resident memory"),
        fig("uptime", proc.uptime === undefined ? "–" : fmt.duration(proc.uptime), "Eddy's uptime"),
        fig("load", point.load1 === null ? "–" : point.load1.toFixed(2), "Load (1 min)" + (point.load5 === null ? "" : "; 5 min " + point.load5.toFixed(2) + ", 15 min " + point.load15.toFixed(2))));
      figures.dataset.uptime = String(proc.uptime === undefined ? "" : proc.uptime);
      const cpus = Array.isArray(c.cpu) ? c.cpu : [];
      machine.textContent = (cpus.length ? cpus.map((x) => x.model + " (" + x.cores + " cores, " + x.threads + " threads" + (x.mhz ? ", " + x.mhz + " MHz" : "") + ")").join("; ") : "CPU unknown") +
        " · " + threads + " threads in all" + (typeof mem.swaptotal === "number" && mem.swaptotal ? " · swap " + mib(mem.swaptotal - (mem.swapfree || 0)) + " used of " + mib(mem.swaptotal) : " · no swap");
      updated.textContent = "Updated " + fmt.clock(now);
    };
    draw();
    UI.every(3, refresh);
  },
});

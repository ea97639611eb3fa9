"use strict";
// The Logs panel (manual §2.6): the server's recent log lines, newest first, updated every two
// seconds, with filters by kind (level) and by stream, a text search and a pause toggle.
//
// The server keeps its last 100 lines (`{"log": true}`: entries are [unix_time, kind, message,
// stream, pid, exe, line]); the page keeps every line it has seen while open (up to
// LOG_KEEP), so lines do not vanish from view when the server's book wraps.

const LOG_KEEP = 1000;
// Kinds in the order the filter lists them; others follow by name.
const LOG_KIND_ORDER = ["FAIL", "ERROR", "WARN", "INFO", "CONF", "AUTH", "STRM", "ACCS", "DEVEL", "DEBUG"];
// Filter groups besides single kinds.
const LOG_GROUPS = {
  "@errors": { label: "Errors (ERROR, FAIL)", kinds: ["ERROR", "FAIL"] },
  "@problems": { label: "Errors and warnings", kinds: ["ERROR", "FAIL", "WARN"] },
};

// What the page has seen, kept while it is open (also across panel switches).
UI.logState = { lines: [], last: null, seen: 0 };

// The lines of `next` (a `log` answer) that were not in `prev` (the answer before it). The book
// drops its oldest lines as new ones come, so the new answer starts somewhere inside the old
// one: find the longest tail of `prev` that begins `next`; what follows it is new.
UI.freshLogLines = function (prev, next) {
  if (!prev) return next.slice();
  const key = (e) => JSON.stringify(e);
  const a = prev.map(key), b = next.map(key);
  for (let j = 0; j < a.length; j++) {
    const n = a.length - j;
    if (n > b.length) continue;
    let same = true;
    for (let i = 0; i < n && same; i++) same = a[j + i] === b[i];
    if (same) return next.slice(n);
  }
  return next.slice();
};

// Whether a log line concerns `stream`: it names the stream (or a wildcard child of it) in its
// stream element, or mentions it in its text.
UI.logMatchesStream = function (entry, stream) {
  const named = String(entry[3] || "");
  if (named) {
    if (named === stream || named.split("+")[0] === stream) return true;
  }
  const esc = stream.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp("(^|[^A-Za-z0-9_])" + esc + "(?![A-Za-z0-9_])").test(String(entry[2] || ""));
};

UI.logKindOrder = function (kinds) {
  return [...kinds].sort((x, y) => {
    const a = LOG_KIND_ORDER.indexOf(x), b = LOG_KIND_ORDER.indexOf(y);
    if (a !== b) return (a < 0 ? 99 : a) - (b < 0 ? 99 : b);
    return x.localeCompare(y);
  });
};

UI.panel("logs", {
  title: "Logs",
  menu: true,
  async render(main) {
    const st = UI.logState;
    const kind = h("select#logs-kind", { title: "Show only lines of this kind" });
    const stream = h("select#logs-stream", { title: "Show only lines about this stream" });
    const search = h("input#logs-search", { type: "search", placeholder: "Find text…" });
    const pause = h("button#logs-pause", { type: "button", "aria-pressed": "false" }, "Pause");
    const status = h("span#logs-status.muted.small");
    const count = h("span#logs-count.muted.small");
    const list = h("div#logs-list");
    let paused = false, pendingWhilePaused = 0, polls = 0, shown = "";

    const label = (text, input) => h("label.logs-filter", h("span.muted.small", text), input);
    append(main, [
      h("div.heading", h("h1", "Logs"), status, pause),
      h("div.card.logs-filters",
        label("Kind", kind), label("Stream", stream), label("Text", search),
        h("button#logs-clear-filters.link", { type: "button", onclick: () => {
          kind.value = ""; stream.value = ""; search.value = ""; show(true);
        } }, "Show all"),
        h("span.spacer"), count),
      list,
      h("p.muted.small", "The server keeps its last 100 log lines; this page keeps the lines it has seen while it is open (up to " +
        LOG_KEEP + "). The full log is the server's standard error (the system journal when it runs as a service)."),
    ]);

    // Rebuilds a select's options when they change, keeping the choice.
    const setOptions = (select, options) => {
      const sig = JSON.stringify(options);
      if (select.dataset.sig === sig) return;
      const keep = select.value;
      select.replaceChildren(...options.map(([v, text]) => h("option", { value: v }, text)));
      select.dataset.sig = sig;
      select.value = options.some(([v]) => v === keep) ? keep : "";
    };

    const updateFilters = () => {
      const counts = {};
      for (const e of st.lines) counts[e[1]] = (counts[e[1]] || 0) + 1;
      const kinds = UI.logKindOrder(Object.keys(counts));
      setOptions(kind, [["", "All kinds"],
        ...Object.entries(LOG_GROUPS).map(([v, g]) => [v, g.label]),
        ...kinds.map((k) => [k, k + " (" + counts[k] + ")"])]);
      const names = new Set(Object.keys(UI.streams || {}));
      for (const e of st.lines) if (e[3]) names.add(String(e[3]));
      setOptions(stream, [["", "All streams"], ...[...names].sort().map((n) => [n, n])]);
    };

    const matches = (e) => {
      const k = kind.value;
      if (k) {
        const group = LOG_GROUPS[k];
        if (group ? !group.kinds.includes(e[1]) : e[1] !== k) return false;
      }
      if (stream.value && !UI.logMatchesStream(e, stream.value)) return false;
      const text = search.value.trim().toLowerCase();
      if (text && !(String(e[2]) + " " + String(e[3] || "") + " " + e[1]).toLowerCase().includes(text)) return false;
      return true;
    };

    const when = (t) => {
      const d = new Date(t * 1000);
      const today = new Date().toDateString() === d.toDateString();
      const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      return today ? time : d.toLocaleDateString() + " " + time;
    };

    // Draws the list when what it shows changed (a redraw would lose a text selection).
    const show = (force) => {
      const rows = st.lines.filter(matches).reverse();
      const sig = st.seen + "|" + kind.value + "|" + stream.value + "|" + search.value;
      if (!force && sig === shown) return;
      shown = sig;
      count.textContent = st.lines.length ? "Showing " + rows.length + " of " + st.lines.length + " lines" : "";
      const empty = st.lines.length ? "No log line matches the filter." : "The log is empty.";
      list.replaceChildren(UI.table([
        { title: "Time", cls: "log-time", value: (e) => h("span", { title: fmt.time(e[0]) }, when(e[0])) },
        { title: "Kind", value: (e) => h("span.log-kind.kind-" + String(e[1]).replace(/[^A-Za-z0-9_-]/g, ""), e[1]) },
        { title: "Stream", cls: "log-stream", value: (e) => e[3] || "" },
        { title: "Message", cls: "log-message", value: (e) => String(e[2]) },
      ], rows, { empty, rowClass: (e) => "log-line kind-" + String(e[1]).replace(/[^A-Za-z0-9_-]/g, "") }));
    };

    const showPause = () => {
      pause.textContent = paused ? "Resume" + (pendingWhilePaused ? " (" + pendingWhilePaused + " new)" : "") : "Pause";
      pause.setAttribute("aria-pressed", String(paused));
      pause.classList.toggle("primary", paused);
    };
    pause.addEventListener("click", () => {
      paused = !paused;
      pendingWhilePaused = 0;
      showPause();
      status.textContent = paused ? "Paused: new lines are kept but not shown" : status.textContent;
      if (!paused) show(true);
    });
    for (const el of [kind, stream]) el.addEventListener("change", () => show());
    search.addEventListener("input", () => show());

    updateFilters();
    show(true);
    UI.every(2, async () => {
      // The configured streams, for the stream filter: now and then (the page knows them from
      // the start-up answer too).
      const command = polls++ % 15 === 0 ? { log: true, streams: true } : { log: true };
      const a = await UI.api(command);
      const log = Array.isArray(a.log) ? a.log.filter((e) => Array.isArray(e) && e.length >= 3) : [];
      const fresh = UI.freshLogLines(st.last, log);
      st.last = log;
      if (fresh.length) {
        st.lines.push(...fresh);
        if (st.lines.length > LOG_KEEP) st.lines.splice(0, st.lines.length - LOG_KEEP);
        st.seen += fresh.length;
      }
      updateFilters();
      if (paused) {
        pendingWhilePaused += fresh.length;
        showPause();
        return;
      }
      status.textContent = "Updated " + fmt.clock(Date.now() / 1000);
      show();
    });
  },
});

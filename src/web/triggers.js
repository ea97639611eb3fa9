"use strict";
// The Triggers panel (manual §2.5, §4.4): every handler in `config.triggers`, in both shapes Eddy
// reads (the object form {handler, sync, streams, params, default} and the legacy array
// [handler, nonblocking, [streams], default]); add, edit and remove by sending the whole
// `{"config": {"triggers": {...}}}` object in the object form. The form documents the chosen
// trigger from `capabilities.triggers` (when it runs, its payload line by line, what the answer
// does, what blocking means), as MistServer's interface does.

(function () {
  const RESPONSE_WORDS = {
    always: "The answer counts whether the handler is blocking or not.",
    "when-blocking": "Only a blocking handler's answer is used.",
    ignored: "Eddy does not wait for the answer.",
  };

  // One handler as Eddy reads it (src/triggers/mod.rs `handlers()`), or null when Eddy ignores
  // the entry.
  function parseHandler(raw) {
    const text = (v) => (typeof v === "string" ? v : "");
    const streams = (v) => (Array.isArray(v) ? v.filter((s) => typeof s === "string") : []);
    let e = null;
    if (raw && typeof raw === "object" && !Array.isArray(raw)) {
      const s = raw.sync;
      e = {
        handler: text(raw.handler),
        sync: s === true || (typeof s === "number" && Number.isInteger(s) && s !== 0),
        streams: streams(raw.streams), params: text(raw.params), default: text(raw.default),
      };
    } else if (Array.isArray(raw)) {
      e = { handler: text(raw[0]), sync: raw[1] !== true, streams: streams(raw[2]), params: "", default: text(raw[3]) };
    }
    return e && e.handler ? e : null;
  }

  function objectForm(e) {
    return { handler: e.handler, sync: e.sync, streams: e.streams.slice(), params: e.params, default: e.default };
  }

  // Every configured entry: {name, index, raw, entry (null when Eddy ignores it)}.
  function entries(triggers) {
    const out = [];
    for (const [name, list] of Object.entries(triggers || {})) {
      if (!Array.isArray(list)) {
        out.push({ name, index: -1, raw: list, entry: null });
        continue;
      }
      list.forEach((raw, index) => out.push({ name, index, raw, entry: parseHandler(raw) }));
    }
    return out;
  }

  // The whole triggers object in the object form, with `edit(name, list)` applied to one
  // trigger's list; entries Eddy ignores are kept as they are; empty lists are left out.
  function rebuilt(triggers, name, edit) {
    const out = {};
    const names = Object.keys(triggers || {});
    if (!names.includes(name)) names.push(name);
    for (const n of names) {
      if (n !== name && !Array.isArray(triggers[n])) {
        out[n] = triggers[n];
        continue;
      }
      let list = Array.isArray(triggers[n]) ? triggers[n].map((raw) => {
        const e = parseHandler(raw);
        return e ? objectForm(e) : raw;
      }) : [];
      if (n === name) list = edit(list);
      if (list.length) out[n] = list;
    }
    return out;
  }

  // JSON with sorted keys, to compare what was sent with what the server holds.
  function canonical(v) {
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    if (v && typeof v === "object") return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
    return JSON.stringify(v);
  }

  async function save(triggers, done) {
    await UI.change({ config: { triggers } }, (a) => (
      a.config && canonical(a.config.triggers || {}) === canonical(triggers) ? "" : "The server did not take the trigger configuration."
    ), done);
  }

  function catalogue() {
    return (UI.capabilities && UI.capabilities.triggers) || {};
  }

  function isUrl(handler) {
    return handler.includes("://");
  }

  function handlerProblem(handler) {
    if (!handler) return "Give a handler: an http:// URL or the path of an executable.";
    if (/[\r\n]/.test(handler)) return "A handler is one line.";
    if (isUrl(handler)) {
      if (!/^https?:\/\/[^\/\s?#]+/i.test(handler)) return "A handler with :// must be an http:// or https:// URL with a host.";
      try { new URL(handler); } catch (e) { return "That URL cannot be read: " + e.message; }
      if (/\s/.test(handler)) return "A URL has no spaces (write them as %20).";
    } else if (/^\s|\s$/.test(handler)) {
      return "The executable's path starts or ends with a space.";
    }
    return "";
  }

  function streamsProblem(list) {
    for (const item of list) {
      const entry = item.replace(/^!/, "");
      if (entry.startsWith("#")) {
        if (!/^#\S+$/.test(entry)) return "“" + item + "”: a tag is # and a word.";
        continue;
      }
      if (entry.endsWith("+")) return "“" + item + "”: the base name " + entry.slice(0, -1) + " already covers its " + entry + "… streams; " + entry + " matches none.";
      const p = UI.streamNameProblem(entry, { wildcard: true });
      if (p) return "“" + item + "”: " + p;
    }
    return "";
  }

  // The documentation box of one trigger (what MistServer's UI shows beside the form), with
  // what the handler gets for `handler`.
  function doc(name, handler) {
    const t = catalogue()[name];
    if (!t) return h("p.muted", "Choose a trigger to see when it runs, what it sends and what its answer does.");
    const lines = String(t.payload || "").split("\n").filter((l) => l.trim());
    const yesNo = /^If false/.test(t.response_action || "");
    const example = lines.length ? lines.map((l) => "<" + l.replace(/ \(.*\)$/, "") + ">").join("\n") : "(empty)";
    const url = isUrl(handler || "");
    let target = "/";
    if (url) { try { target = new URL(handler).pathname + new URL(handler).search; } catch (e) { target = "/"; } }
    return h("div.trigger-doc#trigger-doc",
      h("h3", name),
      h("dl",
        h("dt", "When"), h("dd#trigger-doc-when", t.when),
        h("dt", "Applies to"), h("dd", t.stream_specific ? "Stream-specific: a handler may be limited to some streams." : "Global: it is not about one stream."),
        h("dt", "Payload"), h("dd#trigger-doc-payload", lines.length
          ? [h("span", "Lines, joined by a newline (no newline at the end):"), h("ol", lines.map((l) => h("li", l)))]
          : h("span", "None: the request body (or standard input) is empty.")),
        h("dt", "Answer"), h("dd#trigger-doc-response",
          h("div", h("strong", t.response_action)),
          t.response === "ignored" ? null : h("div", RESPONSE_WORDS[t.response] || t.response),
          yesNo && t.response !== "ignored" ? h("div", "An answer is positive when it starts with 1, yes, true or cont (any case); anything else, also an empty answer, is negative.") : null),
        h("dt", "Blocking"), h("dd#trigger-doc-blocking", t.response === "ignored"
          ? "Makes no difference: Eddy runs the handler and does not wait for it. Leave it non-blocking."
          : t.response === "always"
            ? "A blocking handler is waited for (an executable up to 10 s, an HTTP handler three attempts of 5 s) and its answer decides; a non-blocking one is not waited for, and its default response counts as its answer."
            : "Only a blocking handler is waited for and its answer used; a non-blocking one is only told."),
        t.argument ? [h("dt", "Parameter"), h("dd", t.argument)] : null,
        h("dt", "Your handler gets"), h("dd#trigger-doc-request", url
          ? h("pre", "POST " + target + " HTTP/1.1\nX-Trigger: " + name + "\nContent-Type: text/plain\n\n" + example)
          : h("pre", (handler || "/path/to/handler") + " " + name + "   # started without a shell\n# standard input:\n" + example)),
        h("dt", "It answers"), h("dd#trigger-doc-answer", t.response === "ignored"
          ? "Nothing: the answer is not read."
          : (yesNo ? "true to go on, false to refuse" : "the value described under Answer") +
            (url ? ", as the response body (status 200)." : ", printed on standard output (no newline needed)."))));
  }

  UI.panel("triggers", {
    title: "Triggers",
    menu: true,
    async render(main, arg) {
      if (!UI.capabilities || !UI.capabilities.triggers) await UI.api({ capabilities: true });
      if (arg === "new" || arg.startsWith("new/")) return this.form(main, null, arg.slice(4));
      if (arg.startsWith("edit/")) {
        const [, name, index] = arg.split("/");
        await UI.api({ config: true });
        const list = ((UI.config && UI.config.triggers) || {})[name];
        const raw = Array.isArray(list) ? list[Number(index)] : undefined;
        const entry = raw === undefined ? null : parseHandler(raw);
        if (!entry) {
          UI.notify("That trigger handler is no longer configured.");
          return UI.go("triggers");
        }
        return this.form(main, { name, index: Number(index), raw, entry }, name);
      }
      const list = h("div#trigger-list");
      append(main, [
        h("div.heading", h("h1", "Triggers"),
          h("button.primary#triggers-new", { onclick: () => UI.go("triggers/new") }, "Add a trigger")),
        h("p.muted", "A trigger tells a program of yours that something happened — a new viewer, a stream going live, a finished recording — " +
          "and a blocking one lets it decide: build paywalls, region locks, stream keys or monitoring with it. " +
          "An HTTP URL gets the payload POSTed to it; an executable gets it on standard input."),
        list,
      ]);
      const refresh = async () => {
        await UI.api({ config: true });
        const triggers = (UI.config && UI.config.triggers) || {};
        const rows = entries(triggers);
        const cat = catalogue();
        clear(list);
        append(list, [UI.table([
          {
            title: "Trigger", value: (r) => [h("strong", r.name),
              cat[r.name] ? h("div.trigger-when", cat[r.name].when) : h("div.trigger-when", "Eddy does not fire this trigger.")],
          },
          {
            title: "Handler", value: (r) => (r.entry
              ? [h("code", r.entry.handler), h("div.muted.small", (isUrl(r.entry.handler) ? "HTTP POST" : "Executable") +
                (Array.isArray(r.raw) ? " · legacy array form, written as an object at the next change" : ""))]
              : [h("span.pill.bad", "Ignored"), h("div.muted.small", "Eddy cannot read this entry: " + JSON.stringify(r.raw))]),
          },
          { title: "Blocking", value: (r) => (r.entry ? (r.entry.sync ? h("span.pill.ok", "Blocking") : h("span.pill", "Non-blocking")) : "–") },
          {
            title: "Streams", value: (r) => {
              if (!r.entry) return "–";
              if (cat[r.name] && !cat[r.name].stream_specific) return h("span.muted", "Global");
              return r.entry.streams.length ? h("span.trigger-streams", r.entry.streams.map((s) => h("code", s))) : h("span.muted", "All streams");
            },
          },
          { title: "Default response", value: (r) => (r.entry ? (r.entry.default ? h("code", r.entry.default) : h("span.muted", "true")) : "–") },
          { title: "Parameter", value: (r) => (r.entry && r.entry.params ? h("code", r.entry.params) : "–") },
          {
            title: "", cls: "actions", value: (r) => [
              r.entry ? h("button#trigger-edit-" + r.name + "-" + r.index, { onclick: () => UI.go("triggers/edit/" + r.name + "/" + r.index) }, "Edit") : null, " ",
              h("button.danger#trigger-remove-" + r.name + "-" + r.index, { onclick: (ev) => this.remove(ev.target, r, refresh) }, "Remove"),
            ],
          },
        ], rows, { empty: "No trigger is configured. “Add a trigger” to have Eddy call your handler." })]);
      };
      UI.every(5, refresh);
    },

    async remove(button, r, refresh) {
      const what = r.entry ? r.entry.handler : JSON.stringify(r.raw);
      if (!confirm("Remove the " + r.name + " handler " + what + "?")) return;
      await UI.run(button, async () => {
        await UI.api({ config: true });
        const current = ((UI.config && UI.config.triggers) || {})[r.name];
        const same = r.index < 0 ? canonical(current) === canonical(r.raw) : Array.isArray(current) && canonical(current[r.index]) === canonical(r.raw);
        if (!same) throw new ApiError("The " + r.name + " handlers changed meanwhile; look again and retry.");
        const triggers = rebuilt(UI.config.triggers, r.name, (list) => (r.index < 0 ? [] : list.filter((_, i) => i !== r.index)));
        await save(triggers, "Removed the " + r.name + " handler.");
        await refresh();
      });
    },

    // The add/edit form; `old` is {name, index, raw, entry} when editing.
    form(main, old, preset) {
      const cat = catalogue();
      const names = Object.keys(cat).sort();
      const e = old ? old.entry : { handler: "", sync: true, streams: [], params: "", default: "" };
      const pick = h("select#trigger-name",
        h("option", { value: "" }, "Choose a trigger…"),
        names.map((n) => h("option", { value: n, selected: n === preset }, n + " — " + cat[n].when)),
        old && !cat[old.name] ? h("option", { value: old.name, selected: true }, old.name) : null);
      const handler = h("input#trigger-handler", { value: e.handler, placeholder: "http://127.0.0.1:9090/hook or /usr/local/bin/on-trigger", autocomplete: "off" });
      const sync = h("input#trigger-sync", { type: "checkbox", checked: e.sync });
      const syncHelp = h("div.help#trigger-sync-help");
      const streams = h("input#trigger-streams", { value: e.streams.join(", "), placeholder: "Empty: every stream", autocomplete: "off" });
      const streamsBox = h("div", streams, h("div.help#trigger-streams-help",
        "Separate names with commas. A name covers its wildcard streams (live covers live+cam); #tag matches streams with that tag; !name leaves a stream out (a list of only !names means every other stream)."));
      const def = h("input#trigger-default", { value: e.default, placeholder: "Empty: true", autocomplete: "off" });
      const defHelp = h("div.help#trigger-default-help");
      const params = h("input#trigger-params", { value: e.params, autocomplete: "off" });
      const paramsRow = [h("label.name", { htmlFor: "trigger-params" }, "Parameter"), h("div", params, h("div.help#trigger-params-help"))];
      const docBox = h("div.full#trigger-doc-box");
      const problem = h("div.invalid#trigger-problem");
      const submit = h("button.primary#trigger-save", { type: "submit" }, old ? "Save" : "Add the trigger");
      let touchedSync = !!old;
      sync.addEventListener("change", () => { touchedSync = true; });

      const update = () => {
        const t = cat[pick.value];
        clear(docBox);
        append(docBox, [doc(pick.value, handler.value.trim())]);
        if (t && !touchedSync) sync.checked = t.response !== "ignored";
        syncHelp.textContent = !t ? "" : t.response === "ignored"
          ? "Eddy does not wait for this trigger's answer, so blocking makes no difference."
          : "Blocking: Eddy waits for the handler's answer and acts on it (see Answer above). Non-blocking: Eddy only tells the handler.";
        const global = t && !t.stream_specific;
        streams.disabled = !!global;
        streams.placeholder = global ? "This trigger is global: it runs for every event" : "Empty: every stream";
        const rewrite = t && !/^If false/.test(t.response_action || "") && t.response !== "ignored";
        defHelp.textContent = t && t.response === "ignored"
          ? "Not used for this trigger: Eddy does not read its answer."
          : rewrite
          ? "The answer used when a blocking handler times out, cannot be reached or fails. Empty: no answer (as the Answer above says)."
          : "The answer used when a blocking handler times out (executables 10 s, HTTP three attempts of 5 s), cannot be reached or fails, and the answer a non-blocking handler counts as. Empty means true: write false to refuse when your handler is down.";
        for (const el of paramsRow) el.hidden = !(t && t.argument) && !params.value;
        paramsRow[1].querySelector(".help").textContent = t && t.argument ? t.argument + "." : "This trigger takes no parameter.";
      };
      pick.addEventListener("change", update);
      for (const input of [handler, streams, params]) input.addEventListener("input", () => input.classList.remove("bad"));
      handler.addEventListener("input", () => {
        const pre = document.getElementById("trigger-doc-request");
        if (pre) update();
      });

      const form = h("form.fields", {
        onsubmit: (ev) => {
          ev.preventDefault();
          const name = pick.value;
          const t = cat[name];
          const next = {
            handler: handler.value.trim(),
            sync: sync.checked,
            streams: t && !t.stream_specific ? [] : streams.value.split(",").map((s) => s.trim()).filter(Boolean),
            params: params.value.trim(),
            default: def.value.trim(),
          };
          let msg = !name ? "Choose a trigger." : handlerProblem(next.handler) || streamsProblem(next.streams);
          if (!msg && /[\r\n]/.test(next.default)) msg = "The default response is one line.";
          if (!msg && t && t.argument && /integer/.test(t.argument) && !/^\d+$/.test(next.params)) {
            msg = "The parameter of " + name + " is a whole number (" + t.argument.toLowerCase() + ")";
            params.classList.add("bad");
          } else params.classList.remove("bad");
          handler.classList.toggle("bad", !!handlerProblem(next.handler));
          streams.classList.toggle("bad", !!streamsProblem(next.streams));
          problem.textContent = msg || "";
          if (msg) return;
          UI.run(submit, async () => {
            await UI.api({ config: true });
            const current = (UI.config && UI.config.triggers) || {};
            if (old) {
              const list = current[old.name];
              if (!Array.isArray(list) || canonical(list[old.index]) !== canonical(old.raw)) {
                throw new ApiError("The " + old.name + " handlers changed meanwhile; go back to the list and retry.");
              }
            }
            let triggers;
            if (old && old.name === name) {
              triggers = rebuilt(current, name, (list) => list.map((x, i) => (i === old.index ? next : x)));
            } else {
              triggers = old ? rebuilt(current, old.name, (list) => list.filter((_, i) => i !== old.index)) : current;
              triggers = rebuilt(triggers, name, (list) => list.concat([next]));
            }
            await save(triggers, (old ? "Saved the " : "Added the ") + name + " handler.");
            UI.go("triggers");
          });
        },
      },
      h("label.name", { htmlFor: "trigger-name" }, "Trigger *"), pick,
      docBox,
      h("label.name", { htmlFor: "trigger-handler" }, "Handler *"),
      h("div", handler, h("div.help", "An http:// or https:// URL is sent a POST with the payload as its body and the header X-Trigger: NAME; the response body is the answer. " +
        "Anything else is the path of an executable, started without a shell with the trigger name as its only argument and the payload on standard input; what it prints is the answer.")),
      h("label.name", { htmlFor: "trigger-sync" }, "Blocking"),
      h("div", h("label.inline", sync, "Wait for the handler's answer"), syncHelp),
      h("label.name", { htmlFor: "trigger-streams" }, "Streams"), streamsBox,
      h("label.name", { htmlFor: "trigger-default" }, "Default response"), h("div", def, defHelp),
      paramsRow,
      h("div.full.row", submit, h("button", { type: "button", onclick: () => UI.go("triggers") }, "Cancel"), problem));
      append(main, [h("div.heading", h("h1", old ? "Edit a " + old.name + " handler" : "Add a trigger")), h("div.card", form)]);
      update();
      (old ? handler : pick).focus();
    },
  });
})();

"use strict";
// The Protocols panel (manual §2.2): the configured connectors with their status and settings;
// add (from what `capabilities` lists, with each connector's required and optional fields and
// their help texts), edit (`updateprotocol`), delete (`deleteprotocol`), and "enable default
// protocols".

UI.protocolStatus = function (online) {
  if (online === 1) return h("span.pill.ok", "Running");
  if (online === "Enabled") return h("span.pill.ok", { title: "Served by the HTTP listener" }, "Enabled");
  if (online === 0) return h("span.pill.bad", "Not running");
  return h("span.pill.warn", String(online === undefined ? "Unknown" : online));
};

// An entry as stored: without the runtime `online` key.
UI.protocolEntry = function (p) {
  const e = Object.assign({}, p);
  delete e.online;
  return e;
};

UI.connectorSpec = function (name) {
  const all = (UI.capabilities && UI.capabilities.connectors) || {};
  return all[name] || Object.values(all).find((c) => String(c.name).toUpperCase() === String(name).toUpperCase());
};

UI.panel("protocols", {
  title: "Protocols",
  menu: true,
  async render(main, arg) {
    if (!UI.capabilities) await UI.api({ capabilities: true });
    if (arg === "new") return this.form(main, null, -1);
    if (arg.startsWith("edit/")) {
      await UI.api({ config: true });
      const i = Number(arg.slice(5));
      const entry = ((UI.config && UI.config.protocols) || [])[i];
      if (!entry) {
        UI.notify("That protocol is no longer configured.");
        return UI.go("protocols");
      }
      return this.form(main, entry, i);
    }
    const list = h("div#protocol-list");
    const defaults = h("button#protocols-defaults", {
      onclick: () => UI.run(defaults, async () => {
        const n = await UI.enableDefaultProtocols();
        UI.notify(n ? "Enabled " + n + " default protocol" + (n > 1 ? "s" : "") + "." : "Every default protocol is enabled already.", "ok");
        await refresh();
      }),
    }, "Enable default protocols");
    append(main, [
      h("div.heading", h("h1", "Protocols"), defaults,
        h("button.primary#protocols-new", { onclick: () => UI.go("protocols/new") }, "New protocol")),
      h("p.muted", "Every protocol enabled here serves every configured stream. Outputs marked Enabled ride on the HTTP listener."),
      list,
    ]);
    const refresh = async () => {
      await UI.api({ config: true });
      const protocols = (UI.config && UI.config.protocols) || [];
      const rows = protocols.map((p, i) => ({ p, i }));
      clear(list);
      append(list, [UI.table([
        { title: "Protocol", value: (r) => h("strong", String(r.p.connector || "?")) },
        { title: "Status", value: (r) => UI.protocolStatus(r.p.online) },
        { title: "Settings", value: (r) => this.summary(r.p) },
        {
          title: "", cls: "actions", value: (r) => [
            h("button", { onclick: () => UI.go("protocols/edit/" + r.i) }, "Edit"), " ",
            h("button.danger", {
              onclick: (ev) => {
                if (!confirm("Delete the protocol " + r.p.connector + "?")) return;
                UI.run(ev.target, async () => {
                  const entry = UI.protocolEntry(r.p);
                  await UI.change({ deleteprotocol: entry, config: true }, (a) => {
                    const left = (a.config.protocols || []).some((p) => JSON.stringify(UI.protocolEntry(p)) === JSON.stringify(entry));
                    return left ? "The protocol is still configured." : "";
                  }, "Deleted " + r.p.connector + ".");
                  await refresh();
                });
              },
            }, "Delete"),
          ],
        },
      ], rows, { empty: "No protocol is enabled: nothing can publish or play. Use “Enable default protocols”." })]);
    };
    UI.every(3, refresh);
  },

  // The settings of an entry, in words.
  summary(p) {
    const spec = UI.connectorSpec(p.connector) || {};
    const names = Object.assign({}, spec.optional || {}, spec.required || {});
    const parts = Object.entries(p)
      .filter(([k]) => k !== "connector" && k !== "online")
      .map(([k, v]) => ((names[k] && names[k].name) || k) + ": " + (typeof v === "object" ? JSON.stringify(v) : v));
    const desc = spec.desc ? h("div.muted.small", spec.desc) : null;
    return [parts.length ? parts.join(", ") : h("span.muted", "Defaults" + (spec.optional && spec.optional.port && spec.optional.port.default ? " (port " + spec.optional.port.default + ")" : "")), desc];
  },

  // The add/edit form. `entry` is null for a new protocol; `index` is its place in the list.
  form(main, entry, index) {
    const connectors = Object.values((UI.capabilities && UI.capabilities.connectors) || {})
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const pick = h("select#protocol-connector", { disabled: !!entry },
      h("option", { value: "" }, "Choose a protocol…"),
      connectors.map((c) => h("option", { value: c.name, selected: entry && String(entry.connector).toUpperCase() === String(c.name).toUpperCase() }, c.name)));
    const fieldsBox = h("div.full#protocol-fields");
    const problem = h("div.invalid");
    const submit = h("button.primary#protocol-save", { type: "submit" }, entry ? "Save" : "Add protocol");
    let fields = [];
    const showFields = () => {
      clear(fieldsBox);
      fields = [];
      const spec = UI.connectorSpec(pick.value);
      if (!spec) return;
      const current = entry || {};
      const group = (title, specs, required) => {
        const own = Object.entries(specs || {}).map(([k, s]) => UI.field(k, s, current[k], { required }));
        fields.push(...own);
        return own.length ? h("fieldset", h("legend", title), h("div.grid2", UI.fieldRows(own))) : null;
      };
      append(fieldsBox, [
        spec.desc ? h("p.muted", spec.desc) : null,
        group("Required", spec.required, true),
        group("Optional", spec.optional, false),
        !Object.keys(spec.required || {}).length && !Object.keys(spec.optional || {}).length ? h("p.muted", "This protocol has no settings.") : null,
      ]);
    };
    pick.addEventListener("change", () => {
      problem.textContent = "";
      showFields();
    });
    const form = h("form.fields", {
      onsubmit: (ev) => {
        ev.preventDefault();
        problem.textContent = "";
        if (!pick.value) {
          problem.textContent = "Choose a protocol.";
          return;
        }
        if (!UI.checkFields(fields)) return;
        const next = entry ? UI.protocolEntry(entry) : {};
        next.connector = entry ? entry.connector : pick.value;
        for (const f of fields) {
          const v = f.read();
          if (v === undefined || v === false && f.input.type === "checkbox" && !(f.key in next)) delete next[f.key];
          else next[f.key] = v;
        }
        UI.run(submit, async () => {
          const same = (p) => JSON.stringify(UI.protocolEntry(p)) === JSON.stringify(next);
          const command = entry ? { updateprotocol: [UI.protocolEntry(entry), next], config: true } : { addprotocol: next, config: true };
          await UI.change(command, (a) => ((a.config.protocols || []).some(same) ? "" : "The server did not take the protocol."),
            (entry ? "Saved " : "Added ") + next.connector + ".");
          UI.go("protocols");
        });
      },
    },
    h("label.name", { htmlFor: "protocol-connector" }, "Protocol"), pick,
    fieldsBox,
    h("div.full.row", submit, h("button", { type: "button", onclick: () => UI.go("protocols") }, "Cancel"), problem));
    append(main, [h("div.heading", h("h1", entry ? "Edit " + entry.connector : "New protocol")), h("div.card", form)]);
    if (entry) showFields();
    else pick.focus();
  },
});

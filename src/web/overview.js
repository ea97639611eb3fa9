"use strict";
// The Overview panel (manual §2.1): version, uptime, the server's human-readable name, the global
// debug level, streams and viewers at a glance, unsaved changes and "force configuration save".

UI.panel("overview", {
  title: "Overview",
  menu: true,
  async render(main) {
    const figures = h("div.cards#overview-figures");
    const name = h("input#overview-name", { value: (UI.config && UI.config.serverid) || "", placeholder: "e.g. studio-east" });
    const debug = h("input#overview-debug", { type: "number", min: 0, max: 10, value: UI.config && UI.config.debug !== undefined ? UI.config.debug : "", placeholder: "Default: 3" });
    const save = h("input#overview-force-save", { type: "checkbox" });
    const saveState = h("span#overview-save-state.muted");
    const apply = h("button.primary#overview-apply", { type: "submit" }, "Save");
    const problem = h("div.invalid");
    const form = h("form.fields", {
      onsubmit: (ev) => {
        ev.preventDefault();
        problem.textContent = "";
        const level = debug.value.trim();
        if (level !== "" && !(Number.isInteger(Number(level)) && Number(level) >= 0 && Number(level) <= 10)) {
          debug.classList.add("bad");
          problem.textContent = "The debug level is a whole number from 0 to 10.";
          return;
        }
        debug.classList.remove("bad");
        UI.run(apply, async () => {
          const config = { serverid: name.value.trim() };
          if (level !== "") config.debug = Number(level);
          const command = { config };
          if (save.checked) command.save = true;
          await UI.change(command, (a) => {
            if (!a.config || a.config.serverid !== config.serverid) return "The server did not take the new name.";
            if (level !== "" && Number(a.config.debug) !== Number(level)) return "The server did not take the debug level.";
            if (save.checked && a.unsaved_changes) return "The configuration could not be written to disk.";
            return "";
          }, save.checked ? "Settings applied and the configuration saved to disk." : "Settings applied.");
          save.checked = false;
          refresh();
        });
      },
    },
    h("label.name", { htmlFor: "overview-name" }, "Human readable name"),
    h("div", name, h("div.help", "A name to tell your servers apart (serverid in the configuration). Trigger handlers get it (the X-Name header, MIST_NAME for executables); nothing else uses it.")),
    h("label.name", { htmlFor: "overview-debug" }, "Debug level"),
    h("div", debug, h("div.help", "How much the server logs: 0 nothing, 3 production messages (the default), up to 10 for everything.")),
    h("label.name", { htmlFor: "overview-force-save" }, "Force configuration save"),
    h("div", h("label.inline", save, "Write the configuration to disk now"),
      h("div.help", "Changes are written once they have been quiet for a minute and at shutdown; tick this to write them now."), saveState),
    h("div.full.row", apply, problem));

    append(main, [
      h("div.heading", h("h1", "Overview")),
      figures,
      h("div.card", h("h2", { style: "margin-top:0" }, "Settings"), form),
    ]);

    const refresh = async () => {
      const a = await UI.api({ config: true, capabilities: true, active_streams: { longform: true, fields: ["status", "viewers", "inputs", "outputs"] }, totals: { fields: ["clients", "downbps", "upbps"], start: -10 }, unsaved_changes: true });
      const active = UI.activeStreams(a);
      const configured = Object.keys(UI.streams || {}).length || Object.keys((UI.config && UI.config.streams) || {}).length;
      const viewers = Object.values(active).reduce((n, s) => n + (s.viewers || 0), 0);
      const inputs = Object.values(active).reduce((n, s) => n + (s.inputs || 0), 0);
      const t = a.totals && Array.isArray(a.totals.data) && a.totals.data.length ? a.totals.data[a.totals.data.length - 1] : null;
      const proc = (a.capabilities && a.capabilities.process) || {};
      const protocols = ((UI.config && UI.config.protocols) || []);
      const online = protocols.filter((p) => p.online === 1 || p.online === "Enabled").length;
      const fig = (id, value, label) => h("div.figure", { id: "fig-" + id }, h("div.value", value), h("div.label", label));
      clear(figures);
      append(figures, [
        fig("version", (UI.config && UI.config.version) || "–", "Version"),
        fig("uptime", proc.uptime !== undefined ? fmt.duration(proc.uptime) : "–", "Uptime"),
        fig("streams", Object.keys(active).length + " / " + configured, "Active / configured streams"),
        fig("viewers", fmt.number(viewers), "Viewers now"),
        fig("inputs", fmt.number(inputs), "Inputs now"),
        fig("bandwidth", t ? fmt.bps(t[2]) : fmt.bps(0), "Sent to viewers"),
        fig("protocols", online + " / " + protocols.length, "Protocols running / configured"),
      ]);
      saveState.textContent = a.unsaved_changes ? "There are changes not yet written to disk." : "Everything is written to disk.";
      if (document.activeElement !== name && !name.dataset.touched) name.value = (UI.config && UI.config.serverid) || "";
    };
    name.addEventListener("input", () => { name.dataset.touched = "1"; });
    UI.every(5, refresh);
  },
});

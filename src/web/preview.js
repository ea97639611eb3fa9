"use strict";
// Preview (manual §2.3.0.1) and Embed (§2.3.0.2) of a stream. Both read the stream's
// `json_NAME.js` from the HTTP output (it sends CORS headers): Preview plays one of its sources
// in a <video> element ("use source"), with a player log and the meta information; Embed gives
// the embed code for `embed_NAME.js`, the info URLs and every protocol URL of the stream, with
// "use a different host" and copy buttons.

// The stream's `json_` answer (an object; `error` set when the stream is not playable now).
UI.streamInfo = async function (name) {
  if (!UI.config) await UI.api({ config: true });
  const url = UI.httpBase() + "json_" + encodeURIComponent(name) + ".js";
  let resp;
  try {
    resp = await fetch(url, { cache: "no-store" });
  } catch (e) {
    return { error: "The HTTP output at " + UI.httpBase() + " cannot be reached (" + e.message + "). Is the HTTP protocol enabled?", unreachable: true };
  }
  try {
    return JSON.parse(await resp.text());
  } catch (e) {
    return { error: "The HTTP output's answer for " + name + " was not JSON (" + resp.status + " " + resp.statusText + ")." };
  }
};

// Why the preview cannot play a `json_` source in this browser, or "" when it can.
UI.sourceProblem = function (src, probe, codecs) {
  const type = String(src.type || "");
  const [family, ...rest] = type.split("/");
  const mime = rest.join("/").split(";")[0];
  if (family === "html5") {
    let ask = mime === "video/mpeg" ? "video/mp2t" : mime;
    if (ask === "video/mp4" && codecs.length) ask += '; codecs="' + codecs.join(", ") + '"';
    return probe.canPlayType(ask) ? "" : "this browser cannot play " + mime + " in a <video> element by itself";
  }
  if (family === "dash") return "DASH needs a player script, which this page does not include";
  if (family === "ws") return "needs a WebSocket player, which this page does not include";
  if (family === "flash") return "needs Flash, which browsers no longer have";
  if (family === "webrtc" || family === "whep") return "WebRTC needs a signalling player, which this page does not include";
  return "not a format browsers play";
};

// Copies `text`; with no clipboard access it selects `el`'s text so Ctrl+C copies it.
UI.copyText = async function (text, el) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      UI.notify("Copied to the clipboard.", "ok", 3);
      return true;
    } catch (e) {
      // Refused (no permission or the page has no focus): fall back to selecting the text.
    }
  }
  if (el && el.select) {
    el.focus();
    el.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    UI.notify(copied ? "Copied to the clipboard." : "The text is selected: press Ctrl+C (⌘C) to copy it.", copied ? "ok" : "info", 4);
    return copied;
  }
  UI.notify("This browser gives the page no clipboard; select the text and copy it by hand.", "info", 5);
  return false;
};

UI.panel("preview", {
  title: "Preview",
  parent: "streams",
  async render(main, name) {
    if (!name) return UI.go("streams");
    const video = h("video#preview-video", { muted: true, autoplay: true, playsinline: true, controls: true });
    video.muted = true;
    const pick = h("select#preview-source");
    const state = h("div#preview-state.muted", "Loading the stream's information…");
    const skipped = h("div#preview-skipped.small.muted");
    const log = h("div.player-log#preview-log");
    const meta = h("div#preview-meta", h("p.muted", "No information yet."));
    append(main, [
      h("div.heading", h("h1", "Preview: " + name),
        h("button#preview-embed", { onclick: () => UI.go("embed/" + encodeURIComponent(name)) }, "Embed"),
        h("button#preview-back", { onclick: () => UI.go("streams") }, "Back to streams")),
      h("div.preview",
        h("div",
          h("div.card", video,
            h("div.row.preview-pick", h("label", { htmlFor: "preview-source" }, "Use source"), pick),
            state, skipped)),
        h("div",
          h("div.card", h("h3", { style: "margin-top:0" }, "Meta information"), meta),
          h("div.card", h("div.row", h("h3", { style: "margin:0;flex:1" }, "Player log"),
            h("button.link#preview-log-clear", { onclick: () => clear(log) }, "Clear")), log))),
    ]);

    const say = (text) => {
      const t = new Date();
      const stamp = t.toLocaleTimeString([], { hour12: false }) + "." + String(t.getMilliseconds()).padStart(3, "0");
      log.append(h("div.preview-log-line", h("span.muted", stamp + " "), text));
      while (log.childElementCount > 200) log.firstChild.remove();
      log.scrollTop = log.scrollHeight;
    };
    for (const ev of ["loadstart", "loadedmetadata", "canplay", "playing", "waiting", "stalled", "pause", "ended"]) {
      video.addEventListener(ev, () => say(ev + (ev === "loadedmetadata" ? " (" + video.videoWidth + "×" + video.videoHeight + ")" : "")));
    }
    let retry = null;
    video.addEventListener("error", () => {
      const e = video.error;
      if (!video.getAttribute("src")) return;
      say("error: " + (e ? (e.message || "media error " + e.code) : "unknown"));
      clearTimeout(retry);
      retry = setTimeout(() => { if (UI.route === "preview" && video.isConnected) start(pick.value); }, 4000);
    });

    const start = (url) => {
      if (!url) return;
      say("source: " + url);
      video.src = url;
      const p = video.play();
      if (p && p.catch) p.catch((e) => { if (e.name !== "AbortError") say("play() refused: " + e.message); });
    };
    pick.addEventListener("change", () => start(pick.value));
    // Leaving the panel stops the download.
    window.addEventListener("hashchange", () => {
      clearTimeout(retry);
      video.removeAttribute("src");
      video.load();
    }, { once: true });

    let playing = "";   // the list of playable URLs the drop-down shows
    let wasOffline = false;
    const refresh = async () => {
      const info = await UI.streamInfo(name);
      if (info.error) {
        state.textContent = (info.unreachable ? info.error : "The stream is offline now (" + info.error + ").") + " Trying again every 3 seconds.";
        state.className = "stream-note";
        if (!wasOffline) say("stream: " + info.error);
        wasOffline = true;
        return;
      }
      state.textContent = "";
      state.className = "muted";
      if (wasOffline) say("stream: online");
      wasOffline = false;
      this.meta(meta, info);
      const codecs = Object.values((info.meta && info.meta.tracks) || {}).map((t) => t.codecstring).filter(Boolean);
      const ok = [], left = [];
      const seen = new Set();
      for (const s of info.source || []) {
        const key = s.type + " " + s.url;
        if (seen.has(key)) continue;
        seen.add(key);
        const why = UI.sourceProblem(s, video, codecs);
        if (why) left.push([s, why]);
        else ok.push(s);
      }
      // Progressive MP4 plays everywhere: it is the first choice.
      ok.sort((a, b) => (b.type === "html5/video/mp4") - (a.type === "html5/video/mp4"));
      clear(skipped);
      if (left.length) {
        append(skipped, [h("div", "Left out:"), h("ul.preview-skipped",
          left.map(([s, why]) => h("li", h("strong", s.hrn || s.type), " (" + s.type + "): " + why)))]);
      }
      const key = ok.map((s) => s.url).join(" ");
      if (key === playing) return;
      playing = key;
      const keep = pick.value;
      clear(pick);
      append(pick, ok.map((s) => h("option", { value: s.url }, (s.hrn || s.type) + " — " + s.url)));
      if (!ok.length) {
        append(pick, [h("option", { value: "" }, "No source this browser can play")]);
        state.textContent = "None of the stream's sources plays in this browser; see the list below.";
        state.className = "stream-note";
        return;
      }
      if (keep && ok.some((s) => s.url === keep)) pick.value = keep;
      if (video.getAttribute("src") !== pick.value) start(pick.value);
    };
    UI.every(3, refresh);
  },

  // The meta information: type, and each track's codec, size or rate, and bit rate.
  meta(box, info) {
    const tracks = Object.entries((info.meta && info.meta.tracks) || {})
      .map(([key, t]) => Object.assign({ key }, t))
      .sort((a, b) => (a.idx || 0) - (b.idx || 0));
    const detail = (t) => {
      if (t.type === "video") return [t.width + "×" + t.height, t.fps ? h("div.small.muted", t.fps + " fps") : null];
      if (t.type === "audio") return [t.rate ? fmt.number(t.rate) + " Hz" : "", t.channels ? h("div.small.muted", t.channels + " channel" + (t.channels > 1 ? "s" : "")) : null];
      return "";
    };
    const buf = info.meta && info.meta.buffer_window;
    clear(box);
    append(box, [
      h("div.grid2.preview-facts",
        h("span.muted", "Type"), h("span#preview-type", info.type === "live" ? "Live" : info.type === "vod" ? "Video on demand" : String(info.type || "–")),
        h("span.muted", "Size"), h("span", info.width && info.height ? info.width + "×" + info.height : "–"),
        buf !== undefined ? [h("span.muted", "Buffer"), h("span", fmt.duration(buf / 1000))] : null),
      h("div.table-wrap#preview-tracks", h("table",
        h("thead", h("tr", h("th", "Track"), h("th", "Codec"), h("th", "Details"), h("th.num", "Bit rate"))),
        h("tbody", tracks.length ? tracks.map((t) => h("tr",
          h("td", String(t.type || "meta")),
          h("td.preview-codec", h("strong", String(t.codec || "?")), t.codecstring ? h("div.small.muted", t.codecstring) : null),
          h("td", detail(t)),
          h("td.num", fmt.bps(t.bps)))) : h("tr", h("td.empty", { colspan: 4 }, "No tracks."))))),
    ]);
  },
});

// ---------------------------------------------------------------------------------------------
// Embed

// Replaces the host of `url` (scheme://host[:port]/path) by `other`: a bare host name keeps each
// URL's port; host:port replaces the HTTP URLs' host and port (other schemes keep their port);
// a full http(s):// URL replaces the HTTP URLs' scheme, host, port and leading path.
UI.rewriteHost = function (url, other) {
  other = String(other || "").trim();
  if (!other) return url;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(\[[^\]]*\]|[^\/:?#]*)(:\d+)?(.*)$/i.exec(url);
  if (!m) return url;
  const [, scheme, , port, rest] = m;
  const httpish = /^https?:\/\/$/i.test(scheme);
  const full = /^([a-z][a-z0-9+.-]*:\/\/)(\[[^\]]*\]|[^\/:?#]*)(:\d+)?(\/[^?#]*)?$/i.exec(other);
  if (full) {
    const [, oScheme, oHost, oPort, oPath] = full;
    if (!httpish) return scheme + oHost + (port || "") + rest;
    return oScheme + oHost + (oPort || "") + String(oPath || "").replace(/\/+$/, "") + rest;
  }
  const hp = /^(\[[^\]]*\]|[^\/:?#\s]+)(:\d+)?$/.exec(other);
  if (!hp) return url;
  const [, oHost, oPort] = hp;
  return scheme + oHost + (httpish && oPort ? oPort : (port || "")) + rest;
};

// The problem with a "different host" value, or "".
UI.hostProblem = function (value) {
  value = String(value || "").trim();
  if (!value) return "";
  if (/^(\[[^\]]*\]|[^\/:?#\s]+)(:\d{1,5})?$/.test(value)) return "";
  if (/^https?:\/\/(\[[^\]]*\]|[^\/:?#\s]+)(:\d{1,5})?(\/[^?#\s]*)?$/i.test(value)) return "";
  return "Give a host name (cdn.example.com), host:port, or a URL such as https://cdn.example.com/video/.";
};

UI.escapeHtml = function (s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
};

UI.panel("embed", {
  title: "Embed",
  parent: "streams",
  async render(main, name) {
    if (!name) return UI.go("streams");
    if (!UI.config) await UI.api({ config: true });
    const other = h("input#embed-host", { placeholder: location.hostname + " (the host this page was opened on)", autocomplete: "off", spellcheck: "false" });
    const otherProblem = h("div.invalid#embed-host-problem");
    const code = h("textarea.code#embed-code", { readonly: true, rows: 6, spellcheck: "false" });
    const links = h("div.grid2#embed-links");
    const urls = h("div#embed-urls", h("p.muted", "Loading the stream's information…"));
    append(main, [
      h("div.heading", h("h1", "Embed: " + name),
        h("button#embed-preview", { onclick: () => UI.go("preview/" + encodeURIComponent(name)) }, "Preview"),
        h("button#embed-back", { onclick: () => UI.go("streams") }, "Back to streams")),
      h("div.card", h("div.grid2",
        h("label.name", { htmlFor: "embed-host" }, "Use a different host"),
        h("div", other, h("div.help", "When viewers reach this server under another name than the one in your address bar (a public name, a proxy), give it here: every URL below follows."), otherProblem))),
      h("div.card", h("h3", { style: "margin-top:0" }, "Embed code"),
        h("p.muted.small", "Put this where the player should appear. The script picks a source the viewer's browser plays and waits while the stream is offline."),
        code, h("div.row", { style: "margin-top:8px" }, UI.copyButton("embed-code-copy", () => code.value, () => code))),
      h("div.card", h("h3", { style: "margin-top:0" }, "Stream information"), links),
      h("div.card", h("h3", { style: "margin-top:0" }, "Protocol stream URLs"),
        h("p.muted.small", "Every URL the stream can be played at, from the stream's own information: only outputs that are enabled and carry its codecs are listed."),
        urls),
    ]);

    let info = null;
    const base = () => UI.rewriteHost(UI.httpBase(), other.value);
    const enc = encodeURIComponent(name);
    const draw = () => {
      const b = base();
      code.value = '<div class="mistvideo" id="mistvideo_' + UI.escapeHtml(name) + '">\n' +
        "  <noscript><a href=\"" + UI.escapeHtml(b + enc + ".html") + "\" target=\"_blank\">Click here to play this video</a></noscript>\n" +
        "</div>\n" +
        '<script src="' + UI.escapeHtml(b + "embed_" + enc + ".js") + '"></' + "script>\n";
      clear(links);
      const row = (id, label, url, help) => [
        h("label.name", { htmlFor: id }, label),
        h("div", h("div.inline", h("input.embed-url", { id, value: url, readonly: true, spellcheck: "false" }),
          UI.copyButton(id + "-copy", () => url, () => document.getElementById(id)),
          id === "embed-html-url" ? h("a.button#embed-html-open", { href: url, target: "_blank", rel: "noopener" }, "Open") : null),
        help ? h("div.help", help) : null),
      ];
      append(links, [
        row("embed-script-url", "Embed script", b + "embed_" + enc + ".js", "The player script the embed code loads."),
        row("embed-json-url", "Stream info JSON", b + "json_" + enc + ".js", "The stream's status, tracks and sources, for scripts (XHR / fetch)."),
        row("embed-info-url", "Stream info script", b + "info_" + enc + ".js", "The same information as a script that sets mistvideo['" + name + "']."),
        row("embed-html-url", "HTML page", b + enc + ".html", "A page that only plays the stream."),
      ]);
      this.urls(urls, name, info);
    };
    other.addEventListener("input", () => {
      const p = UI.hostProblem(other.value);
      otherProblem.textContent = p;
      other.classList.toggle("bad", !!p);
      if (!p) draw();
    });
    draw();
    let shown = "";
    UI.every(5, async () => {
      const next = await UI.streamInfo(name);
      const key = next.error ? "error " + next.error : (next.source || []).map((s) => s.type + " " + s.url).join(" ");
      if (key === shown) return;
      shown = key;
      info = next;
      this.urls(urls, name, info, other.value);
    });
  },

  // The protocol URLs: json_'s sources, plus RTMP play when the connector is on and json_ has none.
  urls(box, name, info, otherValue) {
    const other = otherValue !== undefined ? otherValue : (document.getElementById("embed-host") || {}).value;
    clear(box);
    if (!info) return append(box, [h("p.muted", "Loading the stream's information…")]);
    const list = [];
    const seen = new Set();
    for (const s of (info.error ? [] : info.source || [])) {
      if (seen.has(s.url)) continue;
      seen.add(s.url);
      list.push({ hrn: s.hrn || s.type, type: s.type, url: s.url });
    }
    const rtmp = ((UI.config && UI.config.protocols) || []).find((p) => String(p.connector).toUpperCase() === "RTMP");
    if (rtmp && !list.some((s) => s.url.startsWith("rtmp://"))) {
      list.push({ hrn: "RTMP", type: "flash/10", url: "rtmp://" + location.hostname + ":" + (rtmp.port || 1935) + "/play/" + encodeURIComponent(name) });
    }
    append(box, [
      info.error ? h("p.stream-note#embed-offline", (info.unreachable ? info.error : "The stream is offline now (" + info.error + ").") +
        " The other protocols appear here once it is live: they follow the stream's codecs.") : null,
      list.length ? UI.table([
        { title: "Protocol", value: (s) => h("strong", s.hrn) },
        { title: "Type", value: (s) => h("code.small", s.type) },
        {
          title: "URL", value: (s, i) => {
            const url = UI.rewriteHost(s.url, other);
            const input = h("input.embed-url.embed-proto-url", { value: url, readonly: true, spellcheck: "false", "data-type": s.type });
            return h("div.inline", input, UI.copyButton(null, () => input.value, () => input));
          },
        },
      ], list) : null,
    ]);
  },
});

// A "Copy" button for the text `text()`; `field()` is the element to select when there is no
// clipboard.
UI.copyButton = function (id, text, field) {
  const b = h("button.copy", { id, type: "button", onclick: () => UI.run(b, () => UI.copyText(text(), field())) }, "Copy");
  return b;
};

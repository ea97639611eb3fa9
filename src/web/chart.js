"use strict";
// A small line chart drawn with SVG, for the statistics and server panels.
//
//   const c = UI.chart("Viewers", series, {unit: fmt.number, seconds: 600, gap: 25});
//   main.append(c.el);   // a div.chart: title, readout, the SVG and a legend
//   c.draw(series);      // redraws in place (on each poll): same elements, no flicker
//
// `series` is [{name, points: [[unixSeconds, value], ...], color?}]; a null value, or two points
// further apart than `gap` seconds, leave a gap in the line. Options:
//   unit(value) -> text  formats the value axis, the legend and the readout (default fmt.number)
//   seconds              the time span shown, ending now (default: the span of the data)
//   gap                  the largest step drawn as a line, in seconds (default 30)
//   min, max             fixed value bounds (default 0 and a round number above the data)
//   integer              values are counts: value labels are whole numbers
//   binary               values are bytes: value labels are round numbers of KiB, MiB, GiB
//   empty                the text shown with no data
// Moving the pointer over the chart shows the values at that time.

UI.chartColors = ["#1f6feb", "#1a7f37", "#cf222e", "#9a6700", "#8250df", "#0a7ea4", "#bc4c00", "#57606a"];

UI.chart = function (title, series, opts = {}) {
  const NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 170, RIGHT = 12, TOP = 8, BOTTOM = 22;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const readout = h("span.chart-readout.muted.small");
  const legend = h("div.legend");
  const el = h("div.chart", h("div.chart-head", h("h3", title), readout), svg, legend);
  const state = { series: series || [], opts, width: 0, scale: null };

  const node = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const unit = (v) => (state.opts.unit || fmt.number)(v);
  const colorOf = (s, i) => s.color || UI.chartColors[i % UI.chartColors.length];

  // A round step for about `n` ticks over `span`.
  const niceStep = (span, n, binary) => {
    if (binary && span >= 1024) {
      // Bytes: a round number of KiB, MiB, GiB... so the labels read as round numbers.
      const k = Math.min(4, Math.floor(Math.log(span) / Math.log(1024)));
      return niceStep(span / Math.pow(1024, k), n) * Math.pow(1024, k);
    }
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
  };
  const TIME_STEPS = [5, 10, 15, 30, 60, 120, 180, 240, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

  function draw(next, nextOpts) {
    if (next) state.series = next;
    if (nextOpts) state.opts = Object.assign({}, state.opts, nextOpts);
    const o = state.opts;
    const width = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 600);
    state.width = width;
    svg.setAttribute("viewBox", "0 0 " + width + " " + HEIGHT);
    const parts = [];
    const all = state.series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined && Number.isFinite(Number(p[1]))));
    const now = Date.now() / 1000;
    let t0 = now - 60, t1 = now;
    if (o.seconds) t0 = now - o.seconds;
    else if (all.length) {
      t0 = Math.min(...all.map((p) => p[0]));
      t1 = Math.max(...all.map((p) => p[0]));
    }
    // A short span fills from the left, as data comes.
    if (t1 - t0 < 60) {
      if (o.seconds || !all.length) t0 = t1 - 60;
      else t1 = t0 + 60;
    }
    const vmin = o.min !== undefined ? o.min : Math.min(0, ...all.map((p) => Number(p[1])));
    let vmax = o.max !== undefined ? o.max : Math.max(...all.map((p) => Number(p[1])), 0);
    if (vmax <= vmin) vmax = vmin + (o.floor || 1);
    let vstep = niceStep(vmax - vmin, 4, o.binary);
    if (o.integer) vstep = Math.max(1, Math.ceil(vstep));
    if (o.max === undefined) vmax = Math.ceil(vmax / vstep - 1e-9) * vstep;
    const ticks = [];
    for (let v = vmin; v <= vmax + vstep / 1000; v += vstep) ticks.push([v, unit(Math.round(v * 1000) / 1000)]);
    // Room on the left for the longest value label.
    const LEFT = Math.max(34, Math.round(Math.max(...ticks.map((tk) => tk[1].length)) * 5.6) + 12);
    const plotW = width - LEFT - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
    const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v) => TOP + plotH - ((v - vmin) / (vmax - vmin)) * plotH;
    state.scale = { t0, t1, x, plotW, left: LEFT };

    // Value grid and labels.
    for (const [v, label] of ticks) {
      const yy = Math.round(y(v)) + 0.5;
      parts.push(node("line", { class: "grid", x1: LEFT, x2: width - RIGHT, y1: yy, y2: yy }));
      parts.push(node("text", { x: LEFT - 6, y: yy + 3, "text-anchor": "end" }, label));
    }
    // Time labels on round times.
    const tstep = TIME_STEPS.find((s) => (t1 - t0) / s <= Math.max(2, Math.floor(plotW / 60))) || 86400;
    const short = tstep < 60;
    const offset = new Date().getTimezoneOffset() * 60;
    for (let t = Math.ceil((t0 - offset) / tstep) * tstep + offset; t <= t1; t += tstep) {
      const xx = Math.round(x(t)) + 0.5;
      if (xx < LEFT + 14 || xx > width - RIGHT - 14) continue;
      parts.push(node("line", { class: "grid", x1: xx, x2: xx, y1: TOP, y2: TOP + plotH }));
      const d = new Date(t * 1000);
      const label = String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0") +
        (short ? ":" + String(d.getSeconds()).padStart(2, "0") : "");
      parts.push(node("text", { x: xx, y: HEIGHT - 6, "text-anchor": "middle" }, label));
    }
    parts.push(node("line", { class: "axis", x1: LEFT, x2: width - RIGHT, y1: TOP + plotH + 0.5, y2: TOP + plotH + 0.5 }));
    parts.push(node("line", { class: "axis", x1: LEFT + 0.5, x2: LEFT + 0.5, y1: TOP, y2: TOP + plotH }));

    // The lines: a path per series, broken at gaps; a lone point is drawn as a dot. The first
    // series is drawn last, on top.
    const gap = o.gap || 30;
    [...state.series.entries()].reverse().forEach(([i, s]) => {
      const color = colorOf(s, i);
      let d = "", prev = null, run = [];
      const flush = () => {
        if (run.length === 1) parts.push(node("circle", { cx: run[0][0], cy: run[0][1], r: 2, fill: color, class: "dot" }));
        run = [];
      };
      for (const p of s.points) {
        const v = p[1];
        if (p[0] < t0 - gap || p[0] > t1 + gap) continue;
        if (v === null || v === undefined || !Number.isFinite(Number(v))) {
          prev = null;
          flush();
          continue;
        }
        const xx = x(p[0]).toFixed(1), yy = y(Number(v)).toFixed(1);
        if (prev === null || p[0] - prev > gap) {
          flush();
          d += "M" + xx + " " + yy;
        } else {
          d += "L" + xx + " " + yy;
        }
        run.push([xx, yy]);
        prev = p[0];
      }
      flush();
      if (d) parts.push(node("path", { class: "line", d, stroke: color, "data-series": s.name }));
    });
    if (!all.length) {
      parts.push(node("text", { class: "chart-empty", x: LEFT + plotW / 2, y: TOP + plotH / 2, "text-anchor": "middle" }, o.empty || "No data yet"));
    }
    const cursor = node("line", { class: "chart-cursor", x1: 0, x2: 0, y1: TOP, y2: TOP + plotH, visibility: "hidden" });
    parts.push(cursor);
    state.cursor = cursor;
    svg.replaceChildren(...parts);
    svg.dataset.points = String(all.length);

    // The legend: each series with its latest value.
    legend.replaceChildren(...state.series.map((s, i) => {
      const last = [...s.points].reverse().find((p) => p[1] !== null && p[1] !== undefined);
      return h("span", { "data-series": s.name }, h("i", { style: "background:" + colorOf(s, i) }),
        s.name + (last ? ": " + unit(last[1]) : ""));
    }));
    if (state.hoverT !== undefined) showAt(state.hoverT);
  }

  // The values nearest to time t, in the readout.
  function showAt(t) {
    const sc = state.scale;
    if (!sc || t < sc.t0 || t > sc.t1) return hide();
    const gap = state.opts.gap || 30;
    const texts = [];
    state.series.forEach((s) => {
      let best = null;
      for (const p of s.points) if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (best && Math.abs(best[0] - t) <= gap && best[1] !== null && best[1] !== undefined) texts.push(s.name + " " + unit(best[1]));
    });
    const xx = sc.x(t).toFixed(1);
    state.cursor.setAttribute("x1", xx);
    state.cursor.setAttribute("x2", xx);
    state.cursor.setAttribute("visibility", "visible");
    readout.textContent = fmt.clock(t) + (texts.length ? " · " + texts.join(" · ") : " · no data");
  }
  function hide() {
    state.hoverT = undefined;
    readout.textContent = "";
    if (state.cursor) state.cursor.setAttribute("visibility", "hidden");
  }
  svg.addEventListener("mousemove", (ev) => {
    const sc = state.scale;
    if (!sc) return;
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * state.width;
    state.hoverT = sc.t0 + ((px - sc.left) / sc.plotW) * (sc.t1 - sc.t0);
    showAt(state.hoverT);
  });
  svg.addEventListener("mouseleave", hide);

  // Redraw when the chart's width changes (the SVG is drawn at its real size, so text is
  // never stretched).
  if (window.ResizeObserver) {
    let attached = false;
    const watch = new ResizeObserver(() => {
      // Once the chart has left the page (another panel is shown), stop watching it.
      if (!svg.isConnected) {
        if (attached) watch.disconnect();
        return;
      }
      attached = true;
      const w = Math.round(svg.getBoundingClientRect().width);
      if (w && Math.abs(w - state.width) > 1) draw();
    });
    watch.observe(svg);
  }
  draw();
  return { el, draw, svg };
};

// The points of a `totals` answer ({start, fields, data, interval}) for one field, as
// [[unixSeconds, value], ...]; `map` turns a value into what is charted.
UI.totalsPoints = function (answer, field, map = (v) => v) {
  if (!answer || !Array.isArray(answer.data) || !Array.isArray(answer.fields) || answer.start === null) return [];
  const col = answer.fields.indexOf(field);
  if (col < 0) return [];
  // The time of each row: the start, then each gap of `interval` ([[count, seconds], ...]).
  const times = [Number(answer.start)];
  for (const [count, seconds] of answer.interval || []) {
    for (let i = 0; i < count; i++) times.push(times[times.length - 1] + Number(seconds));
  }
  return answer.data.map((row, i) => [times[i] !== undefined ? times[i] : NaN, map(row[col])]).filter((p) => Number.isFinite(p[0]));
};

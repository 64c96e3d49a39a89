/* Small SVG charts for the console, drawn in the browser from JSON (no library, no network).
   ICCharts.line(box, cfg): time series with shaded bands and dosing-session markers.
   ICCharts.bars(box, cfg): counts per day (schedule preview).
   Every chart is an <svg role="img"> with a text summary, points carry <title> tooltips, and a
   data table follows it for screen readers and keyboard users. */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var DAY = 86400000;
  var shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  var longDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  /* Light tints from calm to alarming, behind dark text and lines (contrast kept >= 4.5:1). */
  var BAND_FILLS = ["#e3f2e6", "#eef5d9", "#fcf1cf", "#fde0cc", "#f9d0d0"];

  function svgEl(name, attrs, parent) {
    var el = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { el.setAttribute(key, attrs[key]); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function svgText(parent, x, y, content, attrs) {
    var el = svgEl("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    el.textContent = content;
    return el;
  }

  function htmlEl(name, attrs, parent, content) {
    var el = document.createElement(name);
    Object.keys(attrs || {}).forEach(function (key) { el.setAttribute(key, attrs[key]); });
    if (content !== undefined) { el.textContent = content; }
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function niceStep(range, target) {
    var raw = range / Math.max(1, target);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= raw) { return steps[i] * power; }
    }
    return 10 * power;
  }

  function bandFills(count) {
    if (count <= 1) { return [BAND_FILLS[0]]; }
    var out = [];
    for (var i = 0; i < count; i++) {
      out.push(BAND_FILLS[Math.round(i * (BAND_FILLS.length - 1) / (count - 1))]);
    }
    return out;
  }

  function legend(box, series) {
    var list = htmlEl("ul", { class: "legend" }, box);
    series.forEach(function (s) {
      var item = htmlEl("li", {}, list);
      var swatch = svgEl("svg", { width: 26, height: 12, "aria-hidden": "true" }, item);
      svgEl("line", { x1: 1, y1: 6, x2: 25, y2: 6, stroke: s.color, "stroke-width": 2.5, "stroke-dasharray": s.dash || "none" }, swatch);
      svgEl("circle", { cx: 13, cy: 6, r: 3.5, fill: s.color }, swatch);
      htmlEl("span", {}, item, s.name);
    });
  }

  function dataTable(box, title, headers, rows) {
    var details = htmlEl("details", {}, box);
    htmlEl("summary", {}, details, "Data table: " + title + " (" + rows.length + " rows)");
    var wrap = htmlEl("div", { class: "table-wrap" }, details);
    var table = htmlEl("table", { class: "compact" }, wrap);
    htmlEl("caption", { class: "visually-hidden" }, table, title);
    var head = htmlEl("tr", {}, htmlEl("thead", {}, table));
    headers.forEach(function (h) { htmlEl("th", { scope: "col" }, head, h); });
    var body = htmlEl("tbody", {}, table);
    rows.forEach(function (r) {
      var tr = htmlEl("tr", {}, body);
      r.forEach(function (cell) { htmlEl("td", {}, tr, cell === null || cell === undefined ? "" : String(cell)); });
    });
  }

  /* cfg: {id, title, xMin, xMax (ms), yMin, yMax, unit, series: [{name, color, dash, points: [{t (ms), v}]}],
           bands: [{from, to, label}], doses: [{t (ms), label}], height} */
  function line(box, cfg) {
    box.textContent = "";
    var width = Math.max(320, Math.floor(box.clientWidth || 560));
    var height = cfg.height || 230;
    var m = { l: 38, r: 14, t: 18, b: 26 };
    var xMin = cfg.xMin, xMax = Math.max(cfg.xMax, cfg.xMin + DAY);
    var yMin = cfg.yMin, yMax = cfg.yMax;
    var total = cfg.series.reduce(function (n, s) { return n + s.points.length; }, 0);
    var summary = cfg.series.map(function (s) {
      if (!s.points.length) { return s.name + ": no entries"; }
      var last = s.points[s.points.length - 1];
      return s.name + ": " + s.points.length + " entries, latest " + last.v + " on " + shortDate.format(new Date(last.t));
    }).join("; ");
    var svg = svgEl("svg", {
      viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
      "aria-label": cfg.title + ". " + summary + (cfg.doses.length ? ". " + cfg.doses.length + " dosing sessions marked." : "."),
      "data-chart": cfg.id, "data-points": total
    }, box);
    var plotW = width - m.l - m.r, plotH = height - m.t - m.b;
    function x(t) { return m.l + (t - xMin) / (xMax - xMin) * plotW; }
    function y(v) { return m.t + plotH - (Math.min(Math.max(v, yMin), yMax) - yMin) / (yMax - yMin) * plotH; }

    var fills = bandFills((cfg.bands || []).length);
    (cfg.bands || []).forEach(function (band, i) {
      var top = y(Math.min(band.to, yMax)), bottom = y(Math.max(band.from, yMin));
      if (bottom - top < 1) { return; }
      svgEl("rect", { class: "band", x: m.l, y: top, width: plotW, height: bottom - top, fill: fills[i], "data-label": band.label }, svg);
      if (bottom - top >= 11) {
        svgText(svg, m.l + plotW - 4, top + 11, band.label, { class: "band-label", "text-anchor": "end" });
      }
    });

    var axis = svgEl("g", { class: "axis" }, svg);
    var step = niceStep(yMax - yMin, 5);
    for (var v = Math.ceil(yMin / step) * step; v <= yMax + 1e-9; v += step) {
      svgEl("line", { class: "grid", x1: m.l, x2: m.l + plotW, y1: y(v), y2: y(v) }, axis);
      svgText(axis, m.l - 5, y(v) + 4, String(Math.round(v * 10) / 10), { "text-anchor": "end" });
    }
    var days = (xMax - xMin) / DAY;
    var every = days <= 14 ? 2 : days <= 45 ? 7 : days <= 120 ? 14 : days <= 200 ? 30 : 60;
    var first = new Date(xMin);
    first.setHours(0, 0, 0, 0);
    for (var t = first.getTime() + DAY; t <= xMax; t += every * DAY) {
      svgEl("line", { class: "grid", x1: x(t), x2: x(t), y1: m.t, y2: m.t + plotH }, axis);
      svgText(axis, x(t), height - 8, shortDate.format(new Date(t)), { "text-anchor": "middle" });
    }
    svgEl("line", { class: "axis-line", x1: m.l, x2: m.l + plotW, y1: m.t + plotH, y2: m.t + plotH }, axis);
    svgEl("line", { class: "axis-line", x1: m.l, x2: m.l, y1: m.t, y2: m.t + plotH }, axis);

    (cfg.doses || []).forEach(function (dose) {
      if (dose.t < xMin || dose.t > xMax) { return; }
      var g = svgEl("g", { class: "dose-marker" }, svg);
      svgEl("line", { class: "dose", x1: x(dose.t), x2: x(dose.t), y1: m.t, y2: m.t + plotH }, g);
      svgText(g, x(dose.t) + 3, m.t - 5, dose.label, { class: "dose-label" });
      svgEl("title", {}, g).textContent = dose.label + ": " + longDate.format(new Date(dose.t));
    });

    cfg.series.forEach(function (s) {
      if (!s.points.length) { return; }
      var g = svgEl("g", { class: "series", "data-series": s.key || s.name }, svg);
      var d = s.points.map(function (p, i) { return (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1); }).join(" ");
      svgEl("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-dasharray": s.dash || "none", "stroke-linejoin": "round" }, g);
      s.points.forEach(function (p) {
        var dot = svgEl("circle", { class: "point", cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 3.5, fill: s.color, stroke: "#fff", "stroke-width": 1 }, g);
        svgEl("title", {}, dot).textContent = s.name + " " + p.v + (p.band ? " (" + p.band + ")" : "") + ", " + longDate.format(new Date(p.t));
      });
    });

    if (!total) {
      svgText(svg, m.l + plotW / 2, m.t + plotH / 2, "No entries in this period", { class: "empty-note", "text-anchor": "middle" });
    }
    if (cfg.series.length > 1 || cfg.legend) { legend(box, cfg.series); }

    var rows = [];
    cfg.series.forEach(function (s) {
      s.points.forEach(function (p) { rows.push([p.t, longDate.format(new Date(p.t)), s.name, p.v, p.band || ""]); });
    });
    rows.sort(function (a, b) { return a[0] - b[0]; });
    dataTable(box, cfg.title, ["When", "Measure", "Value", "Band"], rows.map(function (r) { return r.slice(1); }));
    return svg;
  }

  /* cfg: {id, title, items: [{label, count}], height} */
  function bars(box, cfg) {
    box.textContent = "";
    var width = Math.max(300, Math.floor(box.clientWidth || 480));
    var height = cfg.height || 190;
    var m = { l: 30, r: 8, t: 12, b: 34 };
    var items = cfg.items;
    var top = Math.max(1, Math.max.apply(null, items.map(function (i) { return i.count; }).concat([0])));
    var sum = items.reduce(function (n, i) { return n + i.count; }, 0);
    var svg = svgEl("svg", {
      viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
      "aria-label": cfg.title + ": " + sum + " over " + items.length + " days, at most " + top + " on one day.",
      "data-chart": cfg.id
    }, box);
    var plotW = width - m.l - m.r, plotH = height - m.t - m.b;
    var slot = plotW / Math.max(1, items.length);
    function y(v) { return m.t + plotH - v / top * plotH; }
    var axis = svgEl("g", { class: "axis" }, svg);
    var step = Math.max(1, niceStep(top, 4));
    for (var v = 0; v <= top; v += step) {
      svgEl("line", { class: "grid", x1: m.l, x2: m.l + plotW, y1: y(v), y2: y(v) }, axis);
      svgText(axis, m.l - 5, y(v) + 4, String(v), { "text-anchor": "end" });
    }
    var labelEvery = Math.max(1, Math.ceil(items.length / Math.floor(plotW / 48)));
    items.forEach(function (item, i) {
      var bw = Math.max(2, slot * 0.7);
      var bx = m.l + i * slot + (slot - bw) / 2;
      var bar = svgEl("rect", { class: "bar", x: bx.toFixed(1), y: y(item.count).toFixed(1), width: bw.toFixed(1), height: (m.t + plotH - y(item.count)).toFixed(1), "data-count": item.count }, svg);
      svgEl("title", {}, bar).textContent = item.label + ": " + item.count + " notification" + (item.count === 1 ? "" : "s");
      if (i % labelEvery === 0) {
        svgText(axis, m.l + i * slot + slot / 2, height - 18, item.label, { "text-anchor": "middle" });
      }
    });
    svgText(axis, m.l + plotW / 2, height - 3, "local day", { "text-anchor": "middle" });
    svgEl("line", { class: "axis-line", x1: m.l, x2: m.l + plotW, y1: m.t + plotH, y2: m.t + plotH }, axis);
    dataTable(box, cfg.title, ["Day", "Notifications"], items.map(function (i) { return [i.label, i.count]; }));
    return svg;
  }

  window.ICCharts = { line: line, bars: bars, DAY: DAY };
})();

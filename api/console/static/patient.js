/* Patient page charts: fetch the trends JSON (the same trends() data the app uses) and draw. */
(function () {
  "use strict";

  var DAILY = [
    { key: "daily.mood", name: "Mood", color: "#1f5fa8" },
    { key: "daily.anxiety", name: "Anxiety", color: "#a8431a", dash: "6 3" }
  ];
  var SLEEP = [{ key: "daily.hours_slept", name: "Hours slept", color: "#5b3a8f" }];

  function points(data, key) {
    return (data.series[key] || []).map(function (p) { return { t: Date.parse(p.t), v: p.v, band: p.band }; });
  }

  function bands(spec) {
    var list = spec.bands;
    return list.map(function (b, i) {
      return { from: b.minimum, to: i + 1 < list.length ? list[i + 1].minimum : spec.range[1], label: b.label };
    });
  }

  function draw(root, data) {
    var xMin = Date.parse(data.since), xMax = Date.parse(data.now);
    var doses = data.dosing_sessions.map(function (d) {
      return { t: Date.parse(d.t), label: d.number ? "Dose " + d.number : "Dose" };
    });
    root.querySelectorAll(".chart-box[data-chart]").forEach(function (box) {
      var id = box.getAttribute("data-chart");
      var base = { id: id, xMin: xMin, xMax: xMax, doses: doses };
      if (id === "daily") {
        window.ICCharts.line(box, Object.assign(base, {
          title: "Daily mood and anxiety, 0 to 10", yMin: 0, yMax: 10,
          series: DAILY.map(function (s) { return Object.assign({ points: points(data, s.key) }, s); })
        }));
      } else if (id === "sleep") {
        var sleep = points(data, SLEEP[0].key);
        var top = Math.max(12, Math.ceil(Math.max.apply(null, sleep.map(function (p) { return p.v; }).concat([0]))));
        window.ICCharts.line(box, Object.assign(base, {
          title: "Hours slept per night", yMin: 0, yMax: top, legend: true,
          series: [Object.assign({ points: sleep }, SLEEP[0])]
        }));
      } else {
        var spec = data.bands[id];
        var title = (data.titles[id] || id) + " total";
        window.ICCharts.line(box, Object.assign(base, {
          title: title, yMin: spec ? spec.range[0] : 0, yMax: spec ? spec.range[1] : 30,
          bands: spec ? bands(spec) : [],
          series: [{ key: id + ".total", name: title, color: "#1b1f24", points: points(data, id + ".total") }]
        }));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("charts-root");
    if (!root) { return; }
    var status = document.getElementById("charts-status");
    var select = document.getElementById("chart-window");
    var last = null;

    function load() {
      var url = root.getAttribute("data-trends-url") + "?days=" + encodeURIComponent(select.value);
      status.textContent = "Loading charts…";
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { window.IC.signedOut("idle"); throw new Error("signed out"); }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          last = data;
          draw(root, data);
          status.textContent = "Showing the last " + data.days + " days.";
        })
        .catch(function (error) {
          if (error.message !== "signed out") { status.textContent = "The charts could not be loaded. Reload the page to try again."; }
        });
    }

    var resizeTimer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(function () { if (last) { draw(root, last); } }, 200);
    });
    select.addEventListener("change", load);
    load();
  });
})();

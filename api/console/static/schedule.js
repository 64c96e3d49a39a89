/* Schedule template editor: live validation and preview (timeline + notifications per day) of the
   rules as typed, before anything is saved. */
(function () {
  "use strict";

  function drawPerDay(panel) {
    var box = panel.querySelector('.chart-box[data-chart="per-day"]');
    if (!box) { return; }
    var perDay = JSON.parse(box.getAttribute("data-per-day") || "[]");
    var label = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
    /* A continuous axis: days without notifications are shown as zero, so gaps are visible. */
    var counts = {};
    perDay.forEach(function (d) { counts[d.date] = d.count; });
    var items = [];
    if (perDay.length) {
      var day = Date.parse(perDay[0].date + "T00:00:00Z");
      var last = Date.parse(perDay[perDay.length - 1].date + "T00:00:00Z");
      for (; day <= last; day += window.ICCharts.DAY) {
        var key = new Date(day).toISOString().slice(0, 10);
        items.push({ label: label.format(new Date(day)), count: counts[key] || 0 });
      }
    }
    window.ICCharts.bars(box, { id: "per-day", title: "Notifications per local day", items: items });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("schedule-form");
    if (!form) { return; }
    var panel = document.getElementById("preview-panel");
    var rules = document.getElementById("rules");
    var url = form.getAttribute("data-preview-url");
    var timer = null, sequence = 0;

    function params() {
      return {
        rules: rules.value,
        timezone: form.elements.timezone.value,
        dosing: form.elements.dosing.value,
        quiet_start: form.elements.quiet_start.value,
        quiet_end: form.elements.quiet_end.value,
        last_session: form.elements.last_session.checked
      };
    }

    function refresh() {
      var mine = ++sequence;
      panel.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": window.IC.csrfToken() },
        body: JSON.stringify(params())
      })
        .then(function (response) {
          if (response.status === 401) { window.IC.signedOut("idle"); throw new Error("signed out"); }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          if (mine !== sequence) { return; } // a newer preview is on its way
          panel.innerHTML = data.html; // rendered and escaped by the server's template
          rules.setAttribute("aria-invalid", data.ok ? "false" : "true");
          drawPerDay(panel);
        })
        .catch(function () {})
        .finally(function () { if (mine === sequence) { panel.removeAttribute("aria-busy"); } });
    }

    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 450);
    }

    rules.addEventListener("input", soon);
    form.querySelectorAll("[data-preview-param]").forEach(function (el) {
      el.addEventListener("input", soon);
      el.addEventListener("change", soon);
    });
    document.getElementById("preview-button").addEventListener("click", function (event) {
      event.preventDefault();
      refresh();
    });
    drawPerDay(panel);
  });
})();

/* The alert queue refreshes itself: it polls /console/alerts.json and swaps the rows in place
   (no page reload), keeps the acknowledgement countdowns ticking, announces changes to screen
   readers, and opens a dialog for resolving (note and outcome required). */
(function () {
  "use strict";

  function span(minutes) {
    if (minutes >= 48 * 60) { return Math.floor(minutes / 1440) + " d " + Math.floor((minutes % 1440) / 60) + " h"; }
    if (minutes >= 120) { return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min"; }
    return minutes + " min";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("alert-queue");
    if (!table) { return; }
    var rows = document.getElementById("alert-rows");
    var countEl = document.getElementById("queue-count");
    var updatedEl = document.getElementById("queue-updated");
    var every = Math.max(1, parseFloat(table.getAttribute("data-poll-seconds")) || 5) * 1000;
    var pollUrl = table.getAttribute("data-poll-url");
    var digest = table.getAttribute("data-digest");
    var offset = Date.parse(table.getAttribute("data-server-now")) - Date.now();
    var clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

    function ids() {
      return Array.prototype.map.call(rows.querySelectorAll("tr[data-alert-id]"), function (tr) {
        return tr.getAttribute("data-alert-id");
      });
    }

    function tick() {
      var now = Date.now() + offset;
      rows.querySelectorAll("time.countdown").forEach(function (el) {
        var seconds = Math.trunc((Date.parse(el.getAttribute("data-deadline")) - now) / 1000);
        var minutes = Math.floor(Math.abs(seconds) / 60);
        el.textContent = seconds >= 0 ? span(minutes) + " left" : "Overdue by " + span(minutes);
        el.classList.toggle("overdue", seconds < 0);
        el.classList.toggle("soon", seconds >= 0 && seconds < 300);
      });
    }

    function swap(data) {
      var before = ids();
      var active = document.activeElement;
      var focusKey = active && rows.contains(active) ? active.getAttribute("data-focus-key") : null;
      rows.innerHTML = data.html; // rendered and escaped by the server's template
      window.IC.localize(rows);
      tick();
      var fresh = ids().filter(function (id) { return before.indexOf(id) === -1; });
      fresh.forEach(function (id) {
        rows.querySelector('tr[data-alert-id="' + id + '"]').classList.add("is-new");
      });
      if (focusKey) {
        var again = rows.querySelector('[data-focus-key="' + focusKey + '"]');
        (again || table).focus();
      }
      var n = data.alerts.length;
      countEl.textContent = n + (n === 1 ? " alert" : " alerts") +
        (fresh.length ? " (" + fresh.length + " new)" : "");
    }

    function poll() {
      fetch(pollUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) {
            return response.json().then(function (body) { window.IC.signedOut(body.reason); throw new Error("signed out"); });
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          offset = Date.parse(data.now) - Date.now();
          if (data.digest !== digest) {
            digest = data.digest;
            table.setAttribute("data-digest", digest);
            swap(data);
          }
          updatedEl.textContent = clock.format(new Date(Date.now() + offset));
          updatedEl.setAttribute("datetime", data.now);
          table.removeAttribute("aria-busy");
        })
        .catch(function (error) {
          if (error.message !== "signed out") {
            updatedEl.textContent = "connection problem, retrying";
          }
        })
        .finally(function () { window.setTimeout(poll, every); });
    }

    /* Resolve: a dialog outside the table, so a refresh never wipes a note being typed. */
    var dialog = document.getElementById("resolve-dialog");
    var form = document.getElementById("resolve-form");
    var opener = null;
    rows.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-resolve-action]");
      if (!link || !dialog || typeof dialog.showModal !== "function") { return; }
      event.preventDefault();
      opener = link.getAttribute("data-focus-key");
      form.reset();
      form.setAttribute("action", link.getAttribute("data-resolve-action"));
      document.getElementById("resolve-which").textContent = link.getAttribute("data-resolve-label");
      dialog.showModal();
      document.getElementById("resolve-outcome").focus();
    });
    document.getElementById("resolve-cancel").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      var back = opener && rows.querySelector('[data-focus-key="' + opener + '"]');
      if (back) { back.focus(); }
    });

    tick();
    window.setInterval(tick, 1000);
    window.setTimeout(poll, every);
  });
})();

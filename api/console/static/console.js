/* Shared console behaviour: local times, confirmations, the inactivity warning. No inline scripts
   (the Content-Security-Policy forbids them); every page loads this file. */
(function () {
  "use strict";

  var dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* <time class="js-local" datetime="ISO"> shows the instant in the browser's own time zone. */
  function localize(root) {
    (root || document).querySelectorAll("time.js-local").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.title = el.textContent.trim();
        el.textContent = dateTime.format(when);
      }
    });
  }

  function signedOut(reason) {
    var url = document.body.getAttribute("data-idle-url") || "/console/login";
    window.location.assign(reason === "idle" || !reason ? url : url.replace("reason=idle", "reason=" + reason));
  }

  window.IC = { csrfToken: csrfToken, localize: localize, signedOut: signedOut };

  /* Forms with data-confirm ask first (cancel a dosing session, deactivate an account...). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  /* Inactivity: the server signs the session out after N idle seconds. Two minutes before, warn
     and offer to stay signed in (WCAG 2.2.1); at the limit, go to the sign-in page. */
  function idleWatch() {
    var body = document.body;
    var limit = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
    var dialog = document.getElementById("idle-dialog");
    if (!limit || !dialog) {
      return;
    }
    var warnBefore = Math.min(120, Math.floor(limit / 4));
    var lastActive = Date.now();
    var countdown = document.getElementById("idle-countdown");
    document.getElementById("idle-stay").addEventListener("click", function () {
      fetch(body.getAttribute("data-keepalive-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" }
      }).then(function (response) {
        if (response.status === 401) {
          signedOut("idle");
          return;
        }
        lastActive = Date.now();
        if (dialog.open) {
          dialog.close();
        }
      });
    });
    window.setInterval(function () {
      var left = limit - Math.floor((Date.now() - lastActive) / 1000);
      if (left <= 0) {
        signedOut("idle");
      } else if (left <= warnBefore) {
        countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
        if (!dialog.open && typeof dialog.showModal === "function") {
          dialog.showModal();
          document.getElementById("idle-stay").focus();
        }
      }
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    idleWatch();
  });
})();

// The waiting page's script (policy `approve`): asks `GET /api/v1/login/status` every 1.5 s
// and, once the sign-in is no longer waiting (approved on another device, or ended), goes on
// to `/login/status`, which finishes the sign-in here or says why it ended. Without script the
// page reloads itself instead, through the `<meta http-equiv="refresh">` in its `<noscript>`.
"use strict";

(function () {
  const EVERY = 1500;
  const marker = document.querySelector("[data-waiting-status]");
  if (!marker) {
    return;
  }
  const url = marker.getAttribute("data-waiting-status");
  const FINISH = "/login/status";

  function local(path) {
    return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") ? path : FINISH;
  }

  function later(ms) {
    window.setTimeout(ask, ms);
  }

  function ask() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then((response) => {
        if (response.status === 404) {
          // The attempt is gone (or this browser signed in meanwhile): the page says which.
          window.location.assign(FINISH);
          return;
        }
        if (!response.ok) {
          // Busy (429) or the store is unreachable (503): ask again when told to.
          const wait = Number(response.headers.get("Retry-After")) * 1000;
          later(wait > EVERY ? wait : EVERY);
          return;
        }
        return response.json().then((answer) => {
          if (answer.status === "waiting") {
            later(EVERY);
          } else {
            window.location.assign(local(answer.next));
          }
        });
      })
      .catch(() => later(EVERY));
  }

  later(EVERY);
})();

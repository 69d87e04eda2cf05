// Live updates for the callback inbox. The page works without this file: every action is a
// plain form POST. With it, the list re-reads itself when the server says something changed
// (server-sent events fed by PostgreSQL LISTEN/NOTIFY). No caller data is built here: the
// server renders the list, escaped, and this only swaps it in.
"use strict";
(function () {
  const list = document.getElementById("callers");
  if (!list || !window.EventSource) return;
  const state = document.getElementById("live-state");
  let reading = false;
  let again = false;

  // The page shown, and the search shown: its digits are posted with the form's CSRF token,
  // never put in the address (numbers stay out of URLs and logs).
  function request() {
    // X-Live: this re-read is the page's, not a person's: it keeps no idle session alive.
    const options = {credentials: "same-origin", cache: "no-store", headers: {"X-Live": "1"}};
    const search = document.getElementById("search");
    if (list.dataset.digits && search) {
      // URL-encoded, like the page's own forms: the inbox reads no other kind (read_form).
      const body = new URLSearchParams();
      body.set("csrf", search.elements.csrf.value);
      body.set("digits", list.dataset.digits);
      body.set("page", list.dataset.page || "1");
      return [list.dataset.live, Object.assign(options, {method: "POST", body: body})];
    }
    return [list.dataset.live + "?page=" + encodeURIComponent(list.dataset.page || "1"), options];
  }

  async function refresh() {
    if (reading) { again = true; return; }
    reading = true;
    try {
      const response = await fetch(...request());
      if (response.status === 401) { window.location.assign("/sign-in"); return; }
      if (response.ok) {
        // Keep keyboard focus on the same control when the list is redrawn.
        const focused = document.activeElement && document.activeElement.closest("form");
        const action = focused ? focused.getAttribute("action") : null;
        list.innerHTML = await response.text();
        if (action) {
          const same = list.querySelector('form[action="' + CSS.escape(action) + '"] button');
          if (same) same.focus();
        }
        list.dataset.updated = String(Date.now());
      }
    } finally {
      reading = false;
      if (again) { again = false; refresh(); }
    }
  }

  const events = new EventSource("/events");
  events.addEventListener("open", function () { if (state) state.hidden = false; });
  events.addEventListener("changed", refresh);
  // The session ended (signed out elsewhere, disabled, idle): take the callers off the screen.
  events.addEventListener("signed-out", function () {
    events.close();
    window.location.assign("/sign-in");
  });
  events.addEventListener("error", function () { if (state) state.hidden = true; });

  // The desk phone rings before anything else happens: say so while the form is posting.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.classList && form.classList.contains("call")) {
      const button = form.querySelector("button");
      if (button) { button.disabled = true; button.textContent = "Ringing your desk phone…"; }
    }
  });
})();

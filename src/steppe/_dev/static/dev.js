// steppe dev: a page that shows runs in flight asks the server for its state every second and reloads when it
// changed. The state is a digest the server computes the same way for the page and for its JSON endpoint.
"use strict";

(function () {
  const body = document.body;
  const poll = body.dataset.poll;
  if (!poll) {
    return;
  }
  const every = body.dataset.live === "yes" ? 1000 : 3000;
  const openDetails = () => document.querySelector("details[open]") !== null;

  async function check() {
    try {
      const response = await fetch(poll, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const state = await response.json();
        // Keep a step the reader opened: reload once it is closed again.
        if (state.state !== body.dataset.state && !openDetails()) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // The server stopped (Ctrl-C): keep the page as it is and try again later.
    }
    window.setTimeout(check, every);
  }
  window.setTimeout(check, every);
})();

// Live progress of a sync run: poll the run's JSON once a second while it is active.
(function () {
  "use strict";
  const section = document.querySelector(".sync-progress");
  if (!section) return;
  const url = section.dataset.progressUrl;

  function render(data) {
    for (const el of section.querySelectorAll("[data-field]")) {
      const value = data[el.dataset.field];
      if (value !== undefined && value !== null) el.textContent = value;
    }
    const error = section.querySelector(".sync-progress__error");
    error.hidden = !data.error;
    for (const el of section.querySelectorAll("[data-counter]")) {
      el.textContent = data.counters[el.dataset.counter];
    }
    const percent = data.percent === null ? 0 : data.percent;
    section.querySelector(".sync-progress__fill").style.width = percent + "%";
    section.querySelector("[role=progressbar]").setAttribute("aria-valuenow", percent);
    section.querySelector(".sync-progress__of").hidden = !data.total;
    // The read-only details under the bar were rendered with the page; say so once they are stale.
    if (!data.active) section.querySelector(".sync-progress__stale").hidden = false;
    section.dataset.active = data.active ? "1" : "0";
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) render(await response.json());
    } catch (error) {
      // A dropped poll is retried on the next tick.
    }
    if (section.dataset.active === "1") setTimeout(poll, 1000);
  }

  if (section.dataset.active === "1") setTimeout(poll, 1000);
})();

// The console refreshes itself: every 2 s it fetches its sections again as HTML fragments
// rendered by the server (the same templates as the page) and swaps them in. A click on an
// order (a chain, or a running stage) shows that chain's waterfall; #order=<id> links to it.
(() => {
  "use strict";
  const INTERVAL_MS = 2000;
  const fromHash = () => new URLSearchParams(location.hash.slice(1)).get("order");
  const shown = () => document.querySelector("#chain [data-root-order-id]")?.dataset.rootOrderId;
  let selected = fromHash() || shown() || null;

  function markSelected() {
    document.querySelectorAll("tr[data-order-id]").forEach((row) => {
      row.classList.toggle("selected", row.dataset.orderId === (shown() || selected));
    });
  }

  async function swap(id, url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    document.getElementById(id).innerHTML = await response.text();
  }

  async function refresh() {
    const freshness = document.getElementById("freshness");
    try {
      const jobs = [swap("overview", "console/fragments/overview")];
      if (selected) jobs.push(swap("chain", `console/fragments/chains/${selected}`));
      await Promise.all(jobs);
      if (!selected) {
        // the first chain seen since the page opened empty
        selected = document.querySelector("#chains tr[data-order-id]")?.dataset.orderId || null;
        if (selected) await swap("chain", `console/fragments/chains/${selected}`);
      }
      freshness.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC · refreshes every 2 s`;
      freshness.classList.remove("stale");
    } catch (error) {
      freshness.textContent = `not updated: ${error.message} (trying again)`;
      freshness.classList.add("stale");
    }
    markSelected();
  }

  function loop() {
    refresh().finally(() => setTimeout(loop, INTERVAL_MS));
  }

  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-order-id]");
    if (!row || event.target.closest("a")) return;
    selected = row.dataset.orderId;
    history.replaceState(null, "", `#order=${selected}`);
    markSelected();
    swap("chain", `console/fragments/chains/${selected}`).then(markSelected, () => {});
  });

  markSelected();
  if (selected && selected !== shown()) refresh();
  setTimeout(loop, INTERVAL_MS);
})();

// The dashboard's page script (no build step): it keeps the page live from the server's event stream and sends
// the operator's commands. Every fragment it puts in the page was rendered and escaped by the server.
"use strict";

(() => {
  const body = document.body;
  const connection = document.getElementById("connection");
  const result = document.getElementById("command-result");
  const operate = document.getElementById("operate");

  function setConnection(state, text) {
    connection.className = `connection ${state}`;
    connection.textContent = text;
  }

  function apply(fragments) {
    for (const [id, html] of Object.entries(fragments)) {
      const target = document.getElementById(id);
      if (target) {
        target.innerHTML = html;
      }
    }
    if ("waves" in fragments) {
      syncWaveChoices();
    }
    body.dataset.updates = String(Number(body.dataset.updates || "0") + 1);
  }

  // The panel's wave choice lists every wave the page shows (a page opened before the ledger had them starts
  // empty); the operator's current choice is kept.
  function syncWaveChoices() {
    const select = document.getElementById("command-wave");
    if (!select) {
      return;
    }
    const known = new Set(Array.from(select.options, (option) => option.value));
    for (const section of document.querySelectorAll("#waves section.wave[data-wave-id]")) {
      const waveId = section.dataset.waveId;
      if (!known.has(waveId)) {
        select.add(new Option(waveId, waveId));
        known.add(waveId);
      }
    }
  }

  if (body.dataset.stream) {
    const stream = new EventSource(body.dataset.stream);
    stream.addEventListener("open", () => setConnection("live", "live"));
    stream.addEventListener("error", () => setConnection("lost", "reconnecting…"));
    stream.addEventListener("fragments", (message) => {
      setConnection("live", "live");
      apply(JSON.parse(message.data));
    });
    // the ledger could not be read (AccessDenied, throttling): say why; the server tries again at its next poll
    stream.addEventListener("unavailable", (message) =>
      setConnection("lost", `ledger unreadable: ${JSON.parse(message.data).reason}`),
    );
  }

  function show(ok, text) {
    result.className = `command-result ${ok ? "ok" : "bad"}`;
    result.textContent = text;
  }

  function value(id) {
    const element = document.getElementById(id);
    return element ? element.value : "";
  }

  function checked(id) {
    const element = document.getElementById(id);
    return element ? element.checked : false;
  }

  async function send(verb, waveId) {
    const command = {
      verb,
      waveId: waveId || null,
      text: value("command-text") || null,
      allServers: checked("all-servers"),
      terminateDrillInstances: checked("terminate-drill"),
      confirm: value("confirm-id") || null,
    };
    const executionId = operate.dataset.executionId;
    show(true, `${verb}${waveId ? " " + waveId : ""}: sending…`);
    try {
      const response = await fetch(`/executions/${encodeURIComponent(executionId)}/commands`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify(command),
      });
      const answer = await response.json();
      const what = `${verb}${waveId ? " " + waveId : ""}`;
      show(answer.ok, answer.ok ? `${what}: applied` : `${what} rejected: ${answer.reason}`);
    } catch (error) {
      show(false, `${verb}: the dashboard did not answer (${error})`);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-verb]");
    if (!button || !operate) {
      return;
    }
    event.preventDefault();
    const wave = button.dataset.wave || (button.dataset.scope === "wave" ? value("command-wave") : null);
    send(button.dataset.verb, wave);
  });
})();

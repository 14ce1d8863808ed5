// The operations page: signs in with a bearer token kept in this tab, polls
// GET /v1/ops/status, and re-drives a stopped operation with the reason given.
"use strict";

(function () {
  const TOKEN_KEY = "tsched.ops.token";
  const params = new URLSearchParams(window.location.search);
  const refreshSeconds = Math.max(1, Number(params.get("refresh")) || 5);
  // The thresholds of the Azure Monitor alerts (bicep/app/alerts.bicep).
  const LAG_ALERT_SECONDS = 60;
  const OUTBOX_ALERT_SECONDS = 300;

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let chart = null;
  let lastNow = 0;

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  async function api(path, options) {
    const headers = Object.assign({ Authorization: "Bearer " + token() }, (options || {}).headers);
    const response = await fetch(path, Object.assign({}, options, { headers }));
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 || response.status === 403) {
      signOut(body.detail || body.title || "This token may not see the operations page.");
      throw new Error("not signed in");
    }
    if (!response.ok) {
      throw new Error(body.detail || body.title || "HTTP " + response.status);
    }
    return body;
  }

  function signOut(message) {
    window.sessionStorage.removeItem(TOKEN_KEY);
    if (timer !== null) window.clearInterval(timer);
    timer = null;
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("updated").textContent = "not signed in";
  }

  function start() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    refresh();
    timer = window.setInterval(refresh, refreshSeconds * 1000);
  }

  function valueAt(status, path) {
    return path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), status);
  }

  function show(status) {
    for (const element of document.querySelectorAll("[data-figure]")) {
      const value = valueAt(status, element.dataset.figure);
      element.textContent =
        value === undefined ? "0" : typeof value === "number" ? String(Math.round(value * 10) / 10) : value;
    }
    mark("lag", status.lag_seconds > LAG_ALERT_SECONDS);
    mark("stopped", status.dead > 0);
    // Without Kafka (relay off) events stay in the outbox by design: no alert.
    mark("outbox", status.outbox.relay !== "off" && status.outbox.oldest_seconds > OUTBOX_ALERT_SECONDS);
    showLateness(status.lateness_last_hour, Date.parse(status.at) / 1000);
    showStopped(status.latest_stopped);
    $("updated").textContent = "updated " + new Date(status.at).toLocaleTimeString();
    document.body.dataset.updatedAt = status.at;
  }

  function mark(name, alerting) {
    document.querySelector('[data-alert="' + name + '"]').classList.toggle("alert", alerting);
  }

  function showLateness(minutes, now) {
    lastNow = now;
    const data = [
      minutes.map((m) => Date.parse(m.minute_start) / 1000),
      minutes.map((m) => m.max_seconds),
      minutes.map((m) => m.mean_seconds),
    ];
    if (chart === null) {
      chart = new window.uPlot(
        {
          width: Math.min(1150, document.body.clientWidth - 40),
          height: 220,
          // The last hour, whatever minutes had payments; the range moves with `now`.
          scales: { x: { time: true, range: () => [lastNow - 3600, lastNow] } },
          series: [
            {},
            { label: "max lateness (s)", stroke: "#cf222e", width: 2 },
            { label: "mean lateness (s)", stroke: "#0969da", width: 2 },
          ],
        },
        data,
        $("lateness-chart"),
      );
    } else {
      chart.setData(data);
    }
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function showStopped(operations) {
    const body = $("stopped").querySelector("tbody");
    body.replaceChildren();
    $("no-stopped").hidden = operations.length > 0;
    for (const op of operations) {
      const row = document.createElement("tr");
      row.dataset.operation = op.id;
      cell(row, new Date(op.stopped_at).toLocaleString());
      cell(row, op.status);
      cell(row, op.amount.value + " " + op.amount.currency);
      cell(row, op.debit_account + " → " + op.credit_account);
      cell(row, op.attempts);
      cell(row, (op.error_code || "") + (op.reason ? ": " + op.reason : ""));
      cell(row, op.recommended_action);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Re-drive";
      button.addEventListener("click", () => askRedrive(op.id));
      cell(row, "").appendChild(button);
      body.appendChild(row);
    }
  }

  function askRedrive(operationId) {
    const dialog = $("redrive-dialog");
    dialog.dataset.operation = operationId;
    dialog.dataset.key = window.crypto.randomUUID();
    $("redrive-operation").textContent = operationId;
    $("redrive-reason").value = "";
    $("redrive-error").textContent = "";
    dialog.showModal();
  }

  async function redrive(event) {
    event.preventDefault();
    const dialog = $("redrive-dialog");
    try {
      await api("/v1/operations/" + dialog.dataset.operation + "/redrive", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": dialog.dataset.key },
        body: JSON.stringify({ reason: $("redrive-reason").value }),
      });
      dialog.close();
      refresh();
    } catch (error) {
      $("redrive-error").textContent = error.message;
    }
  }

  async function refresh() {
    try {
      show(await api("/v1/ops/status"));
      $("error").textContent = "";
    } catch (error) {
      if (token()) $("error").textContent = "Could not refresh: " + error.message;
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("redrive-form").addEventListener("submit", redrive);
  $("redrive-cancel").addEventListener("click", () => $("redrive-dialog").close());

  if (token()) start();
})();

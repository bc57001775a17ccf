// The gateway console's only script: new decisions appear on the decisions page as they
// happen (Server-Sent Events from /console/events). Every value is set as text, never markup.
"use strict";
(function () {
  var table = document.getElementById("decisions");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var fields = ["time", "method", "path", "route", "status", "reason", "issuer", "client_id", "request_id"];
  var live = document.getElementById("live");
  var events = new EventSource("/console/events");
  // The line above the table says whether rows arrive by themselves (data-state is what the
  // browser test waits on before it sends a refusal).
  function state(name, text) {
    if (!live) { return; }
    live.dataset.state = name;
    live.textContent = text;
  }
  events.onopen = function () {
    state("open", "Live: new refusals appear at the top as they happen.");
  };
  events.onerror = function () {
    state("reconnecting", "Live updates interrupted; reconnecting (reload to see everything).");
  };
  events.onmessage = function (event) {
    var record;
    try { record = JSON.parse(event.data); } catch (e) { return; }
    var row = document.createElement("tr");
    row.className = "fresh";
    fields.forEach(function (name) {
      var cell = document.createElement("td");
      cell.textContent = String(record[name]);
      if (name === "status") { cell.className = "num"; }
      row.appendChild(cell);
    });
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > 1000) { body.deleteRow(body.rows.length - 1); }
  };
})();

// The gateway console's only script: new decisions appear on the decisions page as they
// happen (Server-Sent Events from /console/events). Every value is set as text, never markup.
"use strict";
(function () {
  var table = document.getElementById("decisions");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var fields = ["time", "method", "path", "route", "status", "reason", "issuer", "client_id", "request_id"];
  var events = new EventSource("/console/events");
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

// Usage page: while an upload is being read, poll its progress (lines done / total).
(function () {
  "use strict";
  var table = document.getElementById("usage-uploads");
  if (!table) { return; }
  var url = table.getAttribute("data-status-url");
  function busy() {
    return table.querySelector('tr[data-upload-status="pending"], tr[data-upload-status="running"]') !== null;
  }
  function update(upload) {
    var row = table.querySelector('tr[data-upload-id="' + upload.id + '"]');
    if (!row) { return; }
    row.setAttribute("data-upload-status", upload.status);
    row.querySelector("progress").value = upload.percent;
    row.querySelector("progress").textContent = upload.percent + "%";
    row.querySelector(".upload-status").textContent = upload.status_label;
    row.querySelector(".upload-lines").textContent =
      upload.lines_done + (upload.lines_total ? " / " + upload.lines_total : "");
    row.querySelector(".upload-events").textContent = upload.events_read;
    row.querySelector(".upload-new").textContent = upload.events_new;
  }
  function poll() {
    if (!busy()) { return; }
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {uploads: []}; })
      .then(function (data) {
        data.uploads.forEach(update);
        if (busy()) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  poll();
}());

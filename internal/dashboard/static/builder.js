// The campaign builder's script. The pages work without it (plain form
// posts); with it, the upload shows its progress, column buttons insert
// {{.column}} at the cursor, and the preview follows the message as it is
// typed. Loaded from /static/ (the CSP allows no inline script).
"use strict";

(function () {
  var upload = document.getElementById("upload-form");
  if (upload) {
    upload.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var bar = document.getElementById("upload-bar");
      var pct = document.getElementById("upload-percent");
      document.getElementById("upload-progress").hidden = false;
      document.getElementById("upload").disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", upload.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.max = e.total;
          bar.value = e.loaded;
          pct.textContent = Math.floor((e.loaded * 100) / e.total);
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 300) {
          window.location.assign(xhr.responseURL); // the review page
          return;
        }
        // An error page: show it as the form post would have.
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        document.getElementById("upload").disabled = false;
        pct.textContent = "failed: network error, ";
      });
      xhr.send(new FormData(upload));
    });
  }

  var form = document.getElementById("review-form");
  if (!form) {
    return;
  }
  var text = document.getElementById("text");
  document.querySelectorAll("button.insert").forEach(function (b) {
    b.addEventListener("click", function () {
      var ins = "{{." + b.dataset.column + "}}";
      var start = text.selectionStart, end = text.selectionEnd;
      text.value = text.value.slice(0, start) + ins + text.value.slice(end);
      text.selectionStart = text.selectionEnd = start + ins.length;
      text.focus();
      schedule();
    });
  });

  var timer = null, inflight = null;
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  function cell(tr, v, field) {
    var td = document.createElement("td");
    td.textContent = v;
    if (field) {
      td.dataset.field = field;
    }
    tr.appendChild(td);
  }
  function refresh() {
    if (inflight) {
      inflight.abort();
    }
    inflight = new AbortController();
    var body = new URLSearchParams(new FormData(form));
    body.delete("op");
    fetch(form.dataset.preview, { method: "POST", body: body, signal: inflight.signal, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function (e) {
        if (e.name !== "AbortError") {
          showError("Preview failed: " + e.message);
        }
      });
  }
  function showError(msg) {
    var el = document.getElementById("review-error");
    el.textContent = msg || "";
    el.hidden = !msg;
  }
  function show(rv) {
    showError(rv.error);
    if (rv.summary) {
      var s = rv.summary, f = { rows: s.rows, valid: rv.valid, rejected: s.rejected, duplicates: s.duplicates,
        suppressed: s.suppressed, sms: rv.sms || "", cost: rv.cost || "type a price per segment" };
      Object.keys(f).forEach(function (k) {
        var el = document.querySelector('#summary [data-field="' + k + '"]');
        if (el) {
          el.textContent = f[k];
        }
      });
    }
    document.getElementById("preview-none").hidden = !rv.no_message;
    var tbody = document.querySelector("#preview tbody");
    tbody.replaceChildren();
    (rv.preview || []).forEach(function (p) {
      var tr = document.createElement("tr");
      cell(tr, p.row); cell(tr, p.channel); cell(tr, p.identity); cell(tr, p.encoding, "encoding");
      cell(tr, p.segments, "segments"); cell(tr, p.characters); cell(tr, p.text);
      tr.lastChild.className = "text";
      tbody.appendChild(tr);
    });
    var rej = document.querySelector("#rejects tbody");
    rej.replaceChildren();
    (rv.rejects || []).forEach(function (p) {
      var tr = document.createElement("tr");
      cell(tr, p.row); cell(tr, p.column); cell(tr, p.reason);
      rej.appendChild(tr);
    });
    var link = document.getElementById("rejects-csv");
    var q = new URLSearchParams(new FormData(form));
    ["csrf_token", "launch_key", "test_to", "op"].forEach(function (k) { q.delete(k); });
    link.href = link.pathname + "?" + q.toString();
  }
  // The test campaign's counts follow its send until it is done.
  var test = document.getElementById("test-result");
  function pollTest() {
    fetch(test.dataset.status, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) {
          return;
        }
        ["state", "pending", "sent", "failed"].forEach(function (k) {
          var el = test.querySelector('[data-field="test-' + k + '"]');
          if (el) {
            el.textContent = c[k];
          }
        });
        if (c.pending > 0) {
          setTimeout(pollTest, 1000);
        }
      });
  }
  if (test && test.querySelector('[data-field="test-pending"]')) {
    pollTest();
  }

  form.addEventListener("input", function (ev) {
    if (ev.target.name !== "test_to") {
      schedule();
    }
  });
  form.addEventListener("change", schedule);
  // A launch is sent once: the second click waits for the first's answer.
  form.addEventListener("submit", function (ev) {
    if (ev.submitter && ev.submitter.value === "launch") {
      if (form.dataset.launching) {
        ev.preventDefault();
        return;
      }
      form.dataset.launching = "1";
    }
  });
})();

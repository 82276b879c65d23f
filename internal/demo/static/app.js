// The demo page checks the service's health, logs in with the demo
// credentials and lists the first items, as a small single-page app does.
(function () {
  "use strict";
  var status = document.getElementById("status");
  var tbody = document.querySelector("#items tbody");

  function show(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "bad";
  }

  function row(item) {
    var tr = document.createElement("tr");
    [item.id, item.name, item.category].forEach(function (v) {
      var td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    var price = document.createElement("td");
    price.className = "price";
    price.textContent = item.price.toFixed(2);
    tr.appendChild(price);
    return tr;
  }

  fetch("/health")
    .then(function (r) { if (!r.ok) throw new Error("health " + r.status); return r.json(); })
    .then(function (h) {
      show("Service " + h.status + ", up " + h.uptime_s + " s", true);
      return fetch("/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: "demo", password: "demo" })
      });
    })
    .then(function (r) { if (!r.ok) throw new Error("login " + r.status); return r.json(); })
    .then(function (tok) {
      return fetch("/api/items?limit=10", { headers: { Authorization: "Bearer " + tok.token } });
    })
    .then(function (r) { if (!r.ok) throw new Error("items " + r.status); return r.json(); })
    .then(function (page) { page.items.forEach(function (it) { tbody.appendChild(row(it)); }); })
    .catch(function (err) { show("Error: " + err.message, false); });
})();

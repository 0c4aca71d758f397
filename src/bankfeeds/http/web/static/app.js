// bankfeeds UI behaviour: dialogs, tabs, toasts and small form helpers. Hand-written, no build step.
(function () {
  "use strict";
  var opener = null;
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }

  // ---- notifications -------------------------------------------------------------------------
  function toast(message, level) {
    var box = document.getElementById("toasts");
    var item = document.createElement("div");
    item.className = "toast " + (level || "success");
    item.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button"; close.className = "icon-btn"; close.textContent = "✕";
    close.setAttribute("aria-label", "Dismiss notification");
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(text); item.appendChild(close);
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, level === "error" ? 12000 : 6000);
  }
  document.body.addEventListener("toast", function (e) { toast(e.detail.message, e.detail.level); });
  document.body.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (!xhr.getResponseHeader("HX-Trigger") && !xhr.getResponseHeader("HX-Redirect")) {
      toast("The request failed (" + xhr.status + "). Try again.", "error");
    }
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached.", "error");
  });

  // ---- dialogs -------------------------------------------------------------------------------
  function openDialog(dialog) {
    dialog.addEventListener("close", function () {
      var slot = document.getElementById("dialog-slot");
      if (slot.contains(dialog)) { slot.innerHTML = ""; }
      if (opener && document.contains(opener)) { opener.focus(); }
    });
    dialog.showModal();
    var first = dialog.querySelector("input:not([type=hidden]):not([disabled]), select, textarea, button:not(.icon-btn)");
    if (first) { first.focus(); }
  }
  function openDialogEl() { return document.querySelector("dialog[open]"); }
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    if (e.detail.target && e.detail.target.id === "dialog-slot") { opener = e.detail.elt; }
  });
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target.id === "dialog-slot") {
      var dialog = e.detail.target.querySelector("dialog");
      if (dialog) { openDialog(dialog); }
    }
    if (e.detail.target.id === "form-errors") { markErrors(e.detail.target.closest("form")); }
    initTypeSections(document);
  });
  document.body.addEventListener("close-dialog", function () {
    var d = openDialogEl(); if (d) { d.close(); }
  });
  document.addEventListener("click", function (e) {
    var closer = e.target.closest("[data-close]");
    if (closer) { var d = closer.closest("dialog"); if (d) { d.close(); } }
  });
  // Keep Tab and Shift+Tab inside the open dialog (showModal makes the page inert; this wraps).
  document.addEventListener("keydown", function (e) {
    var d = openDialogEl();
    if (!d || e.key !== "Tab") { return; }
    var items = Array.prototype.filter.call(d.querySelectorAll(FOCUSABLE), visible);
    if (!items.length) { return; }
    var first = items[0], last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
    else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
  });

  // ---- cards ---------------------------------------------------------------------------------
  document.body.addEventListener("refresh-card", function (e) {
    var id = e.detail.id, card = document.getElementById("card-" + id);
    if (card) { htmx.ajax("GET", "/ui/connectors/" + id + "/card", { target: card, swap: "outerHTML" }); }
  });
  document.addEventListener("click", function (e) {
    var tab = e.target.closest("[data-status]");
    if (!tab) { return; }
    var input = document.getElementById("f-status-filter");
    input.value = tab.getAttribute("data-status");
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // ---- tabs (dialog) -------------------------------------------------------------------------
  function selectTab(tab) {
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) { panel.hidden = !on; }
    });
  }
  document.addEventListener("click", function (e) {
    var tab = e.target.closest("[data-tabs] [role=tab]");
    if (tab) { selectTab(tab); }
  });
  document.addEventListener("keydown", function (e) {
    var tab = e.target.closest && e.target.closest("[data-tabs] [role=tab]");
    if (!tab || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) { return; }
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]"));
    var next = tabs[(tabs.indexOf(tab) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    selectTab(next); next.focus(); e.preventDefault();
  });
  function markErrors(form) {
    if (!form) { return; }
    var firstTab = null;
    form.querySelectorAll("[role=tab]").forEach(function (t) { t.classList.remove("has-error"); });
    form.querySelectorAll(".field-error").forEach(function (slot) {
      var field = slot.closest(".field");
      var control = field && field.querySelector("input, select, textarea");
      var bad = slot.textContent.trim() !== "";
      if (control) { control.setAttribute("aria-invalid", bad ? "true" : "false"); }
      var panel = slot.closest("[role=tabpanel]");
      if (bad && panel) {
        var t = form.querySelector("[aria-controls=" + panel.id + "]");
        t.classList.add("has-error");
        if (!firstTab) { firstTab = t; }
      }
    });
    if (firstTab) { selectTab(firstTab); }
  }

  // ---- connector form helpers ----------------------------------------------------------------
  function toggle(section, on) {
    section.hidden = !on;
    section.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !on; });
  }
  function initTypeSections(root) {
    var typeSel = root.querySelector("[data-type-select]") || root.querySelector("input[type=hidden][name=type]");
    var form = typeSel && typeSel.closest("form");
    if (!form) { return; }
    form.querySelectorAll("[data-type-section]").forEach(function (s) {
      toggle(s, s.getAttribute("data-type-section") === typeSel.value);
    });
    var method = form.querySelector("[data-auth-method]:checked");
    if (method && !method.disabled) {
      form.querySelectorAll("[data-auth]").forEach(function (s) {
        toggle(s, s.getAttribute("data-auth") === method.value);
      });
    }
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches("[data-type-select], [data-auth-method]")) { initTypeSections(t.closest("form")); }
    if (t.matches("[data-login-method]")) {
      document.querySelectorAll("[data-login]").forEach(function (s) { s.hidden = s.getAttribute("data-login") !== t.value; });
    }
    if (t.matches("[data-provider-select]")) {
      var patterns = JSON.parse(t.getAttribute("data-patterns"));
      var input = t.closest("form").querySelector("[data-pattern-input]");
      var known = Object.keys(patterns).map(function (k) { return patterns[k]; });
      if (input && (input.value === "" || known.indexOf(input.value) >= 0)) { input.value = patterns[t.value] || ""; }
    }
    if (t.matches("[data-key-upload]") && t.files && t.files[0]) {
      var reader = new FileReader(), area = document.querySelector(t.getAttribute("data-key-upload"));
      reader.onload = function () { area.value = reader.result; };
      reader.readAsText(t.files[0]);
    }
  });
  document.addEventListener("click", function (e) {
    var preset = e.target.closest("[data-preset]");
    if (!preset) { return; }
    var input = document.getElementById("f-schedule");
    input.value = preset.getAttribute("data-preset");
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
})();

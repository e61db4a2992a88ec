/* leadqual browser app: small enhancements on top of server-rendered forms (each works without this file).
 *
 * - Lead list (managers): "select all on this page" ticks every row, the bar counts the ticked rows.
 * - Board: a lost or disqualified target stage shows and requires the reason field; a card dragged to
 *   another column fills its Move form with that stage and submits it (htmx swaps the board), or opens
 *   the form at the reason field when that stage needs one.
 *
 * Loaded from our own origin with `defer` (CSP script-src 'self'); listeners sit on the document, so
 * content htmx swaps in later is covered without re-binding.
 */
(function () {
  "use strict";

  // --- bulk selection on the lead list ----------------------------------------------------------

  function bulkForm(el) {
    return el && el.closest ? el.closest("form.bulk") : null;
  }

  function updateSelection(form) {
    if (!form) return;
    var boxes = form.querySelectorAll('input[type="checkbox"][name="lead"]');
    var all = form.querySelector("input[data-select-all]");
    var ticked = 0;
    boxes.forEach(function (box) { if (box.checked) ticked += 1; });
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var counter = form.querySelector("[data-selected-count]");
    if (counter) counter.textContent = ticked ? (counter.getAttribute("data-template") || "{n}").replace("{n}", ticked) : "";
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = bulkForm(target);
    if (form && target.matches("input[data-select-all]")) {
      form.querySelectorAll('input[type="checkbox"][name="lead"]').forEach(function (box) {
        box.checked = target.checked;
      });
      updateSelection(form);
    } else if (form && target.matches('input[type="checkbox"][name="lead"]')) {
      updateSelection(form);
    }
    if (target.matches(".move-form select[name=stage]")) {
      syncReason(target.form);
    }
  });

  // --- the board: reason field and drag and drop ------------------------------------------------

  function stageNeedsReason(form) {
    var select = form.querySelector("select[name=stage]");
    var option = select && select.options[select.selectedIndex];
    return Boolean(option && option.hasAttribute("data-needs-reason"));
  }

  function syncReason(form) {
    if (!form) return;
    var needs = stageNeedsReason(form);
    form.classList.toggle("needs-reason", needs);
    var reason = form.querySelector("input[name=reason]");
    if (reason) reason.required = needs;
  }

  function cardOf(el) {
    return el && el.closest ? el.closest("article.deal[draggable=true]") : null;
  }

  function columnOf(el) {
    return el && el.closest ? el.closest(".column[data-stage]") : null;
  }

  var dragged = null;

  document.addEventListener("dragstart", function (event) {
    var card = cardOf(event.target);
    if (!card) return;
    dragged = card;
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-lead"));
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    dragged = null;
    document.querySelectorAll(".column.is-drop-target").forEach(function (c) { c.classList.remove("is-drop-target"); });
  });

  document.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!dragged || !column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    document.querySelectorAll(".column.is-drop-target").forEach(function (c) {
      if (c !== column) c.classList.remove("is-drop-target");
    });
    column.classList.add("is-drop-target");
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    var card = dragged;
    if (!card || !column) return;
    event.preventDefault();
    column.classList.remove("is-drop-target");
    var form = card.querySelector("form.move-form");
    var select = form && form.querySelector("select[name=stage]");
    if (!select) return;
    var stage = column.getAttribute("data-stage");
    if (select.value === stage) return;
    select.value = stage;
    syncReason(form);
    var reason = form.querySelector("input[name=reason]");
    if (stageNeedsReason(form) && reason && !reason.value.trim()) {
      // The lost reason is required: open the card's form at the field instead of moving.
      var details = card.querySelector("details.move");
      if (details) details.open = true;
      reason.focus();
      return;
    }
    form.requestSubmit();
  });

  document.addEventListener("toggle", function (event) {
    if (event.target.matches && event.target.matches("details.move") && event.target.open) {
      syncReason(event.target.querySelector("form.move-form"));
    }
  }, true);
})();

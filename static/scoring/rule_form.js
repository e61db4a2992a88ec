// Point rule form: offer only the operators the chosen attribute allows,
// and the window field only for engagement counts.
(function () {
  "use strict";
  function setup() {
    var attribute = document.getElementById("id_attribute");
    var operator = document.getElementById("id_operator");
    if (!attribute || !operator) return;
    var allowed = JSON.parse(attribute.dataset.operators || "{}");
    var windowed = JSON.parse(attribute.dataset.windowed || "[]");
    var windowRow = document.querySelector(".field-window_days");
    var all = Array.prototype.slice.call(operator.options).map(function (o) {
      return { value: o.value, text: o.text };
    });
    function refresh() {
      var ops = allowed[attribute.value];
      var current = operator.value;
      operator.innerHTML = "";
      all.forEach(function (o) {
        if (!o.value || !ops || ops.indexOf(o.value) !== -1) {
          var option = document.createElement("option");
          option.value = o.value;
          option.textContent = o.text;
          if (o.value === current) option.selected = true;
          operator.appendChild(option);
        }
      });
      if (windowRow) windowRow.hidden = windowed.indexOf(attribute.value) === -1;
    }
    attribute.addEventListener("change", refresh);
    refresh();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();

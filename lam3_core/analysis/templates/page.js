(function () {
  "use strict";
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var examples = Array.prototype.slice.call(document.querySelectorAll("article.example"));
  var counter = document.getElementById("examples-shown");
  function has(list, value) {
    return (list || "").split(" ").indexOf(value) >= 0;
  }
  function apply() {
    var wanted = {};
    selects.forEach(function (select) { wanted[select.getAttribute("data-filter")] = select.value; });
    var shown = 0;
    examples.forEach(function (example) {
      var ok = (!wanted.attack || example.getAttribute("data-attack") === wanted.attack) &&
        (!wanted.category || example.getAttribute("data-category") === wanted.category) &&
        (!wanted.judge || has(example.getAttribute("data-judges"), wanted.judge)) &&
        (!wanted.kind || has(example.getAttribute("data-kinds"), wanted.kind));
      example.hidden = !ok;
      if (ok) { shown += 1; }
    });
    if (counter) { counter.textContent = String(shown); }
  }
  selects.forEach(function (select) { select.addEventListener("change", apply); });
  apply();
  document.body.setAttribute("data-filters-ready", "yes");
})();

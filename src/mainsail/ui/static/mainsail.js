// Mainsail UI: draws the charts whose specs the server embedded as JSON (<script type="application/json">),
// and the ones htmx swaps in. Plotly is loaded (once) only on pages with charts.
(function () {
  "use strict";
  var CONFIG = {responsive: true, displaylogo: false, displayModeBar: false};

  function plot(el, spec) {
    var layout = Object.assign({margin: {l: 60, r: 20, t: 40, b: 50}, autosize: true,
                                font: {color: "#1b1f24"}, paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff"},
                               spec.layout || {});
    Plotly.newPlot(el, spec.data, layout, CONFIG);
  }

  function draw(root) {
    if (typeof Plotly === "undefined") { return; }
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      var src = document.getElementById(el.dataset.chart);
      if (!src) { return; }
      var spec = JSON.parse(src.textContent);
      el.dataset.drawn = "1";
      plot(el, spec);
    });
  }

  window.addEventListener("load", function () { draw(document); });
  document.addEventListener("htmx:after:swap", function (e) { draw(e.target); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  // the compare form: the button counts the runs ticked in the table
  document.addEventListener("change", function (e) {
    var form = e.target.form;
    if (!form || !form.matches("[data-compare]")) { return; }
    var n = Array.prototype.filter.call(form.elements, function (el) { return el.name === "run" && el.checked; }).length;
    var btn = form.querySelector("button[data-compare-button]");
    if (btn) { btn.textContent = "Compare " + n + " selected"; }
  });
})();

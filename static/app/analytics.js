/* The analytics page's charts: reads the figures json_script put in the page and draws them with Chart.js.
 *
 * The tables beside each chart hold the same numbers, so without Chart.js (npm not run) or without
 * JavaScript the page loses nothing but the pictures: the chart figures stay hidden.
 * CSP allows only script-src 'self': no inline scripts or styles, nothing evaluated.
 */
(function () {
  "use strict";

  var source = document.getElementById("analytics-data");
  if (!source) {
    return;
  }
  var data = JSON.parse(source.textContent);

  // A changed filter applies itself; the Show button stays for keyboards and no-JS use.
  var form = document.querySelector("form.an-filters");
  if (form) {
    form.addEventListener("change", function () {
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        form.submit();
      }
    });
  }

  var Chart = window.Chart;
  if (typeof Chart === "undefined") {
    return;
  }

  var css = window.getComputedStyle(document.documentElement);
  function cssVar(name, fallback) {
    var value = css.getPropertyValue(name).trim();
    return value || fallback;
  }
  var colors = {
    primary: cssVar("--primary", "#2f5bd3"),
    muted: cssVar("--muted", "#667085"),
    line: cssVar("--line", "#e3e6eb"),
    text: cssVar("--text", "#1d2430"),
    bands: { A: cssVar("--a", "#067647"), B: cssVar("--b", "#2f5bd3"), C: cssVar("--c", "#b54708"), D: cssVar("--d", "#667085") },
  };
  var text = data.text;
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = colors.muted;
  Chart.defaults.borderColor = colors.line;

  function bandColor(band) {
    return colors.bands[(band || "").toUpperCase()] || colors.primary;
  }

  // A bar over too few closed leads is drawn pale: 1 won of 1 closed is not a 100% source.
  function pale(color) {
    return color + "55";
  }

  function wonLabel(won, closed) {
    if (!closed) {
      return text.noClosed;
    }
    var label = text.wonOf.replace("{won}", won).replace("{closed}", closed);
    return closed < data.smallSample ? label + " (" + text.smallSample + ")" : label;
  }

  function show(canvasId, config) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) {
      return null;
    }
    var figure = canvas.closest("figure");
    if (figure) {
      figure.hidden = false; // before drawing: a hidden box has no size to draw into
    }
    config.options = Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : { duration: 400 },
        plugins: { legend: { display: false } },
      },
      config.options || {}
    );
    return new Chart(canvas, config);
  }

  function countAxis() {
    return { beginAtZero: true, ticks: { precision: 0 } };
  }

  function percentAxis() {
    return {
      min: 0,
      max: 100,
      ticks: {
        callback: function (value) {
          return value + "%";
        },
      },
    };
  }

  function wonRateChart(canvasId, series, barColors) {
    var backgrounds = series.closed.map(function (closed, i) {
      var color = barColors[i];
      return closed < data.smallSample ? pale(color) : color;
    });
    return show(canvasId, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [{ label: text.wonRate, data: series.wonRate, backgroundColor: backgrounds, borderColor: barColors, borderWidth: 1 }],
      },
      options: {
        scales: { y: percentAxis() },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                var i = item.dataIndex;
                var rate = series.wonRate[i];
                var head = rate === null ? "—" : rate + "%";
                return head + ": " + wonLabel(series.won[i], series.closed[i]);
              },
            },
          },
        },
      },
    });
  }

  var sources = data.sources;
  if (sources.labels.length) {
    show("chart-source-leads", {
      type: "bar",
      data: { labels: sources.labels, datasets: [{ label: text.leads, data: sources.leads, backgroundColor: colors.primary }] },
      options: { scales: { y: countAxis() } },
    });
    wonRateChart(
      "chart-source-won",
      sources,
      sources.labels.map(function () {
        return colors.primary;
      })
    );
  }

  var bands = data.bands;
  if (bands.labels.length) {
    wonRateChart("chart-band-won", bands, bands.bands.map(bandColor));
  }

  var distribution = data.distribution;
  if (distribution.labels.length) {
    show("chart-distribution", {
      type: "bar",
      data: {
        labels: distribution.labels,
        datasets: [
          {
            label: text.leads,
            data: distribution.leads,
            backgroundColor: distribution.bands.map(bandColor),
            barPercentage: 1,
            categoryPercentage: 0.95,
          },
        ],
      },
      options: {
        scales: { x: { title: { display: true, text: text.score } }, y: countAxis() },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: function (item) {
                var band = distribution.bands[item.dataIndex];
                return band ? text.band + " " + band : "";
              },
            },
          },
        },
      },
    });
  }
})();

/* Draws the dashboard's charts from the JSON the page embeds (json_script).
   The tables hold every number; the charts only picture them. When done, sets
   <html data-charts="drawn"> ("unavailable" when Chart.js is not loaded). */
(function () {
  "use strict";

  var root = document.documentElement;
  var source = document.getElementById("dashboard-data");
  if (!source) return;
  if (typeof window.Chart === "undefined") {
    root.dataset.charts = "unavailable";
    return;
  }
  var data = JSON.parse(source.textContent);
  var accent = "#2f6f9f";
  var accentSoft = "rgba(47, 111, 159, 0.25)";
  var grey = "#9aa5b1";
  var Chart = window.Chart;

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#616e7c";
  Chart.defaults.animation = false; // drawn at once: nothing moves on a report
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  function ratio(value) {
    if (value === null || value === undefined) return "—";
    return Number(value).toPrecision(3).replace(/\.?0+$/, "");
  }
  function usd(value) {
    if (value === null || value === undefined) return "—";
    return "$" + Number(value).toLocaleString("en-US", { maximumFractionDigits: value >= 1000 ? 0 : 2 });
  }
  // As the tables write it (dashboard_format.spend): a null cost with unpriced
  // records is unknown, not $0.
  function spend(value, unpriced) {
    if (!unpriced) return usd(value);
    if (value === null || value === undefined) return "unknown (" + unpriced + " unpriced)";
    return usd(value) + " + " + unpriced + " unpriced";
  }
  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function day(iso) {
    var parts = iso.split("-");
    return Number(parts[2]) + " " + months[Number(parts[1]) - 1];
  }
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return null;
    var chart = new Chart(canvas, config);
    canvas.dataset.drawn = "true";
    return chart;
  }

  // The AWUs-per-dollar line, on its own left axis, over bars of another measure
  // on the right (the spend-decile curve and the weekly trend).
  function rateLine(values) {
    return {
      type: "line",
      label: "AWUs per $",
      data: values,
      borderColor: accent,
      backgroundColor: accent,
      spanGaps: true,
      tension: 0.25,
      yAxisID: "rate",
    };
  }
  function barsOn(axis, label, values) {
    return { type: "bar", label: label, data: values, backgroundColor: accentSoft, yAxisID: axis };
  }
  function rateAxis() {
    return { position: "left", beginAtZero: true, title: { display: true, text: "AWUs per $" } };
  }

  var charts = [];

  if (data.teams.length) {
    var box = document.getElementById("chart-teams");
    if (box) box.parentNode.style.height = Math.min(520, 60 + 28 * data.teams.length) + "px";
    charts.push(draw("chart-teams", {
      type: "bar",
      data: {
        labels: data.teams.map(function (t) { return t.label; }),
        datasets: [{
          label: "AWUs per $",
          data: data.teams.map(function (t) { return t.awus_per_dollar; }),
          backgroundColor: accent,
          borderRadius: 3,
        }],
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) {
            var t = data.teams[c.dataIndex];
            return ratio(t.awus_per_dollar) + " AWUs per $ (" + ratio(t.awus_completed) + " AWUs, " + spend(t.token_cost_usd, t.unpriced_records) + ")";
          } } },
        },
        scales: { x: { beginAtZero: true, title: { display: true, text: "AWUs per $" } } },
      },
    }));
  }

  var deciles = data.deciles.filter(function (d) { return d.people > 0; });
  if (deciles.length) {
    charts.push(draw("chart-deciles", {
      data: {
        labels: deciles.map(function (d) { return String(d.decile); }),
        datasets: [
          rateLine(deciles.map(function (d) { return d.awus_per_dollar; })),
          barsOn("spend", "Spend", deciles.map(function (d) { return d.token_cost_usd; })),
        ],
      },
      options: {
        plugins: { tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + ": " + (c.dataset.yAxisID === "spend" ? usd(c.raw) : ratio(c.raw));
        } } } },
        scales: {
          x: { title: { display: true, text: "Spend decile (1 = least)" } },
          rate: rateAxis(),
          spend: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                   ticks: { callback: function (v) { return usd(v); } } },
        },
      },
    }));
  }

  charts.push(draw("chart-durability", {
    type: "bar",
    data: {
      labels: data.durability.map(function (d) { return d.label; }),
      datasets: [{
        label: "Durability",
        data: data.durability.map(function (d) { return d.durability === null ? null : d.durability * 100; }),
        backgroundColor: [accent, grey],
        borderRadius: 3,
      }],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (c) {
        return c.raw === null ? "no completed or voided work" : c.raw.toFixed(1) + "% stayed done";
      } } } },
      scales: { x: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } } },
    },
  }));

  charts.push(draw("chart-trend", {
    data: {
      labels: data.trend.map(function (t) { return day(t.period); }),
      datasets: [
        rateLine(data.trend.map(function (t) { return t.awus_per_dollar; })),
        barsOn("awus", "AWUs completed", data.trend.map(function (t) { return t.awus_completed; })),
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "Week of" } },
        rate: rateAxis(),
        awus: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                title: { display: true, text: "AWUs" } },
      },
    },
  }));

  root.dataset.charts = "drawn";
  root.dataset.chartCount = String(charts.filter(Boolean).length);
})();

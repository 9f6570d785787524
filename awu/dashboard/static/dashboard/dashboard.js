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

  // Low-sample groups are drawn but never scale the axis: one contract on cents of
  // spend would otherwise squash every real team into a sliver.
  function axisMax(rows, field) {
    var values = rows.filter(function (r) { return !r.low_sample && r[field] !== null; })
      .map(function (r) { return r[field]; });
    if (!values.length) return undefined;
    var top = Math.max.apply(null, values);
    return top > 0 ? top * 1.1 : undefined;
  }

  if (data.teams.length) {
    var box = document.getElementById("chart-teams");
    if (box) box.parentNode.style.height = Math.min(520, 80 + 28 * data.teams.length) + "px";
    // What the maturing units would add per dollar, at the historical durability:
    // drawn after the settled bar, in grey, and named a projection.
    var teams = data.teams.map(function (t) {
      var extra = t.projected_awus && t.token_cost_usd ? t.projected_awus / t.token_cost_usd : null;
      return Object.assign({}, t, { projected_rate: extra,
        with_projection: (t.awus_per_dollar || 0) + (extra || 0) });
    });
    charts.push(draw("chart-teams", {
      type: "bar",
      data: {
        labels: teams.map(function (t) { return t.low_sample ? t.label + " (low sample)" : t.label; }),
        datasets: [{
          label: "AWUs per $ (completed)",
          data: teams.map(function (t) { return t.awus_per_dollar; }),
          backgroundColor: teams.map(function (t) { return t.low_sample ? grey : accent; }),
          borderRadius: 3,
          stack: "rate",
        }, {
          label: "+ projected from maturing units",
          data: teams.map(function (t) { return t.projected_rate; }),
          backgroundColor: "rgba(97, 110, 124, 0.22)",
          borderColor: "#616e7c",
          borderWidth: 1,
          borderDash: [4, 3],
          stack: "rate",
        }],
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: true },
          tooltip: { callbacks: { label: function (c) {
            var t = teams[c.dataIndex];
            if (c.datasetIndex === 1) {
              return "≈ " + ratio(t.projected_awus) + " AWUs projected from maturing units (a projection)";
            }
            var text = ratio(t.awus_per_dollar) + " AWUs per $ (" + ratio(t.awus_completed) + " AWUs, " + spend(t.token_cost_usd, t.unpriced_records) + ")";
            return t.low_sample ? text + " — low sample" : text;
          } } },
        },
        scales: {
          x: { stacked: true, beginAtZero: true, max: axisMax(teams, "with_projection"),
               title: { display: true, text: "AWUs per $" } },
          y: { stacked: true },
        },
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

  // The trend: a week whose units are still maturing is not final. It is shaded,
  // its AWUs per $ is left off the settled line (it would read as a decline) and
  // drawn dashed at (completed + projected) / spend, labelled a projection.
  var trend = data.trend;
  function provisional(t) { return t.settles_by !== null; }
  var projectedRate = trend.map(function (t, i) {
    var next = trend[i + 1];
    var shown = provisional(t) || (next && provisional(next));
    if (!shown || !t.token_cost_usd) return null;
    return ((t.awus_completed || 0) + (provisional(t) ? (t.projected_awus || 0) : 0)) / t.token_cost_usd;
  });
  var shading = {
    id: "provisionalWeeks",
    beforeDatasetsDraw: function (chart) {
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      var step = trend.length > 1 ? x.getPixelForValue(1) - x.getPixelForValue(0) : area.right - area.left;
      ctx.save();
      chart.canvas.dataset.shadedWeeks = String(trend.filter(provisional).length);
      trend.forEach(function (t, i) {
        if (!provisional(t)) return;
        var centre = x.getPixelForValue(i);
        ctx.fillStyle = "rgba(97, 110, 124, 0.14)";
        ctx.fillRect(centre - step / 2, area.top, step, area.bottom - area.top);
      });
      ctx.fillStyle = "#3e4c59";
      ctx.font = "12px " + Chart.defaults.font.family;
      var first = trend.findIndex(provisional);
      if (first >= 0) ctx.fillText("not final", x.getPixelForValue(first) - step / 2 + 4, area.top + 12);
      // Rule changes: a dotted line on the week they were published in (several
      // in one week share a line and say how many).
      var changes = {};
      (data.markers || []).forEach(function (m) {
        var index = -1;
        trend.forEach(function (t, i) { if (t.period <= m.day) index = i; });
        if (index >= 0) (changes[index] = changes[index] || []).push(m.label);
      });
      Object.keys(changes).forEach(function (index) {
        var labels = changes[index];
        var at = x.getPixelForValue(Number(index));
        ctx.strokeStyle = "#7b5e00";
        ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(at, area.top); ctx.lineTo(at, area.bottom); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#7b5e00";
        var text = labels.length === 1 ? labels[0] : labels.length + " rule changes";
        var width = ctx.measureText(text).width;
        ctx.fillText(text, Math.min(at + 3, area.right - width - 2), area.top + 26);
      });
      chart.canvas.dataset.markers = String(Object.keys(changes).length);
      ctx.restore();
    },
  };
  var settledLine = rateLine(trend.map(function (t) { return provisional(t) ? null : t.awus_per_dollar; }));
  settledLine.label = "AWUs per $ (settled weeks)";
  settledLine.spanGaps = false;
  charts.push(draw("chart-trend", {
    data: {
      labels: trend.map(function (t) { return day(t.period); }),
      datasets: [
        settledLine,
        { type: "line", label: "AWUs per $ incl. projection (not final)", data: projectedRate,
          borderColor: "#616e7c", backgroundColor: "#616e7c", borderDash: [6, 4],
          spanGaps: false, tension: 0.25, yAxisID: "rate" },
        Object.assign(barsOn("awus", "AWUs completed", trend.map(function (t) { return t.awus_completed; })), { stack: "awus" }),
        { type: "bar", label: "Projected AWUs (maturing)", yAxisID: "awus", stack: "awus",
          data: trend.map(function (t) { return provisional(t) ? t.projected_awus : null; }),
          backgroundColor: "rgba(97, 110, 124, 0.25)", borderColor: "#616e7c", borderWidth: 1,
          borderDash: [4, 3] },
      ],
    },
    options: {
      plugins: { tooltip: { callbacks: { afterBody: function (items) {
        var t = trend[items[0].dataIndex];
        return provisional(t) ? "Not final: settles by " + t.settles_by : "Settled";
      } } } },
      scales: {
        x: { stacked: true, title: { display: true, text: "Week of" } },
        rate: rateAxis(),
        awus: { position: "right", beginAtZero: true, stacked: true, grid: { drawOnChartArea: false },
                title: { display: true, text: "AWUs" } },
      },
    },
    plugins: [shading],
  }));

  root.dataset.charts = "drawn";
  root.dataset.chartCount = String(charts.filter(Boolean).length);
})();

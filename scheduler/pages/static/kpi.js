// The KPI dashboard's charts (/kpi): Chart.js (vendored, /static/vendor/) over the data in
// <script type="application/json" id="kpi-chart-data">, one chart per canvas[data-chart].
// Rate charts are horizontal bars (labels stay readable on a phone), the first `top` shown
// until the 顯示全部 button; every chart's figures are also in the table below it.
(function () {
  "use strict";
  var BLUE = "#2f6fc4", LIGHT = "#a9bedf", ORANGE = "#c45a1c", INK = "#1d2733";
  var BAR = 34; // px per horizontal bar, labels of up to two lines included
  var block = document.getElementById("kpi-chart-data");
  if (!block || !window.Chart) return;
  var specs = JSON.parse(block.textContent);
  Chart.defaults.font.family = '"Noto Sans TC","PingFang TC","Microsoft JhengHei",sans-serif';
  Chart.defaults.font.size = 13;
  Chart.defaults.color = INK;

  // A label cut into at most two even lines of up to `width` characters (CJK text has
  // no spaces); a longer one ends in … (the table below has it whole).
  function lines(text, width) {
    if (text.length <= width) return text;
    if (text.length > 2 * width) return [text.slice(0, width), text.slice(width, 2 * width - 1) + "…"];
    var half = Math.ceil(text.length / 2);
    return [text.slice(0, half), text.slice(half)];
  }

  function percent(value) {
    return value === null || value === undefined ? "無資料" : value + "%";
  }

  // Each bar's value (or 無資料) written at its end.
  var barValues = {
    id: "barValues",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, meta = chart.getDatasetMeta(0), data = chart.data.datasets[0].data;
      ctx.save();
      ctx.font = "12px " + Chart.defaults.font.family;
      ctx.textBaseline = "middle";
      meta.data.forEach(function (bar, i) {
        var text = percent(data[i]), width = ctx.measureText(text).width;
        var inside = bar.x + width + 6 > chart.chartArea.right;
        ctx.fillStyle = data[i] === null ? "#5b6877" : inside ? "#fff" : INK;
        ctx.textAlign = inside ? "right" : "left";
        var x = data[i] === null ? chart.chartArea.left + 4 : inside ? bar.x - 4 : bar.x + 4;
        ctx.fillText(text, x, bar.y);
      });
      ctx.restore();
    },
  };

  function rateChart(canvas, spec, count) {
    var box = canvas.parentNode;
    box.style.height = count * BAR + 48 + "px";
    var width = Math.max(6, Math.floor((box.clientWidth * 0.42) / 14));
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels.slice(0, count),
        datasets: [{
          label: spec.datasets[0].label,
          data: spec.datasets[0].data.slice(0, count),
          backgroundColor: BLUE,
          barThickness: 18,
        }],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { right: 8 } },
        scales: {
          x: { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } },
          y: {
            ticks: {
              autoSkip: false,
              font: { size: 13 },
              callback: function (value) { return lines(this.getLabelForValue(value), width); },
            },
          },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) { return percent(c.raw); } } },
        },
      },
      plugins: [barValues],
    });
  }

  function trendChart(canvas, spec) {
    canvas.parentNode.style.height = "300px";
    var colours = [LIGHT, BLUE, ORANGE];
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d, i) {
          var line = d.type === "line";
          return {
            type: d.type, label: d.label, data: d.data, yAxisID: line ? "y2" : "y",
            backgroundColor: colours[i], borderColor: colours[i], order: line ? 0 : 1,
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { ticks: { maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "會議次數" } },
          y2: {
            beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
            ticks: { precision: 0 }, title: { display: true, text: "個案研討次數" },
          },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  // 顯示全部 ⇄ 只顯示前 N 項: the chart's labels and bars, and the box's height.
  function toggle(button, chart, spec) {
    var all = button.getAttribute("aria-pressed") !== "true";
    var count = all ? spec.labels.length : spec.top;
    chart.data.labels = spec.labels.slice(0, count);
    chart.data.datasets[0].data = spec.datasets[0].data.slice(0, count);
    chart.canvas.parentNode.style.height = count * BAR + 48 + "px";
    chart.resize();
    chart.update();
    button.setAttribute("aria-pressed", all ? "true" : "false");
    button.textContent = all
      ? "只顯示前 " + spec.top + " 項"
      : "顯示全部（共 " + spec.labels.length + " 項）";
  }

  specs.forEach(function (spec) {
    var canvas = document.querySelector('canvas[data-chart="' + spec.key + '"]');
    if (!canvas) return;
    if (spec.kind !== "rates") {
      trendChart(canvas, spec);
      return;
    }
    var chart = rateChart(canvas, spec, Math.min(spec.top, spec.labels.length));
    var button = document.querySelector('button[data-toggle="' + spec.key + '"]');
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () { toggle(button, chart, spec); });
    }
  });
})();

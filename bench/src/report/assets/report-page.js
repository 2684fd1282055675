// Draws the report's charts with uPlot from the data inlined in the page (script#report-data). Runs offline: it
// requests nothing. Every chart container gets data-drawn="1" once drawn, or data-error with the reason.
(function () {
  'use strict';
  var dataEl = document.getElementById('report-data');
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var charts = [];
  var BAND_FILL = ['rgba(11, 92, 173, 0.055)', 'rgba(11, 92, 173, 0.0)'];

  function fmtNum(v) {
    if (v == null || !isFinite(v)) return '';
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
    if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
    if (a === 0) return '0';
    return v.toPrecision(2);
  }
  // Seconds since the run started: "12s", "1:05"; with a tick step under a second, one decimal ("1.5s").
  function fmtTime(s, incr) {
    if (s == null || !isFinite(s)) return '';
    if (incr != null && incr < 1 && s < 60) return s.toFixed(incr < 0.1 ? 2 : 1) + 's';
    var m = Math.floor(s / 60), r = Math.round(s - m * 60);
    if (r === 60) { m += 1; r = 0; }
    return m > 0 ? m + ':' + (r < 10 ? '0' : '') + r : r + 's';
  }
  function fmtPercentile(x) {
    if (x == null || !isFinite(x) || x < 1) return '';
    var p = 100 * (1 - 1 / x);
    if (p <= 0) return 'p0';
    var digits = Math.max(0, Math.ceil(Math.log10(x)) - 2);
    var s = p.toFixed(digits);
    if (s === '100' || Number(s) >= 100) s = p.toFixed(digits + 2);
    if (s.indexOf('.') >= 0) s = s.replace(/0+$/, '').replace(/\.$/, '');
    return 'p' + s;
  }

  function bandsHook(spec) {
    return function (u) {
      if (!spec.bands || spec.bands.length === 0) return;
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.font = Math.round(11 * devicePixelRatio) + 'px system-ui, sans-serif';
      ctx.textBaseline = 'top';
      spec.bands.forEach(function (b, i) {
        var x0 = Math.max(u.bbox.left, u.valToPos(b.from, 'x', true));
        var x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(b.to, 'x', true));
        if (!(x1 > x0)) return;
        ctx.fillStyle = BAND_FILL[i % 2];
        ctx.fillRect(x0, top, x1 - x0, h);
        ctx.strokeStyle = 'rgba(95, 107, 122, 0.45)';
        ctx.lineWidth = devicePixelRatio;
        ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(Math.round(x0) + 0.5, top);
        ctx.lineTo(Math.round(x0) + 0.5, top + h);
        ctx.stroke();
        ctx.fillStyle = 'rgba(60, 70, 85, 0.85)';
        var label = b.label;
        var room = x1 - x0 - 8 * devicePixelRatio;
        while (label.length > 1 && ctx.measureText(label).width > room) label = label.slice(0, -2) + '…';
        if (room > 10 * devicePixelRatio) ctx.fillText(label, x0 + 4 * devicePixelRatio, top + 3 * devicePixelRatio);
      });
      ctx.restore();
    };
  }

  // The time axis covers every stage band, not only the seconds with data (a stage with one sample stays readable).
  function timeRange(spec, min, max) {
    var lo = min, hi = max;
    (spec.bands || []).forEach(function (b) { lo = Math.min(lo, b.from); hi = Math.max(hi, b.to); });
    if (!(hi > lo)) hi = lo + 1;
    return [Math.max(0, lo), hi];
  }

  function build(el, spec) {
    var width = Math.max(280, Math.floor(el.clientWidth || 560));
    var percentile = spec.xKind === 'percentile';
    var series = [{ label: percentile ? 'percentile' : 'time', value: function (u, v) { return percentile ? fmtPercentile(v) : fmtTime(v); } }];
    spec.series.forEach(function (s) {
      var one = {
        label: s.label,
        stroke: s.color,
        width: s.width || 1.5,
        spanGaps: !!s.sparse,
        value: function (u, v) { return v == null ? '–' : fmtNum(v); },
        // lines show their points only where they are sparse (uPlot's default), so a one-second stage is visible
        points: s.kind === 'points' ? { show: true, size: 6, fill: s.color, stroke: s.color } : { size: 5, fill: s.color, stroke: s.color },
      };
      if (s.dash) one.dash = s.dash;
      if (s.kind === 'points') { one.paths = function () { return null; }; one.points.space = 0; }
      if (s.kind === 'step') one.paths = uPlot.paths.stepped({ align: 1 });
      series.push(one);
    });
    var opts = {
      width: width,
      height: 220,
      series: series,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: percentile
          ? { time: false, distr: 3, log: 10, range: function (u, min, max) { return [1, Math.max(10, Math.pow(10, Math.ceil(Math.log10(Math.max(max, 1)))))]; } }
          : { time: false, range: function (u, min, max) { return timeRange(spec, min, max); } },
        y: spec.yLog ? { distr: 3, log: 10 } : { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.08 : 1]; } },
      },
      axes: [
        { values: function (u, splits, axisIdx, space, incr) { return splits.map(function (v) { return percentile ? fmtPercentile(v) : fmtTime(v, incr); }); }, size: 34, grid: { stroke: '#eceff3' }, ticks: { stroke: '#d9dee5' } },
        { label: spec.yLabel, labelSize: 18, size: 50, values: function (u, splits) { return splits.map(fmtNum); }, grid: { stroke: '#eceff3' }, ticks: { stroke: '#d9dee5' } },
      ],
      hooks: { drawClear: [bandsHook(spec)] },
    };
    var plot = new uPlot(opts, [spec.x].concat(spec.series.map(function (s) { return s.values; })), el);
    charts.push({ el: el, plot: plot });
    el.setAttribute('data-drawn', '1');
  }

  (data.charts || []).forEach(function (spec) {
    var el = document.querySelector('[data-chart="' + spec.id + '"]');
    if (!el) return;
    try {
      build(el, spec);
    } catch (e) {
      el.setAttribute('data-error', String(e && e.message || e));
      el.textContent = 'This chart could not be drawn: ' + (e && e.message || e);
    }
  });

  // Charts are drawn for the window's width; printing resizes them to the page's column and back.
  function fit() {
    charts.forEach(function (c) {
      var w = Math.max(280, Math.floor(c.el.clientWidth));
      if (w !== c.plot.width) c.plot.setSize({ width: w, height: 220 });
    });
  }
  window.addEventListener('beforeprint', fit);
  window.addEventListener('afterprint', fit);
  if (window.matchMedia) {
    var mq = window.matchMedia('print');
    if (mq.addEventListener) mq.addEventListener('change', fit);
  }
  var pending = null;
  window.addEventListener('resize', function () {
    if (pending) clearTimeout(pending);
    pending = setTimeout(fit, 100);
  });
  document.documentElement.setAttribute('data-charts-ready', String(charts.length));
})();

// Vision statistics dashboard. Plain JavaScript, hand-drawn SVG charts, no libraries and no
// network access beyond this server's read API (relative URLs, so a reverse-proxy prefix works).
// Refreshes are chained (the next is scheduled when the previous ends), each has a timeout and
// is aborted when a newer one starts, so the page never blocks and requests never pile up.
(function () {
  'use strict';

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const REQUEST_TIMEOUT_MS = 8000;
  const PALETTE = ['#818cf8', '#22d3ee', '#fbbf24', '#34d399', '#fb7185', '#c084fc', '#a3e635', '#f97316', '#60a5fa', '#94a3b8'];
  const MAX_DONUT_SLICES = 8;

  const state = {
    source: '',
    minDetections: 0,
    window: '1h',
    auto: true,
    intervalMs: 5000,
    controller: null,
    timer: null,
    cursor: null,
    events: [],
    selectedId: null,
    classColors: new Map(),
  };

  const $ = (id) => document.getElementById(id);
  const fmtInt = new Intl.NumberFormat('en-US');
  const fmtMs = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

  // ---------- helpers ----------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else node.setAttribute(k, v);
    }
    if (children) for (const c of children) if (c != null) node.append(c);
    return node;
  }
  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (k === 'text') node.textContent = v;
      else node.setAttribute(k, String(v));
    }
    if (parent) parent.append(node);
    return node;
  }
  function query(extra) {
    const p = new URLSearchParams();
    if (state.source) p.set('source', state.source);
    if (state.minDetections > 0) p.set('min_detections', String(state.minDetections));
    if (state.window !== 'all') p.set('window', state.window);
    if (extra) for (const [k, v] of Object.entries(extra)) if (v != null && v !== '') p.set(k, v);
    return p.toString();
  }
  // A server with deploy.statistics.read_api_key is opened as /?key=…: the page sends it on.
  const readKey = new URLSearchParams(location.search).get('key') || '';
  async function getJSON(path, signal) {
    const headers = { Accept: 'application/json' };
    if (readKey) headers['X-API-Key'] = readKey;
    const response = await fetch(path, { signal, cache: 'no-store', headers });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok || !body || body.ok === false) {
      const detail = body && (body.detail || body.error);
      throw new Error(`${path.split('?')[0]}: HTTP ${response.status}${detail ? ' – ' + detail : ''}`);
    }
    return body;
  }
  function parseTs(ts) { return ts ? new Date(ts).getTime() : NaN; }
  function relTime(ts) {
    const t = parseTs(ts);
    if (!Number.isFinite(t)) return '—';
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }
  function shortTime(ts) {
    // "2025-01-01T12:00:00.123456Z" → "2025-01-01 12:00:00"
    return ts ? ts.slice(0, 19).replace('T', ' ') : '—';
  }
  function tickTime(unixSec, spanSec) {
    const d = new Date(unixSec * 1000);
    const hh = String(d.getUTCHours()).padStart(2, '0');
    const mm = String(d.getUTCMinutes()).padStart(2, '0');
    if (spanSec > 2 * 86400) return `${d.getUTCMonth() + 1}/${d.getUTCDate()} ${hh}h`;
    return `${hh}:${mm}`;
  }
  // A round axis maximum whose quarters are round too (0, 25, 50, 75, 100).
  function niceMax(v) {
    if (!(v > 0)) return 4;
    const raw = v / 4;
    const exp = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * exp) return 4 * m * exp;
    return 40 * exp;
  }
  function fmtAxis(v) {
    if (v >= 1e6) return (v / 1e6).toFixed(v % 1e6 ? 1 : 0) + 'M';
    if (v >= 1e3) return (v / 1e3).toFixed(v % 1e3 ? 1 : 0) + 'k';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  function classColor(name) {
    if (!state.classColors.has(name)) state.classColors.set(name, PALETTE[state.classColors.size % PALETTE.length]);
    return state.classColors.get(name);
  }
  function latencyClass(ms) { return ms < 50 ? 'lat-good' : ms < 200 ? 'lat-warn' : 'lat-bad'; }

  // ---------- status ----------
  function setStatus(kind, text) {
    $('status').dataset.state = kind;
    $('status-text').textContent = text;
    $('refresh').classList.toggle('spinning', kind === 'loading');
  }

  // ---------- KPIs ----------
  function setKpi(key, value, display, unit) {
    const tile = document.querySelector(`.kpi[data-kpi="${key}"]`);
    tile.dataset.value = String(value);
    const box = tile.querySelector('.kpi-value');
    box.textContent = display;
    if (unit) box.append(el('small', { text: unit }));
  }
  function renderKpis(o, series) {
    setKpi('events', o.events, fmtInt.format(o.events));
    setKpi('detections', o.detections, fmtInt.format(o.detections));
    const lat = o.latency_ms;
    setKpi('avg_latency', lat.avg, o.events ? fmtMs(lat.avg) : '—', o.events ? 'ms' : '');
    setKpi('p50_latency', lat.p50, o.events ? fmtMs(lat.p50) : '—', o.events ? 'ms' : '');
    setKpi('p95_latency', lat.p95, o.events ? fmtMs(lat.p95) : '—', o.events ? 'ms' : '');
    setKpi('sources', o.sources, fmtInt.format(o.sources));
    const last = o.last_event;
    setKpi('last_event', last ? last.ts_utc : '', last ? relTime(last.ts_utc) : '—');
    $('kpi-last-source').textContent = last ? `${last.source_id} · ${last.total_detections} det.` : 'no events yet';
    $('kpi-per-event').textContent = o.events ? `${(o.detections / o.events).toFixed(2)} per event` : '\u00a0';
    $('kpi-max').textContent = o.events ? `max ${fmtMs(lat.max)} ms` : '\u00a0';
    const pts = series.points || [];
    if (pts.length && series.bucket_seconds && o.events) {
      const perMin = pts.reduce((a, p) => a + p.events, 0) / ((pts.length * series.bucket_seconds) / 60);
      $('kpi-rate').textContent = `${perMin >= 10 ? fmtInt.format(Math.round(perMin)) : perMin.toFixed(1)} / min on average`;
    } else {
      $('kpi-rate').textContent = '\u00a0';
    }
  }

  // ---------- charts ----------
  const tooltip = $('tooltip');
  function showTooltip(evt, html) {
    tooltip.replaceChildren(...html);
    tooltip.hidden = false;
    const pad = 14;
    let x = evt.clientX + pad, y = evt.clientY + pad;
    const r = tooltip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 8) x = evt.clientX - r.width - pad;
    if (y + r.height > window.innerHeight - 8) y = evt.clientY - r.height - pad;
    tooltip.style.left = `${x}px`;
    tooltip.style.top = `${y}px`;
  }
  function hideTooltip() { tooltip.hidden = true; }
  function tipRows(time, rows) {
    return [el('div', { class: 't-time', text: time }),
      ...rows.map(([k, v, color]) => {
        const label = el('span', { text: k });
        if (color) label.style.color = color;
        return el('div', { class: 't-row' }, [label, el('b', { text: v })]);
      })];
  }

  // A time chart frame: axes, grid, scales. Returns helpers to draw series.
  function chartFrame(container, name, points, yMax, yUnit) {
    const width = Math.max(320, container.clientWidth || 600);
    const height = Math.max(160, container.clientHeight || 240);
    const m = { top: 12, right: 12, bottom: 26, left: 46 };
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', 'data-chart': name, 'data-points': points.length, role: 'img' });
    const defs = svg('defs', null, root);
    const grad = svg('linearGradient', { id: `${name}-area`, x1: 0, y1: 0, x2: 0, y2: 1 }, defs);
    svg('stop', { offset: '0', 'stop-color': '#818cf8', 'stop-opacity': 0.35 }, grad);
    svg('stop', { offset: '1', 'stop-color': '#818cf8', 'stop-opacity': 0 }, grad);
    const barGrad = svg('linearGradient', { id: `${name}-bars`, x1: 0, y1: 0, x2: 0, y2: 1 }, defs);
    svg('stop', { offset: '0', 'stop-color': '#22d3ee', 'stop-opacity': 0.95 }, barGrad);
    svg('stop', { offset: '1', 'stop-color': '#22d3ee', 'stop-opacity': 0.35 }, barGrad);
    const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
    const n = points.length;
    const t0 = n ? points[0].t : 0, t1 = n ? points[n - 1].t : 1;
    const span = Math.max(1, t1 - t0);
    const x = (t) => m.left + (n <= 1 ? iw / 2 : ((t - t0) / span) * iw);
    const y = (v) => m.top + ih - (v / yMax) * ih;
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      svg('line', { class: 'grid-line', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }, root);
      svg('text', { class: 'axis-label', x: m.left - 8, y: y(v) + 4, 'text-anchor': 'end', text: fmtAxis(v) + (i === 4 && yUnit ? ` ${yUnit}` : '') }, root);
    }
    if (n) {
      const ticks = Math.min(6, n);
      for (let i = 0; i < ticks; i++) {
        const idx = ticks === 1 ? 0 : Math.round((i * (n - 1)) / (ticks - 1));
        const anchor = i === 0 ? 'start' : i === ticks - 1 ? 'end' : 'middle';
        svg('text', { class: 'axis-label', x: x(points[idx].t), y: height - 6, 'text-anchor': anchor, text: tickTime(points[idx].t, span) }, root);
      }
    }
    return { root, x, y, m, iw, ih, width, height, n };
  }

  function linePath(points, x, y, key) {
    let d = '';
    points.forEach((p, i) => { d += `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`; });
    return d;
  }

  // A path through a single point draws nothing, so a series of one bucket gets a dot instead.
  function drawLine(frame, points, key, cls) {
    svg('path', { d: linePath(points, frame.x, frame.y, key), class: `line ${cls}` }, frame.root);
    if (points.length === 1) {
      svg('circle', { class: `point ${cls}`, cx: frame.x(points[0].t).toFixed(1), cy: frame.y(points[0][key]).toFixed(1), r: 4 }, frame.root);
    }
  }

  // Hover: nearest bucket, crosshair and tooltip.
  function attachHover(frame, points, describe, markers) {
    const { root, x, m, height } = frame;
    const cross = svg('line', { class: 'crosshair', y1: m.top, y2: height - m.bottom, x1: 0, x2: 0, visibility: 'hidden' }, root);
    const dots = markers.map((mk) => svg('circle', { class: 'dot', r: 4, cx: 0, cy: 0, stroke: mk.color, visibility: 'hidden' }, root));
    const show = (visible) => [cross, ...dots].forEach((n) => n.setAttribute('visibility', visible ? 'visible' : 'hidden'));
    const overlay = svg('rect', { x: m.left, y: m.top, width: frame.iw, height: frame.ih, fill: 'transparent' }, root);
    overlay.addEventListener('mousemove', (evt) => {
      const box = root.getBoundingClientRect();
      const px = ((evt.clientX - box.left) / box.width) * frame.width;
      let best = 0;
      for (let i = 1; i < points.length; i++) if (Math.abs(x(points[i].t) - px) < Math.abs(x(points[best].t) - px)) best = i;
      const p = points[best];
      show(true);
      cross.setAttribute('x1', x(p.t)); cross.setAttribute('x2', x(p.t));
      markers.forEach((mk, i) => { dots[i].setAttribute('cx', x(p.t)); dots[i].setAttribute('cy', mk.y(p)); });
      showTooltip(evt, describe(p));
    });
    overlay.addEventListener('mouseleave', () => {
      show(false);
      hideTooltip();
    });
  }

  function emptyChart(container, name, message) {
    const width = Math.max(320, container.clientWidth || 600), height = Math.max(160, container.clientHeight || 240);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', 'data-chart': name, 'data-points': 0 });
    svg('text', { class: 'empty', x: width / 2, y: height / 2, 'text-anchor': 'middle', text: message }, root);
    container.replaceChildren(root);
  }

  function renderLatencyChart(series) {
    const container = $('chart-latency');
    const points = series.points || [];
    if (!points.some((p) => p.events > 0)) return emptyChart(container, 'latency', 'No events in this range');
    const yMax = niceMax(Math.max(...points.map((p) => p.max_latency_ms)));
    const f = chartFrame(container, 'latency', points, yMax, 'ms');
    // Buckets without events have no latency: draw the lines through filled buckets only.
    const filled = points.filter((p) => p.events > 0);
    const area = linePath(filled, f.x, f.y, 'avg_latency_ms') +
      `L${f.x(filled[filled.length - 1].t).toFixed(1)},${f.y(0)}L${f.x(filled[0].t).toFixed(1)},${f.y(0)}Z`;
    svg('path', { d: area, fill: 'url(#latency-area)', class: 'area' }, f.root);
    drawLine(f, filled, 'max_latency_ms', 'line-max');
    drawLine(f, filled, 'avg_latency_ms', 'line-avg');
    attachHover(f, filled, (p) => tipRows(shortTime(p.ts_utc), [
      ['avg', `${fmtMs(p.avg_latency_ms)} ms`, '#818cf8'], ['max', `${fmtMs(p.max_latency_ms)} ms`, '#fbbf24'], ['events', fmtInt.format(p.events)]]),
    [{ color: '#818cf8', y: (p) => f.y(p.avg_latency_ms) }]);
    container.replaceChildren(f.root);
  }

  function renderDetectionsChart(series) {
    const container = $('chart-detections');
    const points = series.points || [];
    if (!points.some((p) => p.events > 0)) return emptyChart(container, 'detections', 'No events in this range');
    const yMax = niceMax(Math.max(...points.map((p) => Math.max(p.detections, p.events))));
    const f = chartFrame(container, 'detections', points, yMax, '');
    const slot = f.iw / Math.max(1, points.length);
    const bw = Math.max(1, Math.min(18, slot * 0.7));
    for (const p of points) {
      if (p.detections <= 0) continue;
      const h = f.y(0) - f.y(p.detections);
      svg('rect', { class: 'bar', fill: 'url(#detections-bars)', x: (f.x(p.t) - bw / 2).toFixed(1), y: f.y(p.detections).toFixed(1), width: bw.toFixed(1), height: Math.max(1, h).toFixed(1), rx: Math.min(3, bw / 3) }, f.root);
    }
    drawLine(f, points, 'events', 'line-events');
    attachHover(f, points, (p) => tipRows(shortTime(p.ts_utc), [
      ['detections', fmtInt.format(p.detections), '#22d3ee'], ['events', fmtInt.format(p.events), '#818cf8']]),
    [{ color: '#818cf8', y: (p) => f.y(p.events) }]);
    container.replaceChildren(f.root);
  }

  function renderDonut(classes) {
    const box = $('donut');
    const legend = $('donut-legend');
    const total = classes.total_detections || 0;
    $('class-total').textContent = total ? `${fmtInt.format(total)} detections` : '';
    let list = classes.classes.filter((c) => c.detections > 0);
    if (list.length > MAX_DONUT_SLICES) {
      const rest = list.slice(MAX_DONUT_SLICES - 1);
      list = list.slice(0, MAX_DONUT_SLICES - 1);
      list.push({ class_name: `other (${rest.length})`, detections: rest.reduce((a, c) => a + c.detections, 0), other: true });
    }
    const size = 200, r = 78, c = 2 * Math.PI * r;
    const root = svg('svg', { viewBox: `0 0 ${size} ${size}`, class: 'donut', 'data-slices': list.length });
    svg('circle', { class: 'donut-track', cx: size / 2, cy: size / 2, r }, root);
    const g = svg('g', { transform: `rotate(-90 ${size / 2} ${size / 2})` }, root);
    let offset = 0;
    const gap = list.length > 1 ? 2 : 0;
    for (const item of list) {
      const len = total ? (item.detections / total) * c : 0;
      const color = item.other ? '#475569' : classColor(item.class_name);
      const slice = svg('circle', {
        class: 'donut-slice', cx: size / 2, cy: size / 2, r, stroke: color,
        'stroke-dasharray': `${Math.max(0, len - gap).toFixed(2)} ${c.toFixed(2)}`,
        'stroke-dashoffset': (-offset).toFixed(2), 'data-class': item.class_name, 'data-count': item.detections,
      }, g);
      slice.addEventListener('mousemove', (evt) => showTooltip(evt, tipRows(item.class_name, [
        ['detections', fmtInt.format(item.detections), color], ['share', `${((item.detections / total) * 100).toFixed(1)}%`]])));
      slice.addEventListener('mouseleave', hideTooltip);
      offset += len;
    }
    svg('text', { class: 'donut-total', x: size / 2, y: size / 2 + 4, 'text-anchor': 'middle', text: total ? fmtAxis(total) : '0' }, root);
    svg('text', { class: 'donut-caption', x: size / 2, y: size / 2 + 22, 'text-anchor': 'middle', text: 'detections' }, root);
    box.replaceChildren(root);
    legend.replaceChildren(...(list.length ? list.map((item) => {
      const dot = el('span', { class: 'dot' });
      dot.style.background = item.other ? '#475569' : classColor(item.class_name);
      return el('li', { 'data-class': item.class_name }, [dot, el('span', { class: 'name', text: item.class_name }),
        el('span', { class: 'count', text: fmtInt.format(item.detections) }),
        el('span', { class: 'pct', text: `${((item.detections / total) * 100).toFixed(1)}%` })]);
    }) : [el('li', { class: 'muted', text: 'No detections in this range' })]));
  }

  function renderSources(sources) {
    const body = $('sources-table').querySelector('tbody');
    const total = sources.sources.reduce((a, s) => a + s.events, 0);
    if (!sources.sources.length) {
      body.replaceChildren(el('tr', { class: 'empty-row' }, [el('td', { colspan: 7, text: 'No sources reported in this range' })]));
      return;
    }
    body.replaceChildren(...sources.sources.map((s) => {
      const share = total ? (s.events / total) * 100 : 0;
      const bar = el('span');
      bar.style.width = `${share.toFixed(1)}%`;
      const stale = Date.now() - parseTs(s.last_ts_utc) > 5 * 60 * 1000;
      const row = el('tr', { 'data-source': s.source_id }, [
        el('td', null, [el('span', { class: 'source-name' }, [el('span', { class: `live${stale ? ' stale' : ''}` }), s.source_id])]),
        el('td', { class: 'num', text: fmtInt.format(s.events) }),
        el('td', { class: 'num', text: fmtInt.format(s.detections) }),
        el('td', { class: `num ${latencyClass(s.avg_latency_ms)}`, text: fmtMs(s.avg_latency_ms) }),
        el('td', { class: 'num', text: fmtMs(s.max_latency_ms) }),
        el('td', { class: 'mono', text: relTime(s.last_ts_utc), title: s.last_ts_utc }),
        el('td', null, [el('div', { class: 'share' }, [el('div', { class: 'share-bar' }, [bar]), el('span', { class: 'share-pct', text: `${share.toFixed(1)}%` })])]),
      ]);
      if (s.source_id === state.source) row.classList.add('selected');
      row.addEventListener('click', () => setSource(state.source === s.source_id ? '' : s.source_id));
      return row;
    }));
  }

  function renderSourceOptions(all) {
    const select = $('f-source');
    const names = all.sources.map((s) => s.source_id).sort();
    if (state.source && !names.includes(state.source)) names.unshift(state.source);
    const current = Array.from(select.options).slice(1).map((o) => o.value);
    if (current.join('\n') === names.join('\n')) return;
    select.replaceChildren(el('option', { value: '', text: 'All sources' }), ...names.map((n) => el('option', { value: n, text: n })));
    select.value = state.source;
  }

  function chips(counts) {
    const entries = Object.entries(counts || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    if (!entries.length) return [el('span', { class: 'muted', text: '—' })];
    return entries.slice(0, 4).map(([k, v]) => el('span', { class: 'chip' }, [k, el('b', { text: String(v) })]))
      .concat(entries.length > 4 ? [el('span', { class: 'muted', text: `+${entries.length - 4}` })] : []);
  }

  function renderEvents(append) {
    const body = $('events-table').querySelector('tbody');
    if (!state.events.length) {
      body.replaceChildren(el('tr', { class: 'empty-row' }, [el('td', { colspan: 6, text: 'No events match the filters' })]));
    } else {
      const rows = state.events.map((e) => {
        const row = el('tr', { 'data-id': e.id }, [
          el('td', { class: 'mono', text: String(e.id) }),
          el('td', { class: 'mono', text: shortTime(e.ts_utc) }),
          el('td', { text: e.source_id }),
          el('td', { class: 'num', text: fmtInt.format(e.total_detections) }),
          el('td', null, chips(e.counts_by_class)),
          el('td', { class: `num ${latencyClass(e.latency_ms)}`, text: `${fmtMs(e.latency_ms)} ms` }),
        ]);
        if (e.id === state.selectedId) row.classList.add('selected');
        row.addEventListener('click', () => selectEvent(e.id));
        return row;
      });
      body.replaceChildren(...rows);
    }
    $('more').hidden = !state.cursor;
    if (!append && state.selectedId == null && state.events.length) selectEvent(state.events[0].id);
    else if (state.selectedId != null) showDetail(state.events.find((e) => e.id === state.selectedId));
  }

  function highlightJson(value) {
    const text = JSON.stringify(value, null, 2);
    const out = [];
    const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
      if (m[1]) {
        out.push(el('span', { class: m[2] ? 'k' : 's', text: m[1] }));
        if (m[2]) out.push(document.createTextNode(m[2]));
      } else if (m[3]) out.push(el('span', { class: 'b', text: m[3] }));
      else out.push(el('span', { class: 'n', text: m[4] }));
      last = re.lastIndex;
    }
    if (last < text.length) out.push(document.createTextNode(text.slice(last)));
    return out;
  }

  function showDetail(event) {
    const pre = $('detail-json');
    if (!event) { pre.textContent = 'Select an event.'; $('detail-id').textContent = ''; return; }
    $('detail-id').textContent = `#${event.id}`;
    pre.replaceChildren(...highlightJson(event));
  }

  function selectEvent(id) {
    state.selectedId = id;
    for (const row of $('events-table').querySelectorAll('tbody tr')) row.classList.toggle('selected', Number(row.dataset.id) === id);
    showDetail(state.events.find((e) => e.id === id));
  }

  // ---------- refresh loop ----------
  function schedule() {
    clearTimeout(state.timer);
    state.timer = null;
    if (state.auto && !document.hidden) state.timer = setTimeout(refresh, state.intervalMs);
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (state.controller) state.controller.abort();  // a newer refresh replaces an older one
    const controller = new AbortController();
    state.controller = controller;
    const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    setStatus('loading', 'Updating…');
    try {
      const q = query();
      const [overview, series, classes, sources, allSources, events] = await Promise.all([
        getJSON(`api/v1/overview?${q}`, controller.signal),
        getJSON(`api/v1/timeseries?${q}`, controller.signal),
        getJSON(`api/v1/classes?${q}`, controller.signal),
        getJSON(`api/v1/sources?${q}`, controller.signal),
        getJSON(`api/v1/sources?${new URLSearchParams(state.window === 'all' ? {} : { window: state.window })}`, controller.signal),
        getJSON(`api/v1/events?${query({ limit: 50 })}`, controller.signal),
      ]);
      if (state.controller !== controller) return;
      renderKpis(overview, series);
      renderLatencyChart(series);
      renderDetectionsChart(series);
      renderDonut(classes);
      renderSources(sources);
      renderSourceOptions(allSources);
      state.events = events.events;
      state.cursor = events.next_cursor;
      if (state.selectedId != null && !state.events.some((e) => e.id === state.selectedId)) state.selectedId = null;
      renderEvents(false);
      document.body.dataset.loaded = 'true';
      setStatus('ok', `Updated ${new Date().toLocaleTimeString([], { hour12: false })}`);
    } catch (err) {
      if (state.controller !== controller) return;  // superseded: the newer refresh reports
      const timedOut = controller.signal.aborted;
      setStatus('error', timedOut ? 'Server did not answer in time' : (err && err.message) || 'Request failed');
    } finally {
      clearTimeout(timeout);
      if (state.controller === controller) {
        state.controller = null;
        schedule();
      }
    }
  }

  async function loadMore() {
    if (!state.cursor) return;
    const button = $('more');
    button.disabled = true;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const page = await getJSON(`api/v1/events?${query({ limit: 50, cursor: state.cursor })}`, controller.signal);
      state.events = state.events.concat(page.events);
      state.cursor = page.next_cursor;
      renderEvents(true);
    } catch (err) {
      setStatus('error', (err && err.message) || 'Request failed');
    } finally {
      clearTimeout(timeout);
      button.disabled = false;
    }
  }

  // ---------- controls ----------
  function setSource(source) {
    state.source = source;
    $('f-source').value = source;
    state.selectedId = null;
    refresh();
  }

  function init() {
    const params = new URLSearchParams(location.search);
    if (params.get('window')) state.window = params.get('window');
    if (params.get('source')) state.source = params.get('source');
    if (params.get('min_detections')) state.minDetections = Math.max(0, parseInt(params.get('min_detections'), 10) || 0);
    for (const b of $('f-window').querySelectorAll('button')) b.classList.toggle('active', b.dataset.window === state.window);
    $('f-min').value = String(state.minDetections);

    $('f-source').addEventListener('change', (e) => setSource(e.target.value));
    let minTimer = null;
    $('f-min').addEventListener('input', (e) => {
      clearTimeout(minTimer);
      minTimer = setTimeout(() => {
        state.minDetections = Math.max(0, parseInt(e.target.value, 10) || 0);
        state.selectedId = null;
        refresh();
      }, 300);
    });
    $('f-window').addEventListener('click', (e) => {
      const button = e.target.closest('button[data-window]');
      if (!button) return;
      state.window = button.dataset.window;
      for (const b of $('f-window').querySelectorAll('button')) b.classList.toggle('active', b === button);
      refresh();
    });
    $('f-auto').addEventListener('change', (e) => { state.auto = e.target.checked; schedule(); });
    $('f-interval').addEventListener('change', (e) => { state.intervalMs = Number(e.target.value) || 5000; schedule(); });
    $('refresh').addEventListener('click', refresh);
    $('more').addEventListener('click', loadMore);
    document.addEventListener('visibilitychange', () => { if (!document.hidden && state.auto && !state.controller) refresh(); });
    let resizeTimer = null;
    window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(refresh, 250); });
    refresh();
  }

  init();
})();

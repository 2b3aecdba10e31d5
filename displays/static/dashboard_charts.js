// Plain SVG charts for the dashboard (no library, no CDN): grouped bars and a line.
const NS = 'http://www.w3.org/2000/svg';
const W = 640, H = 220, PAD = 34;

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function frame(max, labels, every) {
  const root = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img'});
  root.append(svg('line', {x1: PAD, y1: H - PAD, x2: W - 6, y2: H - PAD, class: 'axis'}));
  root.append(svg('line', {x1: PAD, y1: 8, x2: PAD, y2: H - PAD, class: 'axis'}));
  root.append(svg('text', {x: PAD - 4, y: 16, class: 'tick', 'text-anchor': 'end'}, String(max)));
  root.append(svg('text', {x: PAD - 4, y: H - PAD, class: 'tick', 'text-anchor': 'end'}, '0'));
  const step = (W - PAD - 6) / labels.length;
  labels.forEach((label, i) => {
    if (i % every === 0) {
      root.append(svg('text', {x: PAD + i * step + step / 2, y: H - PAD + 18, class: 'tick',
                               'text-anchor': 'middle'}, label));
    }
  });
  return {root, step, y: (v) => H - PAD - (max ? (v / max) * (H - PAD - 12) : 0)};
}

// series: [{values, cls, title}], drawn side by side in each slot.
export function bars(series, labels, every = 1) {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const {root, step, y} = frame(max, labels, every);
  const width = Math.max(1, (step - 2) / series.length);
  series.forEach((s, k) => s.values.forEach((v, i) => {
    if (!v) return;
    const rect = svg('rect', {x: PAD + i * step + 1 + k * width, y: y(v), width,
                              height: H - PAD - y(v), class: s.cls});
    rect.append(svg('title', {}, `${labels[i]} ${s.title}: ${v}`));
    root.append(rect);
  }));
  return root;
}

export function line(values, labels, cls, every = 1) {
  const max = Math.max(1, ...values);
  const {root, step, y} = frame(max, labels, every);
  const points = values.map((v, i) => `${PAD + i * step + step / 2},${y(v)}`).join(' ');
  root.append(svg('polyline', {points, class: cls, fill: 'none'}));
  return root;
}

export function quarterLabels() {
  return Array.from({length: 96}, (_, i) => `${String(Math.floor(i / 4)).padStart(2, '0')}:${String((i % 4) * 15).padStart(2, '0')}`);
}

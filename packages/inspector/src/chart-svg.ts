// A laid-out chart as SVG markup: a group per state (its box, its key, its entry and
// invoke lines, the transitions that stay in it), a path per edge along ELK's route with
// an arrowhead, and each edge's label on a backing box where ELK put it. Every text is
// monospace at the sizes the layout measured with, so boxes on screen are the layout's.
// Built once per chart and cached; the page lights states by their data attributes.
import type { Chart } from './chart.js';
import { chartFont, layoutChart, type ChartLayout } from './layout.js';

const margin = 8;

function escape(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function n(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** The SVG markup of a laid-out chart. */
export function layoutSvg(chart: Chart, layout: ChartLayout): string {
  const parts: string[] = [
    `<svg id="chart-svg" xmlns="http://www.w3.org/2000/svg" width="${layout.width + 2 * margin}" height="${layout.height + 2 * margin}" viewBox="${-margin} ${-margin} ${layout.width + 2 * margin} ${layout.height + 2 * margin}" data-machine="${escape(chart.id)}">`,
    '<defs>',
    ...['gray', 'last'].map(
      (name) =>
        `<marker id="arrow-${name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="head-${name}"/></marker>`,
    ),
    '</defs>',
    '<g id="chart">',
  ];
  for (const state of layout.states) {
    const classes = [
      'state',
      `type-${state.type}`,
      state.path === '' ? 'root' : '',
      state.initial ? 'initial' : '',
    ].filter((name) => name !== '');
    parts.push(
      `<g class="${classes.join(' ')}" data-state-path="${escape(state.path)}">`,
      `<rect class="box" x="${n(state.x)}" y="${n(state.y)}" width="${n(state.width)}" height="${n(state.height)}" rx="9"/>`,
    );
    if (state.initial) {
      parts.push(
        `<circle class="initial-dot" cx="${n(state.x + 8)}" cy="${n(state.y + 16)}" r="3.5"/>`,
      );
    }
    for (const line of state.lines) {
      const size = line.kind === 'title' ? chartFont.titleSize : chartFont.textSize;
      const event = line.event === undefined ? '' : ` data-event="${escape(line.event)}"`;
      parts.push(
        `<text class="${line.kind}" x="${n(line.x)}" y="${n(line.y + size + 1)}" font-size="${size}"${event}>${escape(line.text)}</text>`,
      );
    }
    parts.push('</g>');
  }
  parts.push('</g>', '<g id="arrows">');
  for (const edge of layout.edges) {
    const d = edge.points
      .map((point, i) => `${i === 0 ? 'M' : 'L'}${n(point.x)},${n(point.y)}`)
      .join(' ');
    parts.push(
      `<path data-edge="${escape(edge.key)}" d="${d}" marker-end="url(#arrow-gray)"><title>${escape(`${edge.source || chart.id} → ${edge.target}: ${edge.transitions.join(' | ')}`)}</title></path>`,
    );
  }
  parts.push('</g>', '<g id="labels">');
  for (const edge of layout.edges) {
    const { label } = edge;
    parts.push(
      `<g class="edge-label" data-edge-label="${escape(edge.key)}">`,
      `<rect x="${n(label.x)}" y="${n(label.y)}" width="${n(label.width)}" height="${n(label.height)}" rx="3"/>`,
      ...label.lines.map(
        (line, i) =>
          `<text x="${n(label.x + 3)}" y="${n(label.y + (i + 1) * chartFont.lineHeight - 3)}" font-size="${chartFont.textSize}">${escape(line)}</text>`,
      ),
      '</g>',
    );
  }
  parts.push('</g>', '</svg>');
  return parts.join('');
}

const cache = new WeakMap<Chart, Promise<string>>();

/** The chart drawn as SVG: laid out and rendered on first call, cached afterwards. */
export function chartSvg(chart: Chart): Promise<string> {
  let svg = cache.get(chart);
  if (svg === undefined) {
    svg = layoutChart(chart).then((layout) => layoutSvg(chart, layout));
    cache.set(chart, svg);
  }
  return svg;
}

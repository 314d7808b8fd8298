// Charts laid out by elkjs: for every machine Troupe runs, no text overlaps another text
// or a state it does not belong to, compound states contain their children, and edges
// go around states; each chart is laid out once and its drawing cached.
import { batcherMachine, consumerMachine, processorMachine, supervisorMachine } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { chartOf, chartSvg, layoutChart, type ChartLayout } from '../src/index.js';
import { edgeHome, geometryProblems } from './geometry.js';

function problems(layout: ChartLayout): string[] {
  return geometryProblems(
    layout.states,
    [
      ...layout.states.flatMap((state) =>
        state.lines.map((line) => ({
          ...line,
          name: `${state.path}: ${line.text}`,
          home: state.path,
        })),
      ),
      ...layout.edges.map((edge) => ({
        ...edge.label,
        name: `label of ${edge.key}`,
        home: edgeHome(edge.source, edge.target),
      })),
    ],
    layout.edges,
  );
}

describe('layoutChart', () => {
  it.each([
    ['processor', processorMachine],
    ['supervisor', supervisorMachine],
    ['consumer', consumerMachine],
    ['batcher', batcherMachine],
  ] as const)('lays the %s chart out with nothing overlapping', async (_name, machine) => {
    const chart = chartOf(machine);
    const layout = await layoutChart(chart);
    expect(layout.states.map((state) => state.path).sort()).toEqual(
      (function paths(state: typeof chart.root): string[] {
        return [state.path, ...state.states.flatMap(paths)];
      })(chart.root).sort(),
    );
    expect(problems(layout)).toEqual([]);
    // Every edge is a route of horizontal and vertical segments from one box to another.
    for (const edge of layout.edges) {
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < edge.points.length; i += 1) {
        const a = edge.points[i - 1];
        const b = edge.points[i];
        expect(
          Math.abs((a?.x ?? 0) - (b?.x ?? 0)) < 0.01 || Math.abs((a?.y ?? 0) - (b?.y ?? 0)) < 0.01,
        ).toBe(true);
      }
    }
  });

  it('finds a label that sits on a state it does not belong to', () => {
    const states = [
      { path: '', x: 0, y: 0, width: 300, height: 200 },
      { path: 'a', x: 10, y: 10, width: 100, height: 40 },
      { path: 'b', x: 150, y: 10, width: 100, height: 40 },
    ];
    const texts = [{ name: 'label of a->b', home: '', x: 90, y: 20, width: 40, height: 12 }];
    expect(geometryProblems(states, texts)).toEqual(['"label of a->b" overlaps state "a"']);
    const c = { path: 'c', x: 150, y: 80, width: 100, height: 40 };
    const route = [
      {
        key: 'a->b',
        source: 'a',
        target: 'b',
        points: [
          { x: 60, y: 50 },
          { x: 60, y: 100 },
          { x: 200, y: 100 },
          { x: 200, y: 50 },
        ],
      },
    ];
    expect(geometryProblems([...states, c], [], route)).toEqual(['edge a->b crosses state "c"']);
  });

  it('lays a machine out once and caches its drawing', async () => {
    const chart = chartOf(processorMachine);
    expect(layoutChart(chart)).toBe(layoutChart(chart));
    const svg = await chartSvg(chart);
    expect(chartSvg(chart)).toBe(chartSvg(chart));
    expect(svg).toContain('data-state-path="consuming.handling"');
    expect(svg).toContain('data-edge="idle-&gt;consuming"');
    // Offline: nothing in the drawing refers to anything outside it.
    expect(svg).not.toMatch(/(href|src)="?http/);
  });
});

// Mermaid text for charts: composite states, initial and final states, labelled
// transitions (events, guards, delays, done events), nothing Mermaid would misread.
import { consumerMachine, processorMachine } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { chartOf, toMermaid } from '../src/index.js';

describe('toMermaid', () => {
  it('draws composite states, the initial and final states, labelled transitions', () => {
    const text = toMermaid(chartOf(processorMachine));
    const lines = text.split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('  [*] --> s_idle');
    expect(lines).toContain('  state "consuming" as s_consuming {');
    expect(lines).toContain('    [*] --> s_consuming_admitting');
    expect(lines).toContain('    s_consuming_admitting --> s_consuming_handling: permit.granted');
    expect(lines).toContain(
      '    s_consuming_handling --> s_consuming_handling: handler.timeout [isCurrentRun]',
    );
    expect(lines).toContain('  s_retrying --> s_failed: always [planEscalates]');
    expect(lines).toContain('  s_failed --> [*]');
    expect(lines).toContain('  s__any --> s_idle: cancel');
    expect(text).not.toMatch(/[;#]/);
  });

  it('labels done events of invoked actors', () => {
    expect(toMermaid(chartOf(consumerMachine))).toContain('s_subscribing --> s_consuming: done ');
  });
});

describe('toMermaid of a parallel machine', () => {
  it('separates regions with `--` and labels numeric delays in milliseconds', () => {
    const machine = createMachine({
      id: 'lights',
      type: 'parallel',
      states: {
        north: {
          initial: 'red',
          states: { red: { after: { 500: 'green' } }, green: { on: { 'switch.now': 'red' } } },
        },
        east: { initial: 'off', states: { off: { on: { toggle: 'on' } }, on: { type: 'final' } } },
      },
    });
    const chart = chartOf(machine);
    expect(chart.root.type).toBe('parallel');
    const text = toMermaid(chart);
    expect(text).toContain('  state "north" as s_north {');
    expect(text).toContain('  --\n  state "east" as s_east {');
    expect(text).toContain('    s_north_red --> s_north_green: after 500ms');
    expect(text).toContain('    s_east_on --> [*]');
  });
});

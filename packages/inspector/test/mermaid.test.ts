// Charts read from the machines (nested states, guards, delays), and their Mermaid text.
import { consumerMachine, processorMachine, supervisorMachine } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { chartOf, chartStates, toMermaid } from '../src/index.js';

describe('chartOf', () => {
  it('reads nested states, transitions with guards and targets, and `after` delays', () => {
    const chart = chartOf(processorMachine);
    expect(chart.id).toBe('processor');
    expect(chart.root.states.map((state) => state.key)).toEqual([
      'idle',
      'consuming',
      'persisting',
      'retrying',
      'failed',
    ]);
    const states = chartStates(chart);
    const handling = states.find((state) => state.path === 'consuming.handling');
    expect(handling?.entry).toEqual(['runHandler']);
    expect(handling?.transitions).toContainEqual(
      expect.objectContaining({
        event: 'handler.failed',
        guard: 'and(isCurrentRun, isNotRetryable)',
        targets: ['idle'],
        actions: ['deadLetterDelivery'],
      }),
    );
    expect(handling?.transitions).toContainEqual(
      expect.objectContaining({ kind: 'after', delay: 'handlerTimeout', targets: ['retrying'] }),
    );
    expect(states.find((state) => state.path === 'consuming')?.initial).toBe('consuming.admitting');
    expect(states.find((state) => state.path === 'failed')?.type).toBe('final');
    expect(states.find((state) => state.path === 'retrying')?.transitions).toContainEqual(
      expect.objectContaining({ kind: 'always', guard: 'shouldEscalate', targets: ['failed'] }),
    );
    expect(chart.root.invoke).toEqual(['inFlightGuard']);
  });

  it('is computed once per machine', () => {
    expect(chartOf(supervisorMachine)).toBe(chartOf(supervisorMachine));
  });
});

describe('toMermaid', () => {
  it('draws composite states, the initial and final states, labelled transitions', () => {
    const text = toMermaid(chartOf(processorMachine));
    const lines = text.split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('  [*] --> s_idle');
    expect(lines).toContain('  state "consuming" as s_consuming {');
    expect(lines).toContain('    [*] --> s_consuming_admitting');
    expect(lines).toContain('    s_consuming_admitting --> s_consuming_handling: permit.granted');
    expect(lines).toContain('    s_consuming_handling --> s_retrying: after handlerTimeout');
    expect(lines).toContain('  s_retrying --> s_failed: always [shouldEscalate]');
    expect(lines).toContain('  s_failed --> [*]');
    expect(lines).toContain('  s__any --> s_idle: cancel');
    expect(text).not.toMatch(/[;#]/);
  });

  it('labels done events of invoked actors', () => {
    expect(toMermaid(chartOf(consumerMachine))).toContain('s_subscribing --> s_consuming: done ');
  });
});

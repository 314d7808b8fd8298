// Charts read from the machines: nested states, transitions with guards and targets,
// `after` delays, invoked actors; computed once per machine.
import { processorMachine, supervisorMachine } from '@troupe/core';
import { describe, expect, it } from 'vitest';
import { chartOf, chartStates } from '../src/index.js';

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
    expect(handling?.entry).toEqual(['runHandlers']);
    expect(handling?.transitions).toContainEqual(
      expect.objectContaining({
        event: 'handler.settled',
        guard: 'isCurrentRun',
        targets: ['consuming.handling'],
      }),
    );
    expect(handling?.transitions).toContainEqual(
      expect.objectContaining({
        event: 'handler.timeout',
        guard: 'isCurrentRun',
        targets: ['consuming.handling'],
        actions: ['timeOutHandler'],
      }),
    );
    expect(states.find((state) => state.path === 'retrying')?.transitions).toContainEqual(
      expect.objectContaining({ kind: 'after', delay: 'retryDelay', targets: ['consuming'] }),
    );
    expect(states.find((state) => state.path === 'consuming')?.initial).toBe('consuming.admitting');
    expect(states.find((state) => state.path === 'failed')?.type).toBe('final');
    expect(states.find((state) => state.path === 'retrying')?.transitions).toContainEqual(
      expect.objectContaining({ kind: 'always', guard: 'planEscalates', targets: ['failed'] }),
    );
    expect(chart.root.invoke).toEqual(['inFlightGuard']);
  });

  it('is computed once per machine', () => {
    expect(chartOf(supervisorMachine)).toBe(chartOf(supervisorMachine));
  });
});

// Mermaid text for charts: composite states, initial and final states, labelled
// transitions (events, guards, delays, done events), nothing Mermaid would misread.
import { consumerMachine, processorMachine } from '@troupe/core';
import { describe, expect, it } from 'vitest';
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

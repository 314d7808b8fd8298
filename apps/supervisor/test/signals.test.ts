// SIGTERM and SIGINT as one stop request: the first aborts, the same signal again at
// once (a wrapper forwarding what the terminal already sent) is ignored, a later or a
// different one forces. Signals are emitted on `process`, not sent by the kernel.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { listenForStop, type StopSignals } from '../src/signals.js';

const logger = pino({ level: 'silent' });

describe('listenForStop', () => {
  let stop: StopSignals | undefined;
  afterEach(() => stop?.dispose());

  it('aborts at the first signal, ignores the same one at once, forces on a later one', () => {
    let now = 0;
    let forced = 0;
    stop = listenForStop({ logger, now: () => now, force: () => (forced += 1) });
    expect(stop.signal.aborted).toBe(false);
    process.emit('SIGINT', 'SIGINT');
    expect(stop.signal.aborted).toBe(true);
    expect(stop.signal.reason).toBe('SIGINT');
    now = 20;
    process.emit('SIGINT', 'SIGINT');
    expect(forced).toBe(0);
    now = 800;
    process.emit('SIGINT', 'SIGINT');
    expect(forced).toBe(1);
  });

  it('forces on a different signal, however soon', () => {
    let forced = 0;
    stop = listenForStop({ logger, now: () => 0, force: () => (forced += 1) });
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(forced).toBe(1);
  });

  it('stops listening once disposed', () => {
    const before = process.listenerCount('SIGTERM');
    stop = listenForStop({ logger });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    stop.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    stop = undefined;
  });
});

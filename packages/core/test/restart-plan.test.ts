import { describe, expect, it } from 'vitest';
import { planRestart, shouldRestart, type RestartType } from '../src/index.js';

const order = ['a', 'b', 'c', 'd'];
const running = (exited: string) => (id: string) => id !== exited;
const types =
  (map: Record<string, RestartType> = {}) =>
  (id: string): RestartType =>
    map[id] ?? 'permanent';

describe('planRestart', () => {
  it('one-for-one restarts only the exited child', () => {
    expect(planRestart('one-for-one', order, 'b', running('b'), types())).toEqual({
      stop: [],
      start: ['b'],
    });
  });

  it('one-for-all stops the others in reverse order and restarts all in order', () => {
    expect(planRestart('one-for-all', order, 'b', running('b'), types())).toEqual({
      stop: ['d', 'c', 'a'],
      start: ['a', 'b', 'c', 'd'],
    });
  });

  it('rest-for-one stops the ones started after it and restarts them in order', () => {
    expect(planRestart('rest-for-one', order, 'b', running('b'), types())).toEqual({
      stop: ['d', 'c'],
      start: ['b', 'c', 'd'],
    });
  });

  it('does not bring temporary siblings back', () => {
    expect(planRestart('one-for-all', order, 'a', running('a'), types({ c: 'temporary' }))).toEqual(
      {
        stop: ['d', 'c', 'b'],
        start: ['a', 'b', 'd'],
      },
    );
  });

  it('starts again affected siblings that had stopped, unless temporary (OTP)', () => {
    const alive = (id: string): boolean => id === 'a' || id === 'd';
    expect(planRestart('rest-for-one', order, 'b', alive, types({ c: 'transient' }))).toEqual({
      stop: ['d'],
      start: ['b', 'c', 'd'],
    });
  });
});

describe('shouldRestart', () => {
  it('follows OTP restart types', () => {
    expect(shouldRestart('permanent', 'normal')).toBe(true);
    expect(shouldRestart('transient', 'normal')).toBe(false);
    expect(shouldRestart('transient', 'abnormal')).toBe(true);
    expect(shouldRestart('temporary', 'abnormal')).toBe(false);
  });
});

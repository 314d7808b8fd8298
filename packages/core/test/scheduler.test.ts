// The scheduler under contention: permits granted by weight under a global cap,
// starvation-freedom, no banked credit for idle lanes, and withdrawn requests.
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Scheduler, type SchedulerLane } from '../src/index.js';

/** A permit held by a worker of a lane. */
interface Held {
  readonly lane: SchedulerLane;
}

/**
 * A closed loop that models workers of several pools sharing one scheduler: each lane
 * has `workersPerLane` workers that always want a permit (as busy pools do, asking as
 * InFlight does: tryAcquire, else enqueue). `complete()` finishes the oldest running
 * handler; its worker at once asks for the next permit.
 */
class Contention {
  readonly running: Held[] = [];
  readonly completed = new Map<string, number>();
  /** Lane names in grant order. */
  readonly grants: string[] = [];

  constructor(
    readonly scheduler: Scheduler,
    lanes: readonly SchedulerLane[],
    workersPerLane: number,
  ) {
    for (let i = 0; i < workersPerLane; i += 1) for (const lane of lanes) this.ask(lane);
  }

  ask(lane: SchedulerLane): void {
    const held = { lane };
    if (lane.tryAcquire()) this.#granted(held);
    else lane.enqueue(() => this.#granted(held));
  }

  #granted(held: Held): void {
    this.grants.push(held.lane.name);
    this.running.push(held);
  }

  complete(): void {
    const held = this.running.shift();
    if (held === undefined) throw new Error('nothing is running');
    this.completed.set(held.lane.name, (this.completed.get(held.lane.name) ?? 0) + 1);
    held.lane.release();
    this.ask(held.lane);
  }

  share(name: string): number {
    let total = 0;
    for (const count of this.completed.values()) total += count;
    return (this.completed.get(name) ?? 0) / total;
  }
}

/** Fairness tolerance: each lane's share of completed work within ±5% (relative) of its weight's share. */
const tolerance = 0.05;

describe('scheduler fairness under contention', () => {
  it('completes work in proportion to the weights (1:2:3) under a global cap', () => {
    const scheduler = new Scheduler({ capacity: 4 });
    const lanes = [
      scheduler.lane('light', 1),
      scheduler.lane('medium', 2),
      scheduler.lane('heavy', 3),
    ];
    const load = new Contention(scheduler, lanes, 10);
    expect(scheduler.stats()).toMatchObject({ capacity: 4, inUse: 4, waiting: 26 });

    for (let i = 0; i < 6000; i += 1) load.complete();

    // The cap held throughout, and every lane kept its backlog.
    expect(scheduler.stats()).toMatchObject({ inUse: 4, waiting: 26 });
    const totalWeight = 6;
    for (const lane of lanes) {
      const expected = lane.weight / totalWeight;
      const share = load.share(lane.name);
      expect(Math.abs(share - expected) / expected, `${lane.name}: ${share}`).toBeLessThanOrEqual(
        tolerance,
      );
    }
  });

  it('holds the weights with a cap of 1 and uneven numbers of workers', () => {
    const scheduler = new Scheduler({ capacity: 1 });
    const a = scheduler.lane('a', 1);
    const b = scheduler.lane('b', 4);
    const load = new Contention(scheduler, [a], 50);
    for (let i = 0; i < 3; i += 1) load.ask(b);

    for (let i = 0; i < 5000; i += 1) load.complete();

    expect(Math.abs(load.share('a') - 0.2) / 0.2).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(load.share('b') - 0.8) / 0.8).toBeLessThanOrEqual(tolerance);
  });

  it('never starves a weight-1 lane, however heavy the others', () => {
    const scheduler = new Scheduler({ capacity: 2 });
    const lanes = [
      scheduler.lane('tiny', 1),
      scheduler.lane('huge', 100),
      scheduler.lane('big', 50),
    ];
    const load = new Contention(scheduler, lanes, 20);

    for (let i = 0; i < 10_000; i += 1) load.complete();

    // The tiny lane is granted at least once in every 151 grants (its stride) plus slack
    // for the permits in flight.
    let gap = 0;
    let maxGap = 0;
    for (const name of load.grants) {
      gap = name === 'tiny' ? 0 : gap + 1;
      maxGap = Math.max(maxGap, gap);
    }
    expect(maxGap).toBeLessThanOrEqual(151 + 2);
    expect(load.completed.get('tiny')).toBeGreaterThanOrEqual(Math.floor(10_000 / 151) - 1);
  });

  it('does not let a lane that was idle bank credit and then monopolise the permits', () => {
    const scheduler = new Scheduler({ capacity: 2 });
    const busy = scheduler.lane('busy', 1);
    const late = scheduler.lane('late', 1);
    const load = new Contention(scheduler, [busy], 10);
    for (let i = 0; i < 1000; i += 1) load.complete();

    // The late lane joins with equal weight: it gets half from now on, not everything.
    for (let i = 0; i < 10; i += 1) load.ask(late);
    load.grants.length = 0;
    for (let i = 0; i < 1000; i += 1) load.complete();

    const lateShare = load.grants.filter((name) => name === 'late').length / load.grants.length;
    expect(Math.abs(lateShare - 0.5) / 0.5).toBeLessThanOrEqual(tolerance);
    // Nor does the busy lane wait long: it appears within every few grants.
    const firstTwenty = load.grants.slice(0, 20);
    expect(firstTwenty.filter((name) => name === 'busy').length).toBeGreaterThanOrEqual(8);
  });

  it('grants at once when uncontended, and nothing beyond the cap', () => {
    const scheduler = new Scheduler({ capacity: 2 });
    const lane = scheduler.lane('p', 3);
    expect(lane.tryAcquire()).toBe(true);
    expect(lane.tryAcquire()).toBe(true);
    expect(lane.tryAcquire()).toBe(false);
    const granted: number[] = [];
    lane.enqueue(() => granted.push(1));
    lane.enqueue(() => granted.push(2));
    expect(scheduler.stats()).toMatchObject({ inUse: 2, waiting: 2 });

    lane.release();
    expect(granted).toEqual([1]);
    expect(scheduler.stats()).toMatchObject({ inUse: 2, waiting: 1 });
    // A newcomer does not jump the queue while someone waits.
    lane.release();
    expect(granted).toEqual([1, 2]);
    expect(lane.tryAcquire()).toBe(false);
    expect(scheduler.stats().granted).toEqual({ p: 4 });
  });
});

describe('withdraw', () => {
  it('removes a waiting request: it is never granted and the next waiter gets the permit', () => {
    const scheduler = new Scheduler({ capacity: 1 });
    const a = scheduler.lane('a');
    const b = scheduler.lane('b');
    expect(a.tryAcquire()).toBe(true);
    const granted: string[] = [];
    const first = b.enqueue(() => granted.push('b1'));
    a.enqueue(() => granted.push('a2'));
    expect(scheduler.stats().waiting).toBe(2);

    b.withdraw(first);
    expect(scheduler.stats().waiting).toBe(1);
    a.release();
    expect(granted).toEqual(['a2']);

    a.release();
    expect(granted).toEqual(['a2']);
    expect(scheduler.stats()).toMatchObject({ inUse: 0, waiting: 0 });
    // With no one waiting, permits are taken at once again.
    expect(b.tryAcquire()).toBe(true);
  });

  it('is harmless for a request already granted or withdrawn', () => {
    const scheduler = new Scheduler({ capacity: 1 });
    const lane = scheduler.lane('a');
    expect(lane.tryAcquire()).toBe(true);
    let grants = 0;
    const request = lane.enqueue(() => (grants += 1));
    lane.release();
    expect(grants).toBe(1);
    lane.withdraw(request);
    lane.withdraw(request);
    expect(scheduler.stats()).toMatchObject({ inUse: 1, waiting: 0 });
  });
});

describe('configuration', () => {
  it('rejects a bad cap or weight, naming the field', () => {
    expect(() => new Scheduler({ capacity: 0 })).toThrow(ConfigurationError);
    expect(() => new Scheduler({ capacity: 2 }).lane('x', 0)).toThrow(/processors\.x\.weight/);
    expect(() => new Scheduler({ capacity: 2 }).lane('x', 1.5)).toThrow(ConfigurationError);
  });
});

// Prometheus metrics without a client library: counters and histograms kept as plain
// numbers, gauges computed at scrape time from the live actor tree, and the text
// exposition format (version 0.0.4) rendered on demand.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { stateName, type ProcessorObserver, type SettlementOutcome } from '@troupe/core';
import type { AnyActorRef } from 'xstate';

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escape = (value: string): string =>
    value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${entries.map(([key, value]) => `${key}="${escape(value)}"`).join(',')}}`;
}

class Counter {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels, by = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.#values) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

/** Seconds. */
const latencyBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

class Histogram {
  readonly #series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = latencyBuckets,
  ) {}
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    for (let i = 0; i < this.buckets.length; i += 1) {
      if (value <= (this.buckets[i] ?? Infinity)) series.counts[i] = (series.counts[i] ?? 0) + 1;
    }
    series.sum += value;
    series.count += 1;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(
          `${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i] ?? 0}`,
        );
      });
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines;
  }
}

function gauge(name: string, help: string, values: readonly [Labels, number][]): string[] {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
  for (const [labels, value] of values) lines.push(`${name}${labelText(labels)} ${value}`);
  return lines;
}

/** One actor in the tree, as the metrics walk sees it. */
interface ActorVisit {
  readonly ref: AnyActorRef;
  readonly kind: string;
  readonly state: string;
}

/** Walks an actor tree: every actor with its machine id and current state. */
export function walkActors(root: AnyActorRef): ActorVisit[] {
  const visits: ActorVisit[] = [];
  const visit = (ref: AnyActorRef): void => {
    const snapshot = ref.getSnapshot() as {
      value?: unknown;
      children?: Record<string, AnyActorRef | undefined>;
    };
    // Actors expose their logic; refs in general do not promise it.
    const logic = (ref as unknown as { logic?: { id?: unknown } }).logic;
    visits.push({
      ref,
      kind: typeof logic?.id === 'string' ? logic.id : 'actor',
      state: stateName(snapshot.value),
    });
    for (const child of Object.values(snapshot.children ?? {}))
      if (child !== undefined) visit(child);
  };
  visit(root);
  return visits;
}

/** The app's metrics. */
export class Metrics {
  readonly #messages = new Counter(
    'troupe_messages_total',
    'Deliveries settled, by processor and outcome (acked, dead-lettered, requeued).',
  );
  readonly #retries = new Counter(
    'troupe_retries_total',
    'Failed attempts that will be retried, by processor and step.',
  );
  readonly #latency = new Histogram(
    'troupe_message_duration_seconds',
    'Time from a worker taking a delivery to settling it, by processor and outcome.',
  );
  readonly #steps = new Histogram(
    'troupe_step_duration_seconds',
    'Duration of handler and persist steps, by processor and step.',
  );
  readonly #loop: IntervalHistogram;

  constructor() {
    this.#loop = monitorEventLoopDelay({ resolution: 20 });
    this.#loop.enable();
  }

  /** The observer to give processor `name`'s pool. */
  observer(processor: string): ProcessorObserver {
    const labels = (outcome: SettlementOutcome) => ({ processor, outcome });
    return {
      settled: (outcome, elapsedMs) => {
        this.#messages.inc(labels(outcome));
        this.#latency.observe(labels(outcome), elapsedMs / 1000);
      },
      step: (step, ms) => this.#steps.observe({ processor, step }, ms / 1000),
      retrying: (step) => this.#retries.inc({ processor, step }),
    };
  }

  /** The exposition text; `root` is walked for actor states, restarts and in-flight work. */
  render(root: AnyActorRef | undefined, extra: readonly string[] = []): string {
    const lines = [
      ...this.#messages.render(),
      ...this.#retries.render(),
      ...this.#latency.render(),
      ...this.#steps.render(),
    ];
    if (root !== undefined) {
      const visits = walkActors(root);
      const byState = new Map<string, number>();
      let inFlight = 0;
      const restarts: [Labels, number][] = [];
      for (const { ref, kind, state } of visits) {
        // Callback and promise actors (a worker's in-flight guard, say) have no chart.
        if (state === 'unknown') continue;
        const key = `${kind}\u0000${state}`;
        byState.set(key, (byState.get(key) ?? 0) + 1);
        if (kind === 'processor' && state !== 'idle' && state !== 'failed') inFlight += 1;
        if (kind === 'supervisor') {
          const context = (
            ref.getSnapshot() as {
              context?: { children?: Record<string, { totalRestarts?: number }> };
            }
          ).context;
          for (const [child, record] of Object.entries(context?.children ?? {})) {
            restarts.push([{ supervisor: ref.id, child }, record.totalRestarts ?? 0]);
          }
        }
      }
      lines.push(
        ...gauge(
          'troupe_actors',
          'Actors by machine and state.',
          [...byState].map(([key, count]) => {
            const [machine = '', state = ''] = key.split('\u0000');
            return [{ machine, state }, count] as [Labels, number];
          }),
        ),
        ...gauge('troupe_in_flight', 'Workers holding a delivery.', [[{}, inFlight]]),
        ...gauge(
          'troupe_restarts',
          'Restarts of each child since its supervisor started.',
          restarts,
        ),
      );
    }
    lines.push(
      ...gauge('troupe_event_loop_delay_seconds', 'Event-loop delay percentiles.', [
        [{ quantile: '0.5' }, this.#loop.percentile(50) / 1e9],
        [{ quantile: '0.99' }, this.#loop.percentile(99) / 1e9],
        [{ quantile: '1' }, this.#loop.max / 1e9],
      ]),
      ...extra,
    );
    return `${lines.join('\n')}\n`;
  }

  close(): void {
    this.#loop.disable();
  }
}

// Prometheus metrics through prom-client: one registry per app with the default process
// metrics, Troupe's counters and histograms, and gauges computed at scrape time from the
// live actor tree. The per-message path touches only preallocated cells (a counter is a
// number, a histogram a Float64Array of bucket counts), one per label set, created when
// a processor's observer is made; the cells are copied into prom-client's metrics when
// Prometheus scrapes, so recording a message allocates nothing.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import {
  stateName,
  supervisorViewOf,
  type ProcessorObserver,
  type SettlementOutcome,
  type StoreWriteStats,
} from '@troupe/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AnyActorRef } from 'xstate';

/** Seconds. */
const latencyBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Messages per persist step: a batch of one up to past the largest `maxBatch` worth setting. */
const batchBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

const outcomes: readonly SettlementOutcome[] = [
  'acked',
  'dead-lettered',
  'requeued',
  'redelivered-later',
];
const steps = ['handle', 'persist'] as const;
type Step = (typeof steps)[number];

/** One label set of a counter: its labels (built once) and its running total. */
class CounterCell {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** One label set of a histogram: per-bucket counts (not cumulative), sum and count. */
class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    const { bounds, counts } = this;
    for (let i = 0; i < bounds.length; i += 1) {
      if (value <= (bounds[i] as number)) {
        counts[i] = (counts[i] as number) + 1;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

/** prom-client's stored series of a histogram (not in its typings; checked by the tests). */
interface HistogramSeries {
  labels: Readonly<Record<string, string>>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** Copies counter cells into a prom-client counter: run at scrape time only. */
function flushCounter(counter: Counter<string>, cells: readonly CounterCell[]): void {
  counter.reset();
  for (const cell of cells) counter.inc(cell.labels, cell.value);
}

/** Copies histogram cells into a prom-client histogram: run at scrape time only. */
function flushHistogram(histogram: Histogram<string>, cells: readonly HistogramCell[]): void {
  histogram.reset();
  const series = (histogram as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap;
  for (const cell of cells) {
    if (cell.count === 0) continue;
    histogram.zero(cell.labels);
    const entry = Object.values(series).find((candidate) => candidate.labels === cell.labels);
    if (entry === undefined) continue;
    cell.bounds.forEach((bound, i) => {
      entry.bucketValues[bound] = cell.counts[i] ?? 0;
    });
    entry.sum = cell.sum;
    entry.count = cell.count;
  }
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

/** Options of {@link Metrics}. */
export interface MetricsOptions {
  /** The running tree, walked at scrape time for actor states, restarts and in-flight work. */
  readonly root?: (() => AnyActorRef | undefined) | undefined;
  /** Whether the broker connection is up; `troupe_broker_connected` is left out without it. */
  readonly brokerConnected?: (() => boolean) | undefined;
  /** The broker node the connection is on, or trying (password redacted): the gauge's `node` label. */
  readonly brokerNode?: (() => string | undefined) | undefined;
  /**
   * The store's commits and what they carried, read at scrape time: `kind` is the
   * `store` label (`sqlite`, `arangodb`); `stats` answers undefined while the store is
   * not open or does not count its commits (in memory), and the series are left out.
   */
  readonly storeWrites?:
    { readonly kind: string; readonly stats: () => StoreWriteStats | undefined } | undefined;
}

/**
 * The store's commits, failures, calls and documents, as counters copied from its running
 * totals when Prometheus scrapes. Each reads the totals itself: they change only on
 * later turns of the event loop, so the four agree within one scrape.
 */
function storeTotals(
  registers: Registry[],
  storeWrites: NonNullable<MetricsOptions['storeWrites']>,
): void {
  const labels = { store: storeWrites.kind };
  const totals = [
    [
      'troupe_store_commits_total',
      'Transactions (SQLite) or coalesced bulkWrite groups (ArangoDB) the store ran, failed ones included; each carries every store call queued meanwhile (group commit).',
      (stats: StoreWriteStats) => stats.commits,
    ],
    [
      'troupe_store_commit_failures_total',
      'Of those commits, the ones that failed as a whole (the store down, busy or aborted); their calls are retried.',
      (stats: StoreWriteStats) => stats.failures,
    ],
    [
      'troupe_store_calls_total',
      'Store calls those commits carried: a persist step with bulkWrite is one, a per-message persist one per message; on ArangoDB, bulkWrite calls only.',
      (stats: StoreWriteStats) => stats.calls,
    ],
    [
      'troupe_store_documents_total',
      'Documents those calls handed to the database; documents per commit is its rate over the commits rate.',
      (stats: StoreWriteStats) => stats.documents,
    ],
  ] as const;
  for (const [name, help, read] of totals) {
    new Counter({
      name,
      help,
      labelNames: ['store'],
      registers,
      collect() {
        this.reset();
        const stats = storeWrites.stats();
        if (stats !== undefined) this.inc(labels, read(stats));
      },
    });
  }
}

/** The app's metrics, on a prom-client registry of their own. */
export class Metrics {
  /** The registry: Troupe's metrics and prom-client's default process metrics. */
  readonly registry = new Registry();
  readonly #messageCells: CounterCell[] = [];
  readonly #retryCells: CounterCell[] = [];
  readonly #latencyCells: HistogramCell[] = [];
  readonly #stepCells: HistogramCell[] = [];
  readonly #persistSizeCells: HistogramCell[] = [];
  readonly #loop: IntervalHistogram;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const messageCells = this.#messageCells;
    const retryCells = this.#retryCells;
    const latencyCells = this.#latencyCells;
    const stepCells = this.#stepCells;
    const persistSizeCells = this.#persistSizeCells;
    collectDefaultMetrics({ register: this.registry });
    new Counter({
      name: 'troupe_messages_total',
      help: 'Deliveries settled, by processor and outcome (acked, dead-lettered, requeued, redelivered-later).',
      labelNames: ['processor', 'outcome'],
      registers,
      collect() {
        flushCounter(this, messageCells);
      },
    });
    new Counter({
      name: 'troupe_retries_total',
      help: 'Failed attempts that will be retried, by processor and step.',
      labelNames: ['processor', 'step'],
      registers,
      collect() {
        flushCounter(this, retryCells);
      },
    });
    new Histogram({
      name: 'troupe_message_duration_seconds',
      help: 'Time from a worker taking a delivery to settling it, by processor and outcome.',
      labelNames: ['processor', 'outcome'],
      buckets: latencyBuckets,
      registers,
      collect() {
        flushHistogram(this, latencyCells);
      },
    });
    new Histogram({
      name: 'troupe_step_duration_seconds',
      help: 'Duration of handler and persist steps, by processor and step.',
      labelNames: ['processor', 'step'],
      buckets: latencyBuckets,
      registers,
      collect() {
        flushHistogram(this, stepCells);
      },
    });
    new Histogram({
      name: 'troupe_persist_batch_messages',
      help: 'Messages in each persist step of a worker batch (each attempt), by processor.',
      labelNames: ['processor'],
      buckets: batchBuckets,
      registers,
      collect() {
        flushHistogram(this, persistSizeCells);
      },
    });

    const root = options.root;
    // Registered below in this order: the walk in `troupe_actors`' collect feeds the two
    // gauges after it (a scrape collects metrics in registration order).
    const inFlight = new Gauge({
      name: 'troupe_in_flight',
      help: 'Workers holding a delivery.',
      registers: [],
    });
    const restarts = new Gauge({
      name: 'troupe_restarts',
      help: 'Restarts of each child since its supervisor started.',
      labelNames: ['supervisor', 'child'],
      registers: [],
    });
    const actors = new Gauge({
      name: 'troupe_actors',
      help: 'Actors by machine and state.',
      labelNames: ['machine', 'state'],
      registers: [],
      collect() {
        this.reset();
        restarts.reset();
        const actor = root?.();
        let holding = 0;
        if (actor !== undefined) {
          for (const { ref, kind, state } of walkActors(actor)) {
            // Callback and promise actors (a worker's in-flight guard, say) have no chart.
            if (state === 'unknown') continue;
            this.inc({ machine: kind, state });
            if (kind === 'processor' && state !== 'idle' && state !== 'failed') holding += 1;
            if (kind === 'supervisor') {
              for (const child of supervisorViewOf(ref.getSnapshot())?.children ?? []) {
                restarts.set({ supervisor: ref.id, child: child.id }, child.totalRestarts);
              }
            }
          }
        }
        inFlight.set(holding);
      },
    });
    this.registry.registerMetric(actors);
    this.registry.registerMetric(inFlight);
    this.registry.registerMetric(restarts);

    const brokerConnected = options.brokerConnected;
    const brokerNode = options.brokerNode;
    if (brokerConnected !== undefined) {
      new Gauge({
        name: 'troupe_broker_connected',
        help: '1 when the broker connection is up (always 1 in-process); node: the broker node it is on, or trying.',
        labelNames: ['node'],
        registers,
        collect() {
          // One series, for the node of the moment (a node left behind is not kept).
          this.reset();
          const node = brokerNode?.();
          if (node === undefined) this.set(brokerConnected() ? 1 : 0);
          else this.set({ node }, brokerConnected() ? 1 : 0);
        },
      });
    }

    if (options.storeWrites !== undefined) storeTotals(registers, options.storeWrites);

    const loop = monitorEventLoopDelay({ resolution: 20 });
    loop.enable();
    this.#loop = loop;
    new Gauge({
      name: 'troupe_event_loop_delay_seconds',
      help: 'Event-loop delay percentiles.',
      labelNames: ['quantile'],
      registers,
      collect() {
        this.set({ quantile: '0.5' }, loop.percentile(50) / 1e9);
        this.set({ quantile: '0.99' }, loop.percentile(99) / 1e9);
        this.set({ quantile: '1' }, loop.max / 1e9);
      },
    });
  }

  /**
   * The observer to give processor `name`'s pool. Its label sets are built here, once:
   * each call afterwards adds to a preallocated cell.
   */
  observer(processor: string): ProcessorObserver {
    const byOutcome = new Map<SettlementOutcome, { count: CounterCell; time: HistogramCell }>();
    for (const outcome of outcomes) {
      const labels = { processor, outcome };
      const count = new CounterCell(labels);
      const time = new HistogramCell(labels, latencyBuckets);
      this.#messageCells.push(count);
      this.#latencyCells.push(time);
      byOutcome.set(outcome, { count, time });
    }
    const byStep = new Map<Step, { retries: CounterCell; time: HistogramCell }>();
    for (const step of steps) {
      const labels = { processor, step };
      const retries = new CounterCell(labels);
      const time = new HistogramCell(labels, latencyBuckets);
      this.#retryCells.push(retries);
      this.#stepCells.push(time);
      byStep.set(step, { retries, time });
    }
    const persistSizes = new HistogramCell({ processor }, batchBuckets);
    this.#persistSizeCells.push(persistSizes);
    return {
      settled: (outcome, elapsedMs) => {
        const cells = byOutcome.get(outcome);
        if (cells === undefined) return;
        cells.count.value += 1;
        cells.time.observe(elapsedMs / 1000);
      },
      step: (step, ms, size) => {
        byStep.get(step)?.time.observe(ms / 1000);
        if (step === 'persist') persistSizes.observe(size);
      },
      retrying: (step) => {
        const cells = byStep.get(step);
        if (cells !== undefined) cells.retries.value += 1;
      },
    };
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link Metrics.render}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.#loop.disable();
  }
}

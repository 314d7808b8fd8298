// A machine's chart as plain JSON: its states (nested), their transitions with event
// types, targets, guard names and `after` delays. Read from the machine's state nodes
// once per machine logic and cached; actors of the same machine share one chart.
import type { AnyStateMachine } from 'xstate';

/** The type of a state node. */
export type ChartStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** What triggers a transition. */
export type ChartTransitionKind =
  /** a named event */
  | 'event'
  /** an eventless (`always`) transition */
  | 'always'
  /** a delayed (`after`) transition */
  | 'after'
  /** the wildcard `*` */
  | 'wildcard';

/** One transition of a state. */
export interface ChartTransition {
  /** Path of the state that declares it ('' for the root). */
  readonly source: string;
  /** The event type (`xstate.after.*` for delayed ones, '' for eventless ones). */
  readonly event: string;
  readonly kind: ChartTransitionKind;
  /** Paths of its targets; empty for a targetless transition (actions only). */
  readonly targets: readonly string[];
  /** The guard's name (`and(isCurrentRun, isNotRetryable)`, `inline` for an anonymous one). */
  readonly guard?: string;
  /** Action names, in order. */
  readonly actions: readonly string[];
  /** The delay of an `after` transition: milliseconds or a named delay. */
  readonly delay?: number | string;
  readonly reenter: boolean;
}

/** One state node. */
export interface ChartState {
  /** Keys from the root joined with '.': `consuming.handling`; '' for the root. */
  readonly path: string;
  readonly key: string;
  /** XState's state node id (`processor.consuming.handling`). */
  readonly id: string;
  readonly type: ChartStateType;
  /** Path of the initial child state, for compound states. */
  readonly initial?: string;
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  /** Sources of the actors invoked in this state. */
  readonly invoke: readonly string[];
  readonly transitions: readonly ChartTransition[];
  readonly states: readonly ChartState[];
}

/** A machine's chart. */
export interface Chart {
  /** The machine id (`processor`, `supervisor`, `consumer`). */
  readonly id: string;
  readonly root: ChartState;
}

/** A state node as far as the chart reads it (XState's `StateNode`). */
interface NodeLike {
  readonly key: string;
  readonly id: string;
  readonly path: readonly string[];
  readonly type: ChartStateType;
  readonly states: Readonly<Record<string, NodeLike>>;
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[] | undefined;
  readonly after: readonly (TransitionLike & { readonly delay: unknown })[];
  readonly initial: { readonly target: readonly NodeLike[] } | undefined;
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly invoke: readonly { readonly src: unknown; readonly id: string }[];
}

interface TransitionLike {
  readonly eventType: string;
  readonly target: readonly NodeLike[] | undefined;
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
  readonly reenter: boolean;
}

const cache = new WeakMap<object, Chart>();

/** The path of a state node, as charts and state values name it. */
export function nodePath(node: { readonly path: readonly string[] }): string {
  return node.path.join('.');
}

function functionName(fn: { name?: unknown }): string {
  const name = typeof fn.name === 'string' ? fn.name : '';
  // An arrow function written as `guard: (…) => …` is named after its property.
  return name === '' || name === 'guard' || name === 'actions' ? 'inline' : name;
}

/** The name of a guard: its type, `and(a, b)` for combinators, `inline` for a function. */
export function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const combined = (guard as { guards?: unknown }).guards;
    const name = functionName(guard);
    if (Array.isArray(combined)) return `${name}(${combined.map(guardName).join(', ')})`;
    return name;
  }
  if (typeof guard === 'object' && guard !== null) {
    const type = (guard as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return 'inline';
}

/** The name of an action: its type, or the builtin's (`xstate.assign`), `inline` otherwise. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const type = (action as { type?: unknown }).type;
    return typeof type === 'string' ? type : functionName(action);
  }
  if (typeof action === 'object' && action !== null) {
    const type = (action as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return 'inline';
}

function sourceName(src: unknown, id: string): string {
  if (typeof src === 'string') return src;
  const logicId = (src as { id?: unknown } | null)?.id;
  return typeof logicId === 'string' ? logicId : id;
}

function transitionOf(
  source: string,
  transition: TransitionLike,
  kind: ChartTransitionKind,
  delay?: unknown,
): ChartTransition {
  const guard = transition.guard === undefined ? undefined : guardName(transition.guard);
  return {
    source,
    event: transition.eventType,
    kind,
    targets: (transition.target ?? []).map(nodePath),
    ...(guard === undefined ? {} : { guard }),
    actions: transition.actions.map(actionName),
    ...(typeof delay === 'number' || typeof delay === 'string' ? { delay } : {}),
    reenter: transition.reenter,
  };
}

function stateOf(node: NodeLike): ChartState {
  const path = nodePath(node);
  const transitions: ChartTransition[] = [];
  for (const [event, list] of node.transitions) {
    // Delayed transitions are read from `after`, which knows their delays.
    if (event.startsWith('xstate.after.')) continue;
    for (const transition of list) {
      transitions.push(transitionOf(path, transition, event === '*' ? 'wildcard' : 'event'));
    }
  }
  for (const transition of node.after) {
    transitions.push(transitionOf(path, transition, 'after', transition.delay));
  }
  for (const transition of node.always ?? []) {
    transitions.push({ ...transitionOf(path, transition, 'always'), event: '' });
  }
  const initialTarget = node.type === 'compound' ? node.initial?.target[0] : undefined;
  return {
    path,
    key: node.key,
    id: node.id,
    type: node.type,
    ...(initialTarget === undefined ? {} : { initial: nodePath(initialTarget) }),
    entry: node.entry.map(actionName).filter((name) => !name.startsWith('xstate.')),
    exit: node.exit.map(actionName).filter((name) => !name.startsWith('xstate.')),
    invoke: node.invoke.map((invoke) => sourceName(invoke.src, invoke.id)),
    transitions,
    states: Object.values(node.states).map(stateOf),
  };
}

/** True when `logic` is a state machine (it has a root state node). */
export function isMachine(logic: unknown): logic is AnyStateMachine {
  return (
    typeof logic === 'object' &&
    logic !== null &&
    typeof (logic as { root?: unknown }).root === 'object' &&
    typeof (logic as { id?: unknown }).id === 'string'
  );
}

/**
 * The chart of a machine, computed on first call and cached for the machine's lifetime.
 *
 * @example
 * ```ts
 * const chart = chartOf(processorMachine);
 * chart.root.states.map((state) => state.key); // ['idle', 'consuming', …]
 * ```
 */
export function chartOf(machine: AnyStateMachine): Chart {
  const cached = cache.get(machine);
  if (cached !== undefined) return cached;
  const chart: Chart = { id: machine.id, root: stateOf(machine.root) };
  cache.set(machine, chart);
  return chart;
}

/** Every state of a chart, depth first. */
export function chartStates(chart: Chart): ChartState[] {
  const all: ChartState[] = [];
  const visit = (state: ChartState): void => {
    all.push(state);
    state.states.forEach(visit);
  };
  visit(chart.root);
  return all;
}

// The scenarios of the differential suite, written once and run by both sides: as
// Erlang terms by troupe_otp_diff.erl on OTP's `supervisor`, and by troupe-side.ts on
// Troupe's. Names are OTP's (atoms); troupe-side.ts maps them to Troupe's options.

/** A supervisor as a child: its own strategy, intensity and children. */
export interface SupervisorDef {
  readonly id: string;
  readonly restart: 'permanent' | 'transient' | 'temporary';
  readonly supervisor: {
    readonly strategy: Scenario['strategy'];
    readonly intensity: number;
    readonly periodS: number;
    readonly children: readonly (ChildDef | SupervisorDef)[];
  };
}

/** One worker: what it does when asked to stop, and whether its start fails. */
export interface ChildDef {
  readonly id: string;
  readonly restart: 'permanent' | 'transient' | 'temporary';
  /** Milliseconds, `brutal_kill` or `infinity`. */
  readonly shutdown: number | 'brutal_kill' | 'infinity';
  readonly significant?: boolean;
  /** `exit` as soon as it is asked to stop (default), or `hang` until killed. */
  readonly onShutdown?: 'exit' | 'hang';
  readonly startFails?: boolean;
}

export type Step =
  | { readonly do: 'crash' | 'finish'; readonly id: string }
  | { readonly do: 'wait'; readonly ms: number }
  | { readonly do: 'start_child'; readonly child: ChildDef }
  | {
      readonly do: 'terminate_child' | 'restart_child' | 'delete_child';
      readonly id: string;
    }
  | { readonly do: 'which_children' | 'count_children' | 'stop' };

export interface Scenario {
  readonly name: string;
  readonly strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one';
  readonly intensity: number;
  /** OTP counts in whole seconds; Troupe in milliseconds (× 1000). */
  readonly periodS: number;
  readonly autoShutdown?: 'never' | 'any_significant' | 'all_significant';
  readonly children: readonly (ChildDef | SupervisorDef)[];
  /** A final `stop` is added to every scenario. */
  readonly steps: readonly Step[];
}

const worker = (id: string, more: Partial<ChildDef> = {}): ChildDef => ({
  id,
  restart: 'permanent',
  shutdown: 1000,
  ...more,
});
const abcd = ['a', 'b', 'c', 'd'].map((id) => worker(id));

export const scenarios: readonly Scenario[] = [
  {
    name: 'one_for_one restarts only the child that exited',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    children: abcd.slice(0, 3),
    steps: [{ do: 'crash', id: 'b' }],
  },
  {
    name: 'one_for_all stops the others in reverse and restarts all in order',
    strategy: 'one_for_all',
    intensity: 3,
    periodS: 5,
    children: abcd,
    steps: [{ do: 'crash', id: 'b' }],
  },
  {
    name: 'rest_for_one restarts the exited child and those started after it',
    strategy: 'rest_for_one',
    intensity: 3,
    periodS: 5,
    children: abcd,
    steps: [{ do: 'crash', id: 'b' }],
  },
  {
    name: 'one_for_all starts again a transient sibling that had ended normally',
    strategy: 'one_for_all',
    intensity: 3,
    periodS: 5,
    children: [worker('a'), worker('t', { restart: 'transient' })],
    steps: [{ do: 'finish', id: 't' }, { do: 'crash', id: 'a' }, { do: 'which_children' }],
  },
  {
    name: 'one_for_all starts again a sibling that was terminated',
    strategy: 'one_for_all',
    intensity: 3,
    periodS: 5,
    children: [worker('a'), worker('b')],
    steps: [{ do: 'terminate_child', id: 'b' }, { do: 'crash', id: 'a' }, { do: 'which_children' }],
  },
  {
    name: 'rest_for_one does not bring back a temporary sibling',
    strategy: 'rest_for_one',
    intensity: 3,
    periodS: 5,
    children: [worker('a'), worker('b'), worker('t', { restart: 'temporary' })],
    steps: [{ do: 'crash', id: 'b' }, { do: 'which_children' }],
  },
  {
    name: 'restart types: permanent, transient and temporary after normal and abnormal exits',
    strategy: 'one_for_one',
    intensity: 10,
    periodS: 5,
    children: [
      worker('p'),
      worker('tr', { restart: 'transient' }),
      worker('tr2', { restart: 'transient' }),
      worker('te', { restart: 'temporary' }),
    ],
    steps: [
      { do: 'finish', id: 'p' },
      { do: 'crash', id: 'p' },
      { do: 'finish', id: 'tr' },
      { do: 'crash', id: 'tr2' },
      { do: 'crash', id: 'te' },
      { do: 'which_children' },
      { do: 'count_children' },
    ],
  },
  {
    name: 'intensity: more than N restarts within the period and the supervisor gives up',
    strategy: 'one_for_one',
    intensity: 2,
    periodS: 5,
    children: abcd.slice(0, 3),
    steps: [
      { do: 'crash', id: 'b' },
      { do: 'crash', id: 'b' },
      { do: 'crash', id: 'b' },
    ],
  },
  {
    name: 'intensity: restarts older than the period are forgotten',
    strategy: 'one_for_one',
    intensity: 1,
    periodS: 1,
    children: [worker('a')],
    // OTP keeps a restart while it is at most `period` whole seconds old; 2.1 s is
    // older than that wherever the second boundaries fall.
    steps: [
      { do: 'crash', id: 'a' },
      { do: 'wait', ms: 2100 },
      { do: 'crash', id: 'a' },
      { do: 'which_children' },
      // Two within the period: one too many.
      { do: 'crash', id: 'a' },
    ],
  },
  {
    name: 'a child that fails to start: earlier ones stop in reverse, later ones never start',
    strategy: 'one_for_one',
    // Troupe retries a failed start as a restart; with intensity 0 it gives up at once,
    // which is what OTP does whatever the intensity.
    intensity: 0,
    periodS: 5,
    children: [worker('a'), worker('b'), worker('bad', { startFails: true }), worker('c')],
    steps: [],
  },
  {
    name: 'shutdown: reverse order, brutal_kill, a budget that runs out, infinity',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    children: [
      worker('a', { shutdown: 'infinity' }),
      worker('b', { shutdown: 100, onShutdown: 'hang' }),
      worker('c', { shutdown: 'brutal_kill' }),
      worker('d', { shutdown: 100 }),
    ],
    steps: [],
  },
  {
    name: 'dynamic children: start, terminate, restart and delete, each answered',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    children: [worker('a')],
    steps: [
      { do: 'start_child', child: worker('d') },
      { do: 'start_child', child: worker('d') },
      { do: 'restart_child', id: 'd' },
      { do: 'delete_child', id: 'd' },
      { do: 'terminate_child', id: 'd' },
      { do: 'start_child', child: worker('d') },
      { do: 'which_children' },
      { do: 'count_children' },
      { do: 'restart_child', id: 'd' },
      { do: 'terminate_child', id: 'd' },
      { do: 'delete_child', id: 'd' },
      { do: 'delete_child', id: 'd' },
      { do: 'terminate_child', id: 'd' },
      { do: 'restart_child', id: 'd' },
      { do: 'which_children' },
    ],
  },
  {
    name: 'a temporary child cannot be restarted: running, then forgotten once terminated',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    children: [worker('a'), worker('t', { restart: 'temporary' })],
    steps: [
      { do: 'restart_child', id: 't' },
      { do: 'terminate_child', id: 't' },
      { do: 'restart_child', id: 't' },
      { do: 'which_children' },
    ],
  },
  {
    name: 'auto_shutdown any_significant: a significant child that ends stops the supervisor',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    autoShutdown: 'any_significant',
    children: [
      worker('a'),
      worker('job', { restart: 'transient', significant: true }),
      worker('c'),
    ],
    steps: [
      // A crash restarts it; only ending normally ends the job.
      { do: 'crash', id: 'job' },
      { do: 'finish', id: 'job' },
    ],
  },
  {
    name: 'auto_shutdown all_significant: once every significant child has ended',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    autoShutdown: 'all_significant',
    children: [
      worker('a'),
      worker('one', { restart: 'transient', significant: true }),
      worker('two', { restart: 'temporary', significant: true }),
    ],
    steps: [
      { do: 'terminate_child', id: 'one' },
      { do: 'which_children' },
      { do: 'crash', id: 'two' },
    ],
  },
  {
    name: 'auto_shutdown: terminating a significant child is not ending by itself',
    strategy: 'one_for_one',
    intensity: 3,
    periodS: 5,
    autoShutdown: 'any_significant',
    children: [worker('a'), worker('job', { restart: 'temporary', significant: true })],
    steps: [{ do: 'terminate_child', id: 'job' }, { do: 'which_children' }],
  },
  {
    name: 'a nested supervisor that gives up is restarted by its parent, then escalates',
    strategy: 'one_for_one',
    intensity: 1,
    periodS: 5,
    children: [
      worker('a'),
      {
        id: 'inner',
        restart: 'permanent',
        supervisor: {
          strategy: 'one_for_one',
          intensity: 0,
          periodS: 5,
          children: [worker('x'), worker('y')],
        },
      },
      worker('b'),
    ],
    steps: [
      { do: 'crash', id: 'x' },
      { do: 'which_children' },
      { do: 'count_children' },
      { do: 'crash', id: 'y' },
    ],
  },
];

const atom = (name: string): string => (/^[a-z][a-z0-9_]*$/.test(name) ? name : `'${name}'`);
const binary = (text: string): string => `"${text.replace(/["\\]/g, '\\$&')}"`;

function childTerm(child: ChildDef | SupervisorDef): string {
  if ('supervisor' in child) {
    const { strategy, intensity, periodS, children } = child.supervisor;
    return `{sup, ${atom(child.id)}, ${child.restart}, ${strategy}, ${intensity}, ${periodS}, [${children.map(childTerm).join(', ')}]}`;
  }
  const shutdown = typeof child.shutdown === 'number' ? String(child.shutdown) : child.shutdown;
  return `{${atom(child.id)}, ${child.restart}, ${shutdown}, ${String(child.significant ?? false)}, ${child.onShutdown ?? 'exit'}, ${String(child.startFails ?? false)}}`;
}

function stepTerm(step: Step): string {
  switch (step.do) {
    case 'crash':
    case 'finish':
    case 'terminate_child':
    case 'restart_child':
    case 'delete_child':
      return `{${step.do}, ${atom(step.id)}}`;
    case 'wait':
      return `{wait, ${step.ms}}`;
    case 'start_child':
      return `{start_child, ${childTerm(step.child)}}`;
    case 'which_children':
    case 'count_children':
    case 'stop':
      return step.do;
  }
}

/** The scenarios as a file of Erlang terms, for `file:consult/1`. */
export function toErlangTerms(list: readonly Scenario[]): string {
  return list
    .map(
      (scenario) =>
        `{${binary(scenario.name)}, ${scenario.strategy}, ${scenario.intensity}, ${scenario.periodS}, ${scenario.autoShutdown ?? 'never'},\n  [${scenario.children.map(childTerm).join(', ')}],\n  [${scenario.steps.map(stepTerm).join(', ')}]}.\n`,
    )
    .join('');
}

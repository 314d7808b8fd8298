// The supervisor's effects as data, and the small interpreter that turns them into
// XState actions. The reducer decides what must happen; only this file makes it
// happen, and only through actions that XState runs after the transition is computed.
import type { Logger } from 'pino';
import type { AnyActorLogic, AnyActorRef, EventObject, Snapshot, Subscription } from 'xstate';
import type { ResolvedChildSpec, Shutdown } from '../child-spec.js';
import type { ChildAnswer, Reply, SupervisorContext, SupervisorEvent } from './types.js';

/** One thing a transition asks the world to do. */
export type Effect =
  /** Call the spec's `start()`; it answers with `child.started` or `child.start-failed`. */
  | {
      readonly kind: 'start';
      readonly id: string;
      readonly generation: number;
      readonly spec: ResolvedChildSpec;
    }
  /** Spawn the child's actor and watch it until it is running and ready. */
  | {
      readonly kind: 'spawn';
      readonly id: string;
      readonly generation: number;
      readonly logic: AnyActorLogic;
      readonly input: unknown;
      readonly isReady: (snapshot: Snapshot<unknown>) => boolean;
    }
  /** Ask a child to drain; it is stopped once drained or once its budget has passed. */
  | {
      readonly kind: 'drain';
      readonly id: string;
      readonly generation: number;
      readonly ref: AnyActorRef;
      readonly isDrained: (snapshot: Snapshot<unknown>) => boolean;
      readonly budget: Shutdown;
    }
  /** Stop a child's actor now. */
  | { readonly kind: 'stop'; readonly ref: AnyActorRef }
  /** Send the supervisor an event later. */
  | { readonly kind: 'timer'; readonly event: SupervisorEvent; readonly delayMs: number }
  /** Give an errored child's last snapshot to its spec's `onError`. */
  | {
      readonly kind: 'on-error';
      readonly id: string;
      readonly ref: AnyActorRef;
      readonly hook: (snapshot: Snapshot<unknown>) => void;
    }
  | { readonly kind: 'reply'; readonly reply: Reply; readonly answer: ChildAnswer }
  | {
      readonly kind: 'log';
      readonly level: 'info' | 'warn' | 'error';
      readonly fields: Readonly<Record<string, unknown>>;
      readonly msg: string;
    };

/** Watchers are subscriptions, not state: kept beside the actor, keyed by the child ref. */
const watchers = new WeakMap<AnyActorRef, Subscription>();

function unwatch(ref: AnyActorRef): void {
  watchers.get(ref)?.unsubscribe();
  watchers.delete(ref);
}

function watch(
  ref: AnyActorRef,
  holds: (snapshot: Snapshot<unknown>) => boolean,
  then: () => void,
): void {
  unwatch(ref);
  const check = (snapshot: Snapshot<unknown>): void => {
    if (!holds(snapshot)) return;
    unwatch(ref);
    then();
  };
  const subscription = ref.subscribe({
    next: check,
    // Errors reach the supervisor as xstate.error.actor events; an observer without
    // an error callback would make XState rethrow them in a timer.
    error: () => undefined,
  });
  watchers.set(ref, subscription);
}

/** The subset of XState's enqueue API the interpreter uses, typed for a supervisor. */
export interface Enqueue {
  assign(
    update: (args: { context: SupervisorContext; spawn: Spawn }) => Partial<SupervisorContext>,
  ): void;
  raise(event: SupervisorEvent, options: { delay: number }): void;
  sendTo(ref: AnyActorRef, event: EventObject): void;
  stopChild(ref: AnyActorRef): void;
  action(
    run: (args: {
      context: SupervisorContext;
      self: { send(event: SupervisorEvent): void };
    }) => void,
  ): void;
}

/** XState's spawner, typed loosely: a supervisor spawns whatever its child specs return. */
export type Spawn = (logic: AnyActorLogic, options: { id: string; input: unknown }) => AnyActorRef;

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Enqueues the actions that carry out `effects`, in order. */
export function interpret(effects: readonly Effect[], enqueue: Enqueue, log: Logger): void {
  for (const effect of effects) {
    switch (effect.kind) {
      case 'start': {
        const { id, generation, spec } = effect;
        enqueue.action(({ self }) => {
          let started: ReturnType<ResolvedChildSpec['start']>;
          try {
            started = spec.start();
          } catch (error) {
            self.send({ type: 'child.start-failed', id, generation, reason: messageOf(error) });
            return;
          }
          self.send({
            type: 'child.started',
            id,
            generation,
            logic: started.logic,
            input: started.input,
          });
        });
        break;
      }
      case 'spawn': {
        const { id, generation, logic, input, isReady } = effect;
        enqueue.assign(({ context, spawn }) => {
          const current = context.children[id];
          if (current === undefined) return {};
          const ref = spawn(logic, { id, input });
          return { children: { ...context.children, [id]: { ...current, ref } } };
        });
        // Spawned actors start once the transition is done; the watcher sees the first
        // snapshot of the running actor, so the next sibling starts after it runs.
        enqueue.action(({ context, self }) => {
          const ref = context.children[id]?.ref;
          if (ref === undefined) return;
          watch(
            ref,
            (snapshot) => snapshot.status === 'active' && isReady(snapshot),
            () => self.send({ type: 'child.ready', id, generation }),
          );
        });
        break;
      }
      case 'drain': {
        const { id, generation, ref, isDrained, budget } = effect;
        enqueue.sendTo(ref, { type: 'shutdown' });
        enqueue.action(({ self }) =>
          watch(ref, isDrained, () => self.send({ type: 'child.drained', id, generation })),
        );
        if (typeof budget === 'number') {
          enqueue.raise({ type: 'child.shutdown-timeout', id, generation }, { delay: budget });
        }
        break;
      }
      case 'stop': {
        const { ref } = effect;
        enqueue.action(() => unwatch(ref));
        enqueue.stopChild(ref);
        break;
      }
      case 'timer':
        enqueue.raise(effect.event, { delay: effect.delayMs });
        break;
      case 'on-error': {
        const { id, ref, hook } = effect;
        enqueue.action(() => {
          try {
            hook(ref.getSnapshot() as Snapshot<unknown>);
          } catch (err) {
            log.error({ err, child: id }, 'child onError hook threw');
          }
        });
        break;
      }
      case 'reply': {
        const { reply, answer } = effect;
        enqueue.action(() => {
          try {
            reply(answer);
          } catch (err) {
            log.error({ err }, 'supervisor request reply threw');
          }
        });
        break;
      }
      case 'log': {
        const { level, fields, msg } = effect;
        enqueue.action(() => log[level](fields, msg));
        break;
      }
    }
  }
}

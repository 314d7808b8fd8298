// Inspection events straight from an XState actor system to listeners, without the copy
// XState makes for its public `system.inspect` observers. XState 5 routes every inspection
// event through the system's `_sendInspectionEvent(event)`, which, once any observer is
// subscribed, copies the event (`{ ...event, rootId }`) and hands the copy to each
// observer through a wrapper: measured at about 20% more CPU per message through a pool
// of no-op workers, almost all of the inspector's attached cost. Here one dispatcher per
// system takes that function's place, calls the direct listeners with XState's own event
// object (never kept: listeners read what they need at once), then calls the original,
// so `system.inspect` observers (a hub, the Stately bridge) still get theirs.
//
// `_sendInspectionEvent` is not public API: when a system does not have it, `attach`
// returns undefined and the caller falls back to `system.inspect`. The inspector tests
// check that the direct path is taken on the XState version the workspace pins.
import type { InspectionEvent } from 'xstate';

type Send = (event: InspectionEvent) => void;

interface SystemLike {
  _sendInspectionEvent?: unknown;
}

interface Dispatch {
  readonly original: Send;
  readonly listeners: Set<Send>;
  readonly dispatcher: Send;
  /** The only listener, while there is exactly one (the usual case: the inspector). */
  single: Send | undefined;
}

const dispatches = new WeakMap<object, Dispatch>();

/**
 * Calls `listener` with every inspection event of `system`; returns the detachment, or
 * undefined when the system has no inspection hook to take the place of.
 */
export function attachDirect(system: object, listener: Send): (() => void) | undefined {
  const target = system as SystemLike;
  let dispatch = dispatches.get(system);
  if (dispatch === undefined) {
    const original = target._sendInspectionEvent;
    if (typeof original !== 'function') return undefined;
    const listeners = new Set<Send>();
    const bound = (original as Send).bind(system);
    const dispatcher: Send = (event) => {
      // One listener (the usual case) is called without iterating the set.
      const single = created.single;
      if (single !== undefined) single(event);
      else for (const each of listeners) each(event);
      bound(event);
    };
    const created: Dispatch = {
      original: original as Send,
      listeners,
      dispatcher,
      single: undefined,
    };
    dispatch = created;
    dispatches.set(system, dispatch);
    target._sendInspectionEvent = dispatcher;
  }
  const current = dispatch;
  // A listener attached twice gets each event once: a Set, and its own wrapper.
  const own: Send = (event) => listener(event);
  current.listeners.add(own);
  current.single = current.listeners.size === 1 ? listener : undefined;
  return () => {
    current.listeners.delete(own);
    current.single = current.listeners.size === 1 ? [...current.listeners][0] : undefined;
    if (current.listeners.size > 0 || dispatches.get(system) !== current) return;
    dispatches.delete(system);
    if (target._sendInspectionEvent === current.dispatcher) {
      target._sendInspectionEvent = current.original;
    }
  };
}

/** True while some listener is attached directly to `system` (for tests). */
export function isAttachedDirectly(system: object): boolean {
  return dispatches.has(system);
}

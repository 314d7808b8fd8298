// Requests about one child, answered: each returns a promise of OTP's answer
// (`{ ok: true }` or the error), so that a caller checks a result instead of a log line.
import type { ChildSpec } from '../child-spec.js';
import type { ChildAnswer, SupervisorRequest } from './types.js';

/** A supervisor actor, as a requester sees it. */
export interface SupervisorRef {
  send(event: SupervisorRequest): void;
  getSnapshot(): { readonly status: string };
}

function ask(ref: SupervisorRef, request: SupervisorRequest): Promise<ChildAnswer> {
  if (ref.getSnapshot().status !== 'active') {
    return Promise.reject(new Error(`supervisor is not running; ${request.type} not sent`));
  }
  return new Promise((resolve) => ref.send({ ...request, reply: resolve }));
}

/** Adds a child after the others and starts it (OTP `start_child`). */
export const startChild = (ref: SupervisorRef, spec: ChildSpec): Promise<ChildAnswer> =>
  ask(ref, { type: 'supervisor.start-child', spec });

/** Stops a child, keeping its spec unless it is temporary (OTP `terminate_child`). */
export const terminateChild = (ref: SupervisorRef, id: string): Promise<ChildAnswer> =>
  ask(ref, { type: 'supervisor.terminate-child', id });

/** Forgets a terminated child (OTP `delete_child`). */
export const deleteChild = (ref: SupervisorRef, id: string): Promise<ChildAnswer> =>
  ask(ref, { type: 'supervisor.delete-child', id });

/** Starts a terminated child again (OTP `restart_child`). */
export const restartChild = (ref: SupervisorRef, id: string): Promise<ChildAnswer> =>
  ask(ref, { type: 'supervisor.restart-child', id });

/** Terminates and deletes a child in one request. */
export const cancelChild = (ref: SupervisorRef, id: string): Promise<ChildAnswer> =>
  ask(ref, { type: 'supervisor.cancel-child', id });

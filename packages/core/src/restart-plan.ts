// OTP restart strategies as a pure function: given the children in start order and
// the one that exited, which siblings must be stopped (in reverse start order) and
// which children started again (in start order).

/** How a supervisor reacts to a child's exit. */
export type RestartStrategy = 'one-for-one' | 'one-for-all' | 'rest-for-one';

/** When a child is restarted: always, only after an abnormal exit, or never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** A child's exit as the supervisor classifies it. */
export type ExitKind = 'normal' | 'abnormal';

/** Whether a child of this restart type is restarted after this kind of exit. */
export function shouldRestart(restart: RestartType, exit: ExitKind): boolean {
  switch (restart) {
    case 'permanent':
      return true;
    case 'transient':
      return exit === 'abnormal';
    case 'temporary':
      return false;
  }
}

/** What a supervisor does about one exit. */
export interface RestartPlan {
  /** Running siblings to stop, in reverse start order. */
  readonly stop: readonly string[];
  /** Children to start again, in start order (the exited one included), running or not. */
  readonly start: readonly string[];
}

/**
 * The restart plan for child `exited` among `order` (all children, in start order).
 * `isRunning` tells which siblings are alive; `restartOf` their restart types.
 */
export function planRestart(
  strategy: RestartStrategy,
  order: readonly string[],
  exited: string,
  isRunning: (id: string) => boolean,
  restartOf: (id: string) => RestartType,
): RestartPlan {
  const index = order.indexOf(exited);
  const affected =
    strategy === 'one-for-one'
      ? [exited]
      : strategy === 'one-for-all'
        ? [...order]
        : order.slice(index < 0 ? order.length : index);
  const stop = affected.filter((id) => id !== exited && isRunning(id)).reverse();
  // Every affected child comes back unless it is temporary, running or not: OTP starts
  // again a transient sibling that had ended normally, and one that was terminated.
  const start = affected.filter((id) => id === exited || restartOf(id) !== 'temporary');
  return { stop, start };
}

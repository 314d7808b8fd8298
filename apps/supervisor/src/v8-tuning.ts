// V8 settings the app chooses for its own process, where a library could not.
//
// Allocation-site pretenuring: V8 watches which object literals survive young-generation
// collections and, past a threshold, allocates a site's objects straight into the old
// generation. XState's interpreter builds a few small objects per action it runs (its
// action arguments among them) that die within the event; after some hundreds of
// thousands of events V8 judges those sites long-lived anyway, and from then on they
// fill the old generation with garbage: more frequent and costlier collections, about
// twice the CPU per event. With the heuristic off, the same pool stays at its first cost.
// Measured in docs/adr/0011: a pool of 4 workers taking one message at a time costs
// about 38 µs of CPU per message with it on and 16 to 17 µs with it off; at batches of 32
// the saving is about a quarter. A command line that names the flag either way is obeyed.
import { setFlagsFromString } from 'node:v8';

const pretenuringFlag = /^--(?:no-)?allocation[-_]site[-_]pretenuring$/;

/** Whether Node's command line or NODE_OPTIONS already chooses allocation-site pretenuring. */
export function choosesPretenuring(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((flag) =>
    pretenuringFlag.test(flag),
  );
}

/**
 * Turns allocation-site pretenuring off for this process unless its command line chose;
 * returns the setting in force, for the start-up log. Call before any work begins: V8
 * reads the flag at each collection, and nothing has been pretenured yet.
 */
export function tuneV8(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): { allocationSitePretenuring: 'off' | 'as the command line chose' } {
  if (choosesPretenuring(execArgv, nodeOptions)) {
    return { allocationSitePretenuring: 'as the command line chose' };
  }
  setFlagsFromString('--no-allocation-site-pretenuring');
  return { allocationSitePretenuring: 'off' };
}

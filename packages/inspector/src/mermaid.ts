// A chart as Mermaid `stateDiagram-v2` text: nested states as composite states,
// parallel regions separated by `--`, final states to `[*]`, transitions labelled with
// their event, guard and delay. State ids are the dotted paths made identifier-safe;
// each state is labelled with its own key.
import type { Chart, ChartState, ChartTransition } from './chart.js';

function idOf(path: string): string {
  return `s_${path.replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** Mermaid reads `;`, `#`, braces and newlines as syntax; labels keep none of them. */
function safe(text: string): string {
  return text.replace(/[;#{}\n\r"]/g, ' ').trim();
}

/** The label of a transition: event (or `after 5000ms`, `always`), then `[guard]`. */
export function transitionLabel(transition: ChartTransition): string {
  let trigger: string;
  switch (transition.kind) {
    case 'after':
      trigger =
        typeof transition.delay === 'number'
          ? `after ${transition.delay}ms`
          : `after ${transition.delay ?? '?'}`;
      break;
    case 'always':
      trigger = 'always';
      break;
    case 'wildcard':
      trigger = '*';
      break;
    case 'event':
      trigger = transition.event.startsWith('xstate.done.actor.')
        ? `done ${transition.event.slice('xstate.done.actor.'.length)}`
        : transition.event.startsWith('xstate.error.actor.')
          ? `error ${transition.event.slice('xstate.error.actor.'.length)}`
          : transition.event;
      break;
  }
  return safe(transition.guard === undefined ? trigger : `${trigger} [${transition.guard}]`);
}

function declare(state: ChartState, indent: string, lines: string[]): void {
  const id = idOf(state.path);
  if (state.states.length === 0) {
    lines.push(`${indent}state "${safe(state.key)}" as ${id}`);
    return;
  }
  lines.push(`${indent}state "${safe(state.key)}" as ${id} {`);
  body(state, `${indent}  `, lines);
  lines.push(`${indent}}`);
}

/** The inside of the root or of a composite state: children, initial, transitions. */
function body(state: ChartState, indent: string, lines: string[]): void {
  state.states.forEach((child, index) => {
    if (state.type === 'parallel' && index > 0) lines.push(`${indent}--`);
    declare(child, indent, lines);
  });
  if (state.initial !== undefined) lines.push(`${indent}[*] --> ${idOf(state.initial)}`);
  for (const child of state.states) {
    if (child.type === 'final') lines.push(`${indent}${idOf(child.path)} --> [*]`);
    for (const transition of child.transitions) {
      const label = transitionLabel(transition);
      if (transition.targets.length === 0) {
        lines.push(`${indent}%% ${idOf(child.path)}: ${label} (no target)`);
        continue;
      }
      for (const target of transition.targets) {
        lines.push(`${indent}${idOf(child.path)} --> ${idOf(target)}: ${label}`);
      }
    }
  }
}

/**
 * Mermaid `stateDiagram-v2` text for a chart. Transitions declared on the machine's
 * root (taken from any state) are drawn from a state labelled `(any state)`.
 *
 * @example
 * ```ts
 * toMermaid(chartOf(processorMachine));
 * // stateDiagram-v2
 * //   state "idle" as s_idle
 * //   …
 * ```
 */
export function toMermaid(chart: Chart): string {
  const lines = ['stateDiagram-v2', `  %% ${safe(chart.id)}`];
  body(chart.root, '  ', lines);
  const fromAnywhere = chart.root.transitions.filter((t) => t.targets.length > 0);
  if (fromAnywhere.length > 0) {
    lines.push('  state "(any state)" as s__any');
    for (const transition of fromAnywhere) {
      for (const target of transition.targets) {
        lines.push(`  s__any --> ${idOf(target)}: ${transitionLabel(transition)}`);
      }
    }
  }
  for (const transition of chart.root.transitions.filter((t) => t.targets.length === 0)) {
    lines.push(`  %% any state: ${transitionLabel(transition)} (no target)`);
  }
  return `${lines.join('\n')}\n`;
}

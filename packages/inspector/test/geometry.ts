// Geometry checks of a drawn chart, shared by the layout test (on the computed layout)
// and the Chromium test (on the boxes the browser drew): labels never overlap each other
// or a state they do not belong to, states nest exactly as the chart does, and edges go
// around every state that is not one of their ends or an ancestor of one.

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A state's box, by path ('' for the machine's own box). */
export interface StateRect extends Rect {
  readonly path: string;
}

/** A text's box and the state it lives in (a state's own text, or an edge label's container). */
export interface TextRect extends Rect {
  readonly name: string;
  readonly home: string;
}

export interface EdgeRoute {
  readonly key: string;
  readonly source: string;
  readonly target: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const epsilon = 0.5;

function intersects(a: Rect, b: Rect): boolean {
  return (
    a.x < b.x + b.width - epsilon &&
    b.x < a.x + a.width - epsilon &&
    a.y < b.y + b.height - epsilon &&
    b.y < a.y + a.height - epsilon
  );
}

function contains(outer: Rect, inner: Rect): boolean {
  return (
    outer.x <= inner.x + epsilon &&
    outer.y <= inner.y + epsilon &&
    outer.x + outer.width >= inner.x + inner.width - epsilon &&
    outer.y + outer.height >= inner.y + inner.height - epsilon
  );
}

/** True when `ancestor` is `path` or one of its ancestors ('' is everyone's). */
export function isSelfOrAncestor(ancestor: string, path: string): boolean {
  return ancestor === '' || ancestor === path || path.startsWith(`${ancestor}.`);
}

/** The lowest state containing both ends of an edge. */
export function edgeHome(source: string, target: string): string {
  const left = source.split('.');
  const right = target.split('.');
  const shared: string[] = [];
  for (let i = 0; i < Math.min(left.length, right.length) - 1; i += 1) {
    if (left[i] !== right[i]) break;
    shared.push(left[i] as string);
  }
  return shared.join('.');
}

/** A horizontal or vertical segment crossing a rectangle's interior (shrunk by 1 px). */
function segmentCrosses(
  a: { x: number; y: number },
  b: { x: number; y: number },
  r: Rect,
): boolean {
  const left = r.x + 1;
  const right = r.x + r.width - 1;
  const top = r.y + 1;
  const bottom = r.y + r.height - 1;
  const minX = Math.min(a.x, b.x);
  const maxX = Math.max(a.x, b.x);
  const minY = Math.min(a.y, b.y);
  const maxY = Math.max(a.y, b.y);
  return maxX > left && minX < right && maxY > top && minY < bottom;
}

/** Every rule the chart breaks, as readable sentences (empty when it reads well). */
export function geometryProblems(
  states: readonly StateRect[],
  texts: readonly TextRect[],
  edges: readonly EdgeRoute[] = [],
): string[] {
  const problems: string[] = [];
  for (let i = 0; i < texts.length; i += 1) {
    for (let j = i + 1; j < texts.length; j += 1) {
      const a = texts[i] as TextRect;
      const b = texts[j] as TextRect;
      if (intersects(a, b)) problems.push(`"${a.name}" overlaps "${b.name}"`);
    }
  }
  for (const text of texts) {
    for (const state of states) {
      const home = isSelfOrAncestor(state.path, text.home);
      if (home && !contains(state, text)) {
        problems.push(`"${text.name}" sticks out of state "${state.path}"`);
      }
      if (!home && intersects(state, text)) {
        problems.push(`"${text.name}" overlaps state "${state.path}"`);
      }
    }
  }
  for (let i = 0; i < states.length; i += 1) {
    for (let j = i + 1; j < states.length; j += 1) {
      const a = states[i] as StateRect;
      const b = states[j] as StateRect;
      if (isSelfOrAncestor(a.path, b.path)) {
        if (!contains(a, b)) problems.push(`state "${a.path}" does not contain "${b.path}"`);
      } else if (isSelfOrAncestor(b.path, a.path)) {
        if (!contains(b, a)) problems.push(`state "${b.path}" does not contain "${a.path}"`);
      } else if (intersects(a, b)) {
        problems.push(`state "${a.path}" overlaps state "${b.path}"`);
      }
    }
  }
  for (const edge of edges) {
    for (const state of states) {
      if (isSelfOrAncestor(state.path, edge.source) || isSelfOrAncestor(state.path, edge.target)) {
        continue;
      }
      for (let k = 1; k < edge.points.length; k += 1) {
        const a = edge.points[k - 1];
        const b = edge.points[k];
        if (a !== undefined && b !== undefined && segmentCrosses(a, b, state)) {
          problems.push(`edge ${edge.key} crosses state "${state.path}"`);
          break;
        }
      }
    }
  }
  return problems;
}

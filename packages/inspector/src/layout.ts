// A chart's drawing, laid out by elkjs (ELK's layered algorithm, the one Stately's
// visualizer uses): each state a box sized to its text, compound states around their
// children, transitions as orthogonal edges routed around the boxes with their labels
// placed where no box or other label is. Computed once per chart (so once per machine)
// in Node and cached; the page receives absolute coordinates and draws them as SVG.
// ELK itself (a 1.5 MB bundle, about 300 ms of CPU to load) is loaded on the first layout,
// not when the package is imported: a process that never draws a chart never pays for it.
import type {
  ELK,
  ELKConstructorArguments,
  ElkExtendedEdge,
  ElkLabel,
  ElkNode,
} from 'elkjs/lib/elk-api.js';
import type { Chart, ChartState, ChartTransition } from './chart.js';
import { transitionLabel } from './mermaid.js';

/** A rectangle in the chart's coordinates (pixels, origin top left). */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A line of text drawn at its box's top left (its baseline is `y + lineHeight - 3`). */
export interface TextLine extends Box {
  readonly text: string;
  /** `title` (the state's key), `meta` (entry / invoke), `internal` (a transition that stays). */
  readonly kind: 'title' | 'meta' | 'internal';
  /** For `internal` lines: the event, so that the page can mark the last one taken. */
  readonly event?: string;
}

/** A state's box and its text. */
export interface StateLayout extends Box {
  readonly path: string;
  readonly type: ChartState['type'];
  readonly initial: boolean;
  readonly lines: readonly TextLine[];
}

/** One drawn edge: every transition from `source` to `target`, labelled once. */
export interface EdgeLayout {
  /** `source->target`, the key the page marks the last transition by. */
  readonly key: string;
  readonly source: string;
  readonly target: string;
  /** The route: start, bends, end. */
  readonly points: readonly { readonly x: number; readonly y: number }[];
  /** The label's box and its lines (one per transition, at most four). */
  readonly label: Box & { readonly lines: readonly string[] };
  /** Every transition's label, for the tooltip. */
  readonly transitions: readonly string[];
}

/** A chart laid out. */
export interface ChartLayout {
  readonly width: number;
  readonly height: number;
  readonly states: readonly StateLayout[];
  readonly edges: readonly EdgeLayout[];
}

/**
 * Text metrics the page must honour: it draws every label in a monospace font of these
 * sizes, so a label's box here is its box on screen (a character is 0.6em wide in the
 * common monospace fonts; the boxes allow 0.64em).
 */
export const chartFont = {
  titleSize: 12,
  textSize: 11,
  lineHeight: 15,
  charWidth: (size: number): number => Math.ceil(size * 0.64 * 100) / 100,
} as const;

const padding = 10;
const maxChars = 46;
const maxLabelLines = 5;
const maxLabelChars = 28;

function clip(text: string): string {
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

function textWidth(text: string, size: number): number {
  return Math.ceil(text.length * chartFont.charWidth(size));
}

/** The state's own text: its key, entry actions, invoked actors, transitions that stay. */
function stateText(state: ChartState, chart: Chart, internal: readonly ChartTransition[]) {
  const lines: { text: string; kind: TextLine['kind']; event?: string }[] = [
    {
      text: state.path === '' ? chart.id : `${state.key}${state.type === 'final' ? ' ◉' : ''}`,
      kind: 'title',
    },
  ];
  if (state.entry.length > 0)
    lines.push({ text: `entry / ${state.entry.join(', ')}`, kind: 'meta' });
  if (state.invoke.length > 0)
    lines.push({ text: `invoke / ${state.invoke.join(', ')}`, kind: 'meta' });
  for (const transition of internal) {
    const target = transition.targets[0];
    const goes =
      target === undefined || target === transition.source ? '' : ` → ${target || chart.id}`;
    const actions = transition.actions.length > 0 ? ` / ${transition.actions.join(', ')}` : '';
    lines.push({
      text: `${transitionLabel(transition)}${goes}${actions}`,
      kind: 'internal',
      event: transition.event,
    });
  }
  return lines.map((line) => ({ ...line, text: clip(line.text) }));
}

/** A transition's label as lines: the trigger, then the guard (each clipped). */
function labelLines(transition: ChartTransition): string[] {
  const full = transitionLabel(transition);
  const guardAt = transition.guard === undefined ? -1 : full.lastIndexOf(' [');
  const lines = guardAt < 0 ? [full] : [full.slice(0, guardAt), full.slice(guardAt + 1)];
  return lines.map((line) =>
    line.length > maxLabelChars ? `${line.slice(0, maxLabelChars - 2)}…]` : line,
  );
}

function isAncestor(ancestor: string, path: string): boolean {
  return ancestor === '' ? path !== '' : path.startsWith(`${ancestor}.`);
}

/** Transitions drawn as edges between two boxes; the rest are listed in their source. */
function isEdge(transition: ChartTransition, target: string): boolean {
  return (
    target !== transition.source &&
    !isAncestor(transition.source, target) &&
    !isAncestor(target, transition.source)
  );
}

let elkLoading: Promise<ELK> | undefined;

/** The one ELK instance, its module loaded on first use. */
function loadElk(): Promise<ELK> {
  elkLoading ??= import('elkjs/lib/elk.bundled.js').then((module) => {
    // A CommonJS module: Node's ESM loader hands over `module.exports`, the constructor
    // itself, while its typings describe an ES default export.
    const Elk = module.default as unknown as new (args?: ELKConstructorArguments) => ELK;
    return new Elk();
  });
  return elkLoading;
}
const cache = new WeakMap<Chart, Promise<ChartLayout>>();

const rootOptions = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '56',
  'elk.layered.spacing.edgeNodeBetweenLayers': '16',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '10',
  'elk.spacing.nodeNode': '36',
  'elk.spacing.edgeNode': '16',
  'elk.spacing.edgeEdge': '10',
  'elk.spacing.edgeLabel': '4',
  'elk.spacing.labelLabel': '6',
  'elk.edgeLabels.inline': 'false',
  'elk.layered.feedbackEdges': 'true',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.layered.cycleBreaking.strategy': 'MODEL_ORDER',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
};

/**
 * Lays out `chart` (once: later calls get the same promise).
 *
 * @example
 * ```ts
 * const layout = await layoutChart(chartOf(processorMachine));
 * layout.states.find((state) => state.path === 'idle'); // { x, y, width, height, … }
 * ```
 */
export function layoutChart(chart: Chart): Promise<ChartLayout> {
  let layout = cache.get(chart);
  if (layout === undefined) {
    layout = computeLayout(chart);
    cache.set(chart, layout);
  }
  return layout;
}

async function computeLayout(chart: Chart): Promise<ChartLayout> {
  const texts = new Map<string, ReturnType<typeof stateText>>();
  const nodes = new Map<string, ElkNode>();
  const edgeInfo = new Map<
    string,
    { source: string; target: string; labels: string[]; lines: string[] }
  >();

  const nodeOf = (state: ChartState, initial: boolean): ElkNode => {
    const internal: ChartTransition[] = [];
    for (const transition of state.transitions) {
      if (transition.targets.length === 0) internal.push(transition);
      for (const target of transition.targets) {
        if (!isEdge(transition, target)) {
          internal.push(transition);
          continue;
        }
        const key = `${transition.source}->${target}`;
        let info = edgeInfo.get(key);
        if (info === undefined) {
          info = { source: transition.source, target, labels: [], lines: [] };
          edgeInfo.set(key, info);
        }
        info.labels.push(transitionLabel(transition));
        info.lines.push(...labelLines(transition));
      }
    }
    const text = stateText(state, chart, [...new Set(internal)]);
    texts.set(state.path, text);
    const width =
      Math.max(
        ...text.map((line) =>
          textWidth(line.text, line.kind === 'title' ? chartFont.titleSize : chartFont.textSize),
        ),
        60,
      ) +
      2 * padding +
      (initial ? 8 : 0);
    const textHeight = text.length * chartFont.lineHeight;
    const node: ElkNode = { id: state.path === '' ? '.' : state.path };
    nodes.set(state.path, node);
    if (state.states.length === 0) {
      node.width = width;
      node.height = textHeight + 2 * padding - 4;
    } else {
      node.layoutOptions = {
        'elk.padding': `[top=${textHeight + padding + 8},left=${padding + 8},bottom=${padding},right=${padding}]`,
        'elk.nodeSize.constraints': '[MINIMUM_SIZE]',
        'elk.nodeSize.minimum': `(${width}, ${textHeight + 2 * padding})`,
        ...(state.type === 'parallel' ? { 'elk.direction': 'DOWN' } : {}),
      };
      node.children = state.states.map((child) => nodeOf(child, state.initial === child.path));
    }
    return node;
  };

  const root = nodeOf(chart.root, false);
  for (const [key, info] of edgeInfo) {
    const shown = info.lines.slice(0, maxLabelLines);
    if (info.lines.length > maxLabelLines) {
      shown[maxLabelLines - 1] = `+${info.labels.length - 1} more`;
    }
    const label: ElkLabel = {
      id: `${key}#label`,
      text: shown.join('\n'),
      width: Math.max(...shown.map((line) => textWidth(line, chartFont.textSize))) + 6,
      height: shown.length * chartFont.lineHeight + 2,
      layoutOptions: { 'elk.edgeLabels.placement': 'CENTER' },
    };
    // Each edge lives in the lowest state containing both ends, as ELK expects.
    const container = nodes.get(commonAncestor(info.source, info.target)) ?? root;
    (container.edges ??= []).push({
      id: key,
      sources: [info.source === '' ? '.' : info.source],
      targets: [info.target === '' ? '.' : info.target],
      labels: [label],
    });
  }
  // The machine's own box is ELK's root graph: its options reach the whole hierarchy.
  const graph: ElkNode = { ...root, layoutOptions: { ...root.layoutOptions, ...rootOptions } };
  const elk = await loadElk();
  const laid = await elk.layout(graph);

  const states: StateLayout[] = [];
  const initials = new Set<string>();
  const collectInitials = (state: ChartState): void => {
    if (state.initial !== undefined) initials.add(state.initial);
    state.states.forEach(collectInitials);
  };
  collectInitials(chart.root);
  const visit = (node: ElkNode): void => {
    const path = node.id === '.' ? '' : node.id;
    const state = findState(chart.root, path);
    const x = node.x ?? 0;
    const y = node.y ?? 0;
    const initial = initials.has(path);
    const lines = (texts.get(path) ?? []).map((line, i): TextLine => {
      const size = line.kind === 'title' ? chartFont.titleSize : chartFont.textSize;
      return {
        ...line,
        x: x + padding + (initial ? 8 : 0),
        y: y + padding - 2 + i * chartFont.lineHeight,
        width: textWidth(line.text, size),
        height: chartFont.lineHeight,
      };
    });
    states.push({
      path,
      type: state?.type ?? 'atomic',
      initial,
      x,
      y,
      width: node.width ?? 0,
      height: node.height ?? 0,
      lines,
    });
    node.children?.forEach(visit);
  };
  visit(laid);

  const drawn: EdgeLayout[] = [];
  const allEdges = collectEdges(laid);
  for (const edge of allEdges) {
    const info = edgeInfo.get(edge.id);
    const section = edge.sections?.[0];
    const label = edge.labels?.[0];
    if (info === undefined || section === undefined || label === undefined) continue;
    drawn.push({
      key: edge.id,
      source: info.source,
      target: info.target,
      points: [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map(
        (point) => ({ x: point.x, y: point.y }),
      ),
      label: {
        x: label.x ?? 0,
        y: label.y ?? 0,
        width: label.width ?? 0,
        height: label.height ?? 0,
        lines: (label.text ?? '').split('\n'),
      },
      transitions: info.labels,
    });
  }
  return {
    width: Math.ceil(laid.width ?? 0),
    height: Math.ceil(laid.height ?? 0),
    states,
    edges: drawn,
  };
}

/** The path of the lowest state containing both `a` and `b` (their parent when siblings). */
function commonAncestor(a: string, b: string): string {
  const left = a.split('.');
  const right = b.split('.');
  const shared: string[] = [];
  for (let i = 0; i < Math.min(left.length, right.length) - 1; i += 1) {
    if (left[i] !== right[i]) break;
    shared.push(left[i] as string);
  }
  return shared.join('.');
}

function collectEdges(node: ElkNode): ElkExtendedEdge[] {
  return [...(node.edges ?? []), ...(node.children ?? []).flatMap(collectEdges)];
}

function findState(state: ChartState, path: string): ChartState | undefined {
  if (state.path === path) return state;
  for (const child of state.states) {
    const found = findState(child, path);
    if (found !== undefined) return found;
  }
  return undefined;
}

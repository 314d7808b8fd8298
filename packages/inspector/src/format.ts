// The supervision tree as terminal text, for `troupe inspect`: one line per actor with
// its kind, state, message in hand and restarts, drawn with box-drawing branches.
import type { TreeNode } from './inspector.js';

function describe(node: TreeNode): string {
  const parts = [node.id, `[${node.kind}]`];
  if (node.status === 'active') parts.push(node.state ?? '');
  else parts.push(`(${node.childStatus ?? node.status})`);
  if (node.messageId !== undefined && node.state !== 'idle' && node.status === 'active') {
    parts.push(`message=${node.messageId}`);
    if (node.attempt !== undefined) parts.push(`attempt=${node.attempt}`);
  }
  if (node.restarts !== undefined && node.restarts > 0) parts.push(`restarts=${node.restarts}`);
  if (node.lastError !== undefined && node.status !== 'active')
    parts.push(`error="${node.lastError}"`);
  return parts.filter((part) => part !== '').join('  ');
}

/**
 * The tree as text, one actor a line.
 *
 * @example
 * ```text
 * root  [supervisor]  running
 * └─ pool:orders  [supervisor]  running
 *    ├─ worker-1  [worker]  consuming.handling  message=m-1  attempt=1
 *    ├─ worker-2  [worker]  idle  restarts=1
 *    └─ consumer  [consumer]  consuming
 * ```
 */
export function formatTree(nodes: readonly TreeNode[]): string {
  const lines: string[] = [];
  const visit = (node: TreeNode, prefix: string, branch: string): void => {
    lines.push(`${prefix}${branch}${describe(node)}`);
    const inner = prefix + (branch === '' ? '' : branch === '└─ ' ? '   ' : '│  ');
    node.children.forEach((child, index) =>
      visit(child, inner, index === node.children.length - 1 ? '└─ ' : '├─ '),
    );
  };
  for (const node of nodes) visit(node, '', '');
  return `${lines.join('\n')}\n`;
}

// The supervision tree as terminal text, for `troupe inspect`.
import { describe, expect, it } from 'vitest';
import { formatTree } from '../src/index.js';

describe('formatTree', () => {
  it('draws the tree with states, messages and restarts', () => {
    const text = formatTree([
      {
        id: 'root',
        path: 'root',
        kind: 'supervisor',
        status: 'active',
        state: 'running',
        children: [
          {
            id: 'pool:orders',
            path: 'root/pool:orders',
            kind: 'supervisor',
            status: 'active',
            state: 'running',
            children: [
              {
                id: 'worker-1',
                path: 'root/pool:orders/worker-1',
                kind: 'worker',
                status: 'active',
                state: 'consuming.handling',
                messageId: 'm-1',
                attempt: 1,
                children: [],
              },
              {
                id: 'worker-2',
                path: 'root/pool:orders/worker-2',
                kind: 'worker',
                status: 'absent',
                childStatus: 'backoff',
                restarts: 2,
                children: [],
              },
            ],
          },
        ],
      },
    ]);
    expect(text).toBe(
      [
        'root  [supervisor]  running',
        '└─ pool:orders  [supervisor]  running',
        '   ├─ worker-1  [worker]  consuming.handling  message=m-1  attempt=1',
        '   └─ worker-2  [worker]  (backoff)  restarts=2',
        '',
      ].join('\n'),
    );
  });
});

// /readyz names what a failing check found (the topology's missing objects, say).
import { afterEach, describe, expect, it } from 'vitest';
import { startOperationsServer, type OperationsServer } from '../src/http.js';

let server: OperationsServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('/readyz', () => {
  it('shows the details of failing checks only', async () => {
    let missing: string[] = ['binding companies → company.updated (company.updated)'];
    server = await startOperationsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: () => '',
      checks: [
        { name: 'broker', check: () => true, detail: () => 'never shown while passing' },
        { name: 'topology', check: () => missing.length === 0, detail: () => ({ missing }) },
      ],
    });
    const url = `http://127.0.0.1:${server.port}/readyz`;
    const failing = await fetch(url);
    expect(failing.status).toBe(503);
    expect(await failing.json()).toEqual({
      ready: false,
      checks: { broker: true, topology: false },
      details: { topology: { missing } },
    });
    missing = [];
    const passing = await fetch(url);
    expect(passing.status).toBe(200);
    expect(await passing.json()).toEqual({ ready: true, checks: { broker: true, topology: true } });
  });
});

// The heartbeat option reaches the broker: the connection's negotiated timeout, as
// `rabbitmqctl list_connections` reports it, is the configured one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { createTransport, uniqueName } from './helpers.js';

const exec = promisify(execFile);

it('negotiates the configured heartbeat', async () => {
  const connectionName = uniqueName('heartbeat');
  const transport = createTransport({ connectionName, heartbeatSeconds: 7 });
  try {
    await transport.ready();
    const { stdout } = await exec('rabbitmqctl', [
      'list_connections',
      'client_properties',
      'timeout',
      '--quiet',
      '--no-table-headers',
    ]);
    const line = stdout.split('\n').find((row) => row.includes(`"${connectionName}"`));
    expect(line?.split('\t').at(-1)).toBe('7');
  } finally {
    await transport.close();
  }
});

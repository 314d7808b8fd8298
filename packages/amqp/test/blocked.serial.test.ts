// The broker's resource alarm: with the memory watermark forced down, RabbitMQ blocks
// publishing connections (connection.blocked) and the connection chart shows
// `connected.blocked`; publishes wait; once the alarm clears it is `connected.flowing`
// again and the waiting publish is confirmed. Restores the watermark whatever happens.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { QueueTopology } from '@troupe/core';
import { afterEach, expect, it } from 'vitest';
import { BrokerAdmin, bytes, createTransport, uniqueName, whenState } from './helpers.js';

const exec = promisify(execFile);
const admin = new BrokerAdmin();
const setWatermark = (fraction: string): Promise<unknown> =>
  exec('rabbitmqctl', ['set_vm_memory_high_watermark', fraction]);

/** The watermark the broker had before the test, to put back exactly. */
async function currentWatermark(): Promise<string> {
  const { stdout } = await exec('rabbitmqctl', ['status']);
  const match = /Memory high watermark setting: ([\d.]+) of available memory/.exec(stdout);
  return match?.[1] ?? '0.4';
}
let previous = '0.4';

afterEach(async () => {
  await setWatermark(previous);
  await admin.cleanup();
});

it('is blocked by the memory alarm, and flows again once it clears', async () => {
  const queue = uniqueName('blocked');
  const topology: QueueTopology[] = [{ queue, bindings: [] }];
  admin.track(topology);
  const transport = createTransport();
  try {
    await transport.declare(topology);
    await transport.publish('', queue, bytes('before'));
    expect(transport.state).toBe('connected.flowing');

    previous = await currentWatermark();
    await setWatermark('0.000001');
    // The broker blocks a connection when it publishes during the alarm.
    let confirmed = false;
    const during = transport.publish('', queue, bytes('during')).then(() => {
      confirmed = true;
    });
    await whenState(transport, (state) => state === 'connected.blocked', 10_000);
    expect(confirmed).toBe(false);

    await setWatermark(previous);
    await whenState(transport, (state) => state === 'connected.flowing', 10_000);
    await during;
    expect(await admin.messageCount(queue)).toBe(2);
    expect(transport.generation).toBe(1);
  } finally {
    await transport.close();
  }
});

// Credentials never reach the logs: a transport refused by the broker (wrong password)
// logs its attempts with the URL redacted, and gives up after its budget.
import { expect, it } from 'vitest';
import { captureLogger, createTransport, whenState } from './helpers.js';

it('never logs the password, even when the broker refuses it', async () => {
  const { logger, logs } = captureLogger();
  const transport = createTransport({
    url: 'amqp://guest:sekret-Xy7@127.0.0.1:5672',
    logger,
    maxReconnectAttempts: 2,
    reconnectBackoff: { kind: 'fixed', delayMs: 10 },
  });
  await whenState(transport, (state) => state === 'failed');
  await expect(transport.ready()).rejects.toThrow(/failed/);
  await transport.close();
  const text = JSON.stringify(logs);
  expect(text).not.toContain('sekret-Xy7');
  expect(text).toContain('amqp://guest:***@127.0.0.1:5672');
  expect(logs.map((log) => log.msg)).toContain('amqp reconnection gave up');
});

// The app end to end on the real RabbitMQ: a child process per replica, events published
// with amqplib, an audit of the embedded store and the dead-letter queues afterwards.
// These suites start and kill processes, so they run in the `serial` project.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  answers,
  AppProcess,
  companyEvents,
  eventually,
  expectedCompanies,
  leftoverProcesses,
  RawBroker,
  storedVersions,
  tempStorePath,
  Vhost,
  type TestEvent,
} from './harness.js';

describe('the supervisor app on RabbitMQ', () => {
  let vhost: Vhost;
  let broker: RawBroker;
  let store: { path: string; dispose(): void };
  const apps: AppProcess[] = [];

  const start = async (): Promise<AppProcess> => {
    const app = new AppProcess({
      TROUPE_AMQP_URL: vhost.url,
      TROUPE_STORE: `sqlite:${store.path}`,
    });
    apps.push(app);
    await app.started();
    return app;
  };

  /** Every valid event's effect is in the store, every invalid one in the DLQ, queues empty. */
  const audit = async (events: readonly TestEvent[]): Promise<void> => {
    const expected = expectedCompanies(events);
    const invalid = events.filter((event) => !event.valid).map((event) => event.messageId);
    await eventually(
      async () => (await broker.depth('company.updated')) === 0,
      60_000,
      'company.updated to be empty',
    );
    // Waits for every invalid message by id, not for a count: a kill between a dead
    // letter's publish and its ack dead-letters that message twice, and such copies would
    // reach the count while the last invalid message is still in flight.
    const dead: { messageId: string; headers: Record<string, unknown> }[] = [];
    await eventually(
      async () => {
        dead.push(...(await broker.drain('company.updated.dead')));
        const ids = new Set(dead.map((message) => message.messageId));
        return invalid.every((id) => ids.has(id));
      },
      30_000,
      'every invalid message to be dead-lettered',
    );
    for (const app of apps) {
      if (app.child.exitCode === null && app.child.signalCode === null) {
        app.kill('SIGTERM');
        expect((await app.exited).code).toBe(0);
      }
    }
    dead.push(...(await broker.drain('company.updated.dead')));
    // At least once: a kill between a dead letter's publish and its ack dead-letters
    // that message again, so each invalid message is there once or more, and no other.
    expect([...new Set(dead.map((message) => message.messageId))].sort()).toEqual(
      [...invalid].sort(),
    );
    for (const message of dead) {
      expect(String(message.headers['x-troupe-reason'])).toMatch(/^INVALID_MESSAGE: /);
    }
    const { versions, count } = await storedVersions(store.path, expected.keys());
    expect(count).toBe(expected.size);
    expect(Object.fromEntries(versions)).toEqual(Object.fromEntries(expected));
  };

  beforeEach(async () => {
    vhost = new Vhost();
    await vhost.create();
    broker = new RawBroker(vhost.url);
    store = tempStorePath();
  });

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.terminate();
    await broker.close();
    await vhost.dispose();
    store.dispose();
  });

  afterAll(() => {
    // No app this suite started is left running (nor anything such an app started).
    expect(leftoverProcesses()).toEqual([]);
  });

  // The kill tests below are only worth something if SIGKILL reaches the app itself.
  it('SIGKILL ends the app itself: its port refuses afterwards', async () => {
    const app = await start();
    const url = app.httpUrl();
    expect(url).toBeDefined();
    expect(await answers(`${url ?? ''}/healthz`)).toBe(true);
    app.kill('SIGKILL');
    expect(await app.leftBehind()).toBeUndefined();
    expect(await answers(`${url ?? ''}/healthz`)).toBe(false);
  });

  it('processes thousands of events: exact store, exact dead letters', async () => {
    await start();
    const events = companyEvents(3000);
    await broker.publish(events);
    await audit(events);
  });

  it('SIGKILL mid-stream and a restart lose nothing', async () => {
    const first = await start();
    const all = companyEvents(4500);
    const events = all.slice(0, 4000);
    const more = all.slice(4000);
    await broker.publish(events);
    await eventually(
      async () => (await broker.depth('company.updated')) < 3500,
      30_000,
      'the app to be consuming',
    );
    first.kill('SIGKILL');
    expect(await first.leftBehind()).toBeUndefined();
    await broker.publish(more);
    await start();
    await audit([...events, ...more]);
  });

  it('two replicas share the queues; one killed, nothing lost', async () => {
    const [one] = await Promise.all([start(), start()]);
    const all = companyEvents(4500);
    const events = all.slice(0, 4000);
    const more = all.slice(4000);
    await broker.publish(events);
    await eventually(
      async () => (await broker.depth('company.updated')) < 3500,
      30_000,
      'the replicas to be consuming',
    );
    one?.kill('SIGKILL');
    expect(await one?.leftBehind()).toBeUndefined();
    // Only the survivor can take these; what the killed one had taken was requeued.
    await broker.publish(more);
    await audit([...events, ...more]);
  });

  it('SIGTERM under load drains with exit code 0 and loses nothing', async () => {
    const app = await start();
    const events = companyEvents(4000);
    await broker.publish(events);
    await eventually(
      async () => (await broker.depth('company.updated')) < 3800,
      30_000,
      'the app to be consuming',
    );
    app.kill('SIGTERM');
    const exit = await app.exited;
    expect(exit.code).toBe(0);
    expect(app.logged('drained; bye')).toHaveLength(1);
    // What it did not get to stays in the queue for the next process.
    await start();
    await audit(events);
  });
});

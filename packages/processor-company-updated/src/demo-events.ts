// The example configuration's demo events (`demo.module` in troupe.config.json): event
// number `n` of the demo publisher, for the three company processors.

/** One event for the demo publisher to publish. */
export interface DemoEvent {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: string;
}

/**
 * Event number `n` of the demo: mostly company updates (every 7th one stale), now and
 * then an invalidation or a sync batch, and every 25th an invalid message that lands in
 * a dead-letter queue.
 */
export function companyDemoEvent(n: number): DemoEvent {
  const exchange = 'companies';
  const id = `c-${n % 50}`;
  if (n % 25 === 0) return { exchange, routingKey: 'company.updated', body: '{"id": "broken"' };
  if (n % 20 === 0) {
    const companies = Array.from({ length: 10 }, (_, i) => ({
      id: `c-${(n + i) % 50}`,
      name: `Company ${(n + i) % 50}`,
      version: n,
    }));
    return { exchange, routingKey: 'company.sync', body: JSON.stringify({ companies }) };
  }
  if (n % 11 === 0) {
    return {
      exchange,
      routingKey: 'company.invalidated',
      body: JSON.stringify({ id, reason: 'demo' }),
    };
  }
  const version = n % 7 === 0 ? 0 : n;
  return {
    exchange,
    routingKey: 'company.updated',
    body: JSON.stringify({ id, name: `Company ${n % 50}`, version }),
  };
}

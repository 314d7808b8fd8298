// The batched consumer a careful team writes by hand: the deliveries that arrived
// together are written in one transaction and acked with one `multiple` ack. Run by the
// end-to-end benchmark in a process of its own, as the Troupe app is, and observed the
// same way.
import { connect, type ConsumeMessage } from 'amqplib';
import { args, commitCounter, decode, groupPrefetch, openDb, upsertSql } from './shared.js';

const { url, queue, path } = args();
const db = openDb(path);
const commits = commitCounter();
const upsert = db.prepare(upsertSql);
const model = await connect(url);
const channel = await model.createChannel();
await channel.prefetch(groupPrefetch);
let pending: ConsumeMessage[] = [];
let scheduled = false;
const writeAll = db.transaction((companies: { id: string; version: number }[]) => {
  for (const company of companies) {
    upsert.run(company.id, JSON.stringify(company), company.version);
  }
});
const flush = (): void => {
  scheduled = false;
  const batch = pending;
  pending = [];
  const valid: { id: string; version: number }[] = [];
  for (const message of batch) {
    const company = decode(message);
    if (company === undefined) channel.nack(message, false, false);
    else valid.push(company);
  }
  writeAll(valid);
  if (valid.length > 0) {
    commits.counts.transactions += 1;
    commits.counts.messages += valid.length;
  }
  const last = batch.at(-1);
  if (last !== undefined) channel.ack(last, true);
};
await channel.consume(queue, (message) => {
  if (message === null) return;
  pending.push(message);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
process.once('SIGTERM', () => {
  void model.close().finally(() => {
    commits.write();
    db.close();
    process.exit(0);
  });
});

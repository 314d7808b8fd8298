// The per-message consumer a team writes by hand: amqplib + better-sqlite3, one write
// (one commit) and one ack per delivery. Run by the end-to-end benchmark in a process
// of its own, as the Troupe app is, and observed the same way.
import { connect } from 'amqplib';
import { args, commitCounter, decode, openDb, upsertSql } from './shared.js';

const { url, queue, path } = args();
const db = openDb(path);
const commits = commitCounter();
const upsert = db.prepare(upsertSql);
const model = await connect(url);
const channel = await model.createChannel();
await channel.prefetch(64);
await channel.consume(queue, (message) => {
  if (message === null) return;
  const company = decode(message);
  if (company === undefined) {
    channel.nack(message, false, false);
    return;
  }
  upsert.run(company.id, JSON.stringify(company), company.version);
  commits.counts.transactions += 1;
  commits.counts.messages += 1;
  channel.ack(message);
});
process.once('SIGTERM', () => {
  void model.close().finally(() => {
    commits.write();
    db.close();
    process.exit(0);
  });
});

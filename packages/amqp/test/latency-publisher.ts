// The latency benchmark's publisher, in a process of its own (a producer is another
// service, and its timers and garbage must not share the measured consumer's event loop):
// publishes `total` messages to `queue` paced at one per millisecond on the monotonic
// clock, each carrying the moment it left in its message id (`<i>:<process.hrtime ns>`).
// CLOCK_MONOTONIC is one clock for every process of the machine, so the consumer reads
// publish → ack from it exactly.
//
//   node --import tsx packages/amqp/test/latency-publisher.ts <queue> <total>
import { connect } from 'amqplib';
import { body } from './bench-work.js';
import { brokerUrl } from './helpers.js';

const [queue, totalArg] = process.argv.slice(2);
if (queue === undefined || totalArg === undefined) {
  throw new Error('usage: latency-publisher.ts <queue> <total>');
}
const total = Number(totalArg);

// Nagle off, as Troupe's transport sets it: with it on, a lone publish can wait for the
// broker's delayed ACK (up to 40 ms on Linux loopback).
const model = await connect(brokerUrl, { noDelay: true });
const channel = await model.createChannel();
const begin = process.hrtime.bigint();
for (let i = 0; i < total; i += 1) {
  // Message i leaves at begin + i ms (a late timer sends the ones due at once).
  const wait = Number(begin + BigInt(i) * 1_000_000n - process.hrtime.bigint()) / 1e6;
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  channel.sendToQueue(queue, body, {
    messageId: `${i}:${process.hrtime.bigint()}`,
    contentType: 'application/json',
  });
}
await channel.close();
await model.close();

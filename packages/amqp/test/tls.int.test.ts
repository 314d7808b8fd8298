// amqps:// end to end without reconfiguring the shared broker: a TLS terminator in the
// test (Node's tls server, requiring a client certificate signed by a throwaway CA made
// with openssl) forwards the bytes to the broker's plain port. The transport must trust
// the CA and present its client certificate and key.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import type { QueueTopology } from '@troupe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerAdmin,
  bytes,
  Collector,
  createTransport,
  uniqueName,
  whenState,
} from './helpers.js';

const exec = promisify(execFile);
let dir: string;
let server: Server;
let port: number;
let ca: Buffer;
let clientCert: Buffer;
let clientKey: Buffer;
const clientNames: string[] = [];

async function openssl(...args: string[]): Promise<void> {
  await exec('openssl', args, { cwd: dir });
}

async function issue(name: string, cn: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'troupe-tls-'));
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=troupe-test-ca',
  );
  await issue('server', 'localhost', 'subjectAltName=DNS:localhost\n');
  await issue('client', 'troupe-client', 'extendedKeyUsage=clientAuth\n');
  ca = await readFile(join(dir, 'ca.crt'));
  clientCert = await readFile(join(dir, 'client.crt'));
  clientKey = await readFile(join(dir, 'client.key'));
  server = createServer(
    {
      key: await readFile(join(dir, 'server.key')),
      cert: await readFile(join(dir, 'server.crt')),
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket: TLSSocket) => {
      const subject = socket.getPeerCertificate().subject as { CN?: string } | undefined;
      clientNames.push(subject?.CN ?? '?');
      const upstream = netConnect(5672, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('amqps://', () => {
  it('connects with the CA, the client certificate and key, and carries messages', async () => {
    const admin = new BrokerAdmin();
    const queue = uniqueName('tls');
    const topology: QueueTopology[] = [{ queue, bindings: [] }];
    admin.track(topology);
    const transport = createTransport({
      url: `amqps://guest:guest@localhost:${port}`,
      tls: { ca, cert: clientCert, key: clientKey },
    });
    try {
      await transport.declare(topology);
      const collector = new Collector();
      collector.onEach = (delivery) => delivery.ack();
      await transport.consume(queue, { prefetch: 1 }, collector.onDelivery);
      await transport.publish('', queue, bytes('secret'), { messageId: 'tls-1' });
      await collector.until(1);
      expect(collector.deliveries[0]?.messageId).toBe('tls-1');
      expect(clientNames).toContain('troupe-client');
    } finally {
      await transport.close();
      await admin.cleanup();
    }
  });

  it('fails without a client certificate, and gives up after its budget', async () => {
    const transport = createTransport({
      url: `amqps://guest:guest@localhost:${port}`,
      tls: { ca },
      maxReconnectAttempts: 0,
    });
    await whenState(transport, (state) => state === 'failed');
    expect(transport.generation).toBe(0);
    await transport.close();
  });

  it('refuses a broker certificate from an unknown CA', async () => {
    const transport = createTransport({
      url: `amqps://guest:guest@localhost:${port}`,
      tls: { cert: clientCert, key: clientKey },
      maxReconnectAttempts: 0,
    });
    await whenState(transport, (state) => state === 'failed');
    expect(transport.connection.getSnapshot().context.lastError).toMatch(/certificate/i);
    await transport.close();
  });
});

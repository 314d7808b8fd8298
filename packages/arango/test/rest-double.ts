// A REST double of ArangoDB's documented HTTP API, on node:http: NOT an ArangoDB. It
// checks each request the adapter makes against the documented shape (path under
// /_db/<name>/, method, JSON body, Basic auth, every AQL bind parameter declared and
// supplied), answers with the documented response bodies (cursor results, collection
// descriptions, error objects with `errorNum`), and executes the adapter's own AQL
// queries — and only those — on documents held in memory. What it cannot check is that
// ArangoDB runs those AQL texts the same way: the live suite does (ARANGO_URL).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  bulkWriteQuery,
  countQuery,
  getQuery,
  patchQuery,
  removeQuery,
  upsertIfNewerQuery,
  upsertQuery,
} from '../src/index.js';

type Doc = Record<string, unknown>;

/** One request as the double received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

/** An ArangoDB error response, as documented: `{ error, code, errorNum, errorMessage }`. */
export interface ArangoErrorReply {
  readonly status: number;
  readonly errorNum: number;
  readonly errorMessage: string;
}

/** A problem with a request: the double answers it with a 400 and records it here. */
export type Violation = string;

const keyPattern = /^[\w\-:.@()+,=;$!*'%]{1,254}$/;
const collectionPattern = /^[A-Za-z_][\w-]{0,255}$/;

class ArangoFailure extends Error {
  constructor(
    readonly status: number,
    readonly errorNum: number,
    message: string,
  ) {
    super(message);
  }
}

/** The bind parameters an AQL text declares: `@name` values and `@@name` collections. */
export function declaredBindParameters(query: string): Set<string> {
  const names = new Set<string>();
  for (const match of query.matchAll(/(@@?)([A-Za-z_][\w]*)/g)) {
    names.add(match[1] === '@@' ? `@${match[2]}` : (match[2] ?? ''));
  }
  return names;
}

/** The REST double. `start()` listens on 127.0.0.1 on a free port. */
export class ArangoRestDouble {
  readonly database: string;
  readonly username: string;
  readonly password: string;
  readonly requests: RecordedRequest[] = [];
  readonly violations: Violation[] = [];
  readonly collections = new Map<string, Map<string, Doc>>();
  /** Replies queued for the next cursor requests (fault injection). */
  readonly cursorFaults: ArangoErrorReply[] = [];
  /** Milliseconds to wait before answering each request. */
  delayMs = 0;
  /**
   * Keys whose documents the double refuses as a unique index would (1210 "unique
   * constraint violated"): a document-level error, failing the whole query it is in.
   */
  readonly refusedKeys = new Set<string>();
  #gate: Promise<void> | undefined;
  #arrivals: (() => void)[] = [];

  /** Holds every answer until the returned function is called (a slow server, without a clock). */
  pause(): () => void {
    let release = (): void => undefined;
    this.#gate = new Promise<void>((resolve) => {
      release = () => {
        this.#gate = undefined;
        resolve();
      };
    });
    return release;
  }

  /** Resolves when the next request has arrived (and been recorded). */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => this.#arrivals.push(resolve));
  }
  #server: Server | undefined;
  #rev = 0;
  #collectionId = 1000;

  readonly #tls: { readonly key: string | Buffer; readonly cert: string | Buffer } | undefined;

  constructor(
    options: {
      database?: string;
      username?: string;
      password?: string;
      /** Serve https with this key and certificate. */
      tls?: { key: string | Buffer; cert: string | Buffer };
    } = {},
  ) {
    this.database = options.database ?? 'troupe';
    this.username = options.username ?? 'troupe';
    this.password = options.password ?? 'secret';
    this.#tls = options.tls;
  }

  async start(): Promise<string> {
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      void this.#handle(request, response);
    };
    const server: Server =
      this.#tls === undefined ? createServer(handler) : createTlsServer(this.#tls, handler);
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return `${this.#tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests to the cursor API, with their parsed bodies. */
  get cursorRequests(): { query: string; bindVars: Record<string, unknown> }[] {
    return this.requests
      .filter((r) => r.method === 'POST' && r.path === `/_db/${this.database}/_api/cursor`)
      .map((r) => r.body as { query: string; bindVars: Record<string, unknown> });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://double');
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      this.violations.push(`${request.method} ${url.pathname}: body is not JSON`);
      this.#reply(response, 400, {
        error: true,
        code: 400,
        errorNum: 600,
        errorMessage: 'invalid JSON',
      });
      return;
    }
    this.requests.push({
      method: request.method ?? '',
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body,
    });
    for (const arrived of this.#arrivals.splice(0)) arrived();
    if (this.#gate !== undefined) await this.#gate;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    try {
      this.#authorize(request);
      const prefix = `/_db/${this.database}`;
      if (!url.pathname.startsWith(`${prefix}/`)) {
        throw new ArangoFailure(404, 1228, `database not found`);
      }
      const route = `${request.method ?? ''} ${url.pathname.slice(prefix.length)}`;
      const described = /^GET \/_api\/collection\/([^/]+)$/.exec(route);
      if (described !== null) {
        this.#reply(
          response,
          200,
          this.#describeCollection(decodeURIComponent(described[1] ?? '')),
        );
        return;
      }
      if (raw !== '' && !/^application\/json/.test(request.headers['content-type'] ?? '')) {
        this.violations.push(`${route}: content-type ${request.headers['content-type'] ?? ''}`);
      }
      switch (route) {
        case 'GET /_api/version':
          this.#reply(response, 200, { server: 'arango', version: '3.12.4', license: 'community' });
          return;
        case 'POST /_api/collection':
          this.#reply(response, 200, this.#createCollection(body));
          return;
        case 'POST /_api/index':
          this.#reply(response, 201, this.#ensureIndex(url.searchParams.get('collection'), body));
          return;
        case 'POST /_api/cursor':
          this.#reply(response, 201, this.#cursor(body));
          return;
        default:
          this.violations.push(`unexpected request ${route}`);
          throw new ArangoFailure(404, 404, 'unknown path');
      }
    } catch (error) {
      if (error instanceof ArangoFailure) {
        this.#reply(response, error.status, {
          error: true,
          code: error.status,
          errorNum: error.errorNum,
          errorMessage: error.message,
        });
        return;
      }
      this.#reply(response, 500, {
        error: true,
        code: 500,
        errorNum: 4,
        errorMessage: String(error),
      });
    }
  }

  #reply(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(body));
  }

  #authorize(request: IncomingMessage): void {
    const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      throw new ArangoFailure(401, 11, 'not authorized to execute this request');
    }
  }

  /** POST /_api/collection: `{ name, … }` → the collection's description, or 1207 / 1208. */
  #createCollection(body: unknown): Doc {
    const name = (body as { name?: unknown } | undefined)?.name;
    if (typeof name !== 'string') {
      this.violations.push('POST /_api/collection without a name');
      throw new ArangoFailure(400, 1208, 'illegal name');
    }
    if (!collectionPattern.test(name)) throw new ArangoFailure(400, 1208, 'illegal name');
    if (this.collections.has(name)) throw new ArangoFailure(409, 1207, 'duplicate name');
    this.collections.set(name, new Map());
    this.#collectionId += 1;
    return {
      error: false,
      code: 200,
      id: String(this.#collectionId),
      name,
      type: 2,
      status: 3,
      isSystem: false,
      waitForSync: false,
    };
  }

  /** GET /_api/collection/<name>: the collection's description, or 1203. */
  #describeCollection(name: string): Doc {
    if (!this.collections.has(name)) {
      throw new ArangoFailure(404, 1203, `collection or view not found: ${name}`);
    }
    return { error: false, code: 200, name, type: 2, status: 3, isSystem: false };
  }

  /** Indexes ensured, by collection (POST /_api/index?collection=<name>). */
  readonly indexes = new Map<string, Doc[]>();

  /** POST /_api/index?collection=<name>: `{ type, fields, … }` → the index's description. */
  #ensureIndex(collection: string | null, body: unknown): Doc {
    if (collection === null || !this.collections.has(collection)) {
      throw new ArangoFailure(404, 1203, `collection or view not found: ${String(collection)}`);
    }
    const index = (body ?? {}) as Doc;
    if (typeof index['type'] !== 'string' || !Array.isArray(index['fields'])) {
      this.violations.push('POST /_api/index without type and fields');
      throw new ArangoFailure(400, 10, 'bad parameter');
    }
    const existing = this.indexes.get(collection) ?? [];
    const same = existing.find((i) => JSON.stringify(i) === JSON.stringify(index));
    if (same === undefined) existing.push(index);
    this.indexes.set(collection, existing);
    return {
      ...index,
      id: `${collection}/${existing.indexOf(same ?? index) + 1}`,
      isNewlyCreated: same === undefined,
      error: false,
      code: same === undefined ? 201 : 200,
    };
  }

  /** POST /_api/cursor: `{ query, bindVars, … }` → `{ result, hasMore: false, … }`. */
  #cursor(body: unknown): Doc {
    const { query, bindVars } = (body ?? {}) as { query?: unknown; bindVars?: unknown };
    if (typeof query !== 'string' || query.trim() === '') {
      this.violations.push('cursor request without a query');
      throw new ArangoFailure(400, 1502, 'query is empty');
    }
    const vars = (bindVars ?? {}) as Record<string, unknown>;
    if (typeof vars !== 'object' || Array.isArray(vars)) {
      this.violations.push('cursor bindVars is not an object');
      throw new ArangoFailure(400, 1552, 'bind parameter type');
    }
    const declared = declaredBindParameters(query);
    for (const name of declared) {
      if (!(name in vars)) {
        this.violations.push(`bind parameter ${name} declared but not supplied`);
        throw new ArangoFailure(
          400,
          1551,
          `no value specified for declared bind parameter '${name}'`,
        );
      }
    }
    for (const name of Object.keys(vars)) {
      if (!declared.has(name)) {
        this.violations.push(`bind parameter ${name} supplied but not declared`);
        throw new ArangoFailure(
          400,
          1552,
          `bind parameter '${name}' was not declared in the query`,
        );
      }
    }
    const fault = this.cursorFaults.shift();
    if (fault !== undefined)
      throw new ArangoFailure(fault.status, fault.errorNum, fault.errorMessage);
    const result = this.#execute(query, vars);
    return {
      result,
      hasMore: false,
      cached: false,
      extra: { warnings: [], stats: { writesExecuted: 0, writesIgnored: 0, scannedFull: 0 } },
      error: false,
      code: 201,
    };
  }

  #collection(vars: Record<string, unknown>): [string, Map<string, Doc>] {
    const name = vars['@collection'];
    if (typeof name !== 'string') throw new ArangoFailure(400, 1553, 'bind parameter type');
    const collection = this.collections.get(name);
    if (collection === undefined) {
      throw new ArangoFailure(404, 1203, `AQL: collection or view not found: ${name}`);
    }
    return [name, collection];
  }

  #store(name: string, collection: Map<string, Doc>, doc: Doc): void {
    const key = doc['_key'];
    if (typeof key !== 'string' || !keyPattern.test(key)) {
      throw new ArangoFailure(400, 1221, 'illegal document key');
    }
    this.#rev += 1;
    collection.set(key, { ...doc, _id: `${name}/${key}`, _rev: `_${this.#rev.toString(36)}` });
  }

  /**
   * {@link bulkWriteQuery}: every collection's writes, each with its own version guard,
   * in one transaction. Validated first: a refused document (illegal key, a key in
   * `refusedKeys`) or a missing collection fails the query and writes nothing.
   */
  #bulkWrite(collections: number, vars: Record<string, unknown>): unknown[] {
    const targets: [string, Map<string, Doc>, { i: number; doc: Doc; field: string | null }[]][] =
      [];
    for (let c = 0; c < collections; c += 1) {
      const [name, collection] = this.#collection({ '@collection': vars[`@c${c}`] });
      const writes = vars[`w${c}`] as { i: number; doc: Doc; field: string | null }[];
      const keys = new Set<string>();
      for (const { doc } of writes) {
        const key = doc['_key'];
        if (typeof key !== 'string' || !keyPattern.test(key)) {
          throw new ArangoFailure(400, 1221, 'illegal document key');
        }
        if (this.refusedKeys.has(key)) {
          throw new ArangoFailure(
            409,
            1210,
            `unique constraint violated - in index, conflicting key: ${key}`,
          );
        }
        // The adapter never repeats a key in one query (whether a query reads its own
        // writes is not something to rely on): hold it to that.
        if (keys.has(key)) this.violations.push(`key ${key} twice in one bulkWrite query`);
        keys.add(key);
      }
      targets.push([name, collection, writes]);
    }
    return [
      targets.map(([name, collection, writes]) => {
        const written: number[] = [];
        for (const { i, doc, field } of writes) {
          const old = collection.get(doc['_key'] as string);
          if (field !== null && old !== undefined) {
            const current = old[field];
            const next = doc[field];
            if (typeof current === 'number' && !(typeof next === 'number' && current < next)) {
              continue;
            }
          }
          this.#store(name, collection, doc);
          written.push(i);
        }
        return written;
      }),
    ];
  }

  /** Executes the adapter's queries (matched by their text) with their documented semantics. */
  #execute(query: string, vars: Record<string, unknown>): unknown[] {
    const collections = Object.keys(vars).filter((name) => /^@c\d+$/.test(name)).length;
    if (collections > 0 && query === bulkWriteQuery(collections)) {
      return this.#bulkWrite(collections, vars);
    }
    const [name, collection] = this.#collection(vars);
    switch (query) {
      case getQuery: {
        const stored = collection.get(String(vars['key']));
        if (stored === undefined) return [null];
        const { _id: _id, _rev: _rev, ...rest } = stored;
        return [rest];
      }
      case countQuery:
        return [collection.size];
      case removeQuery:
        return collection.delete(String(vars['key'])) ? [1] : [];
      case patchQuery: {
        const doc = vars['doc'] as Doc;
        const stored = collection.get(String(doc['_key']));
        this.#store(name, collection, { ...stored, ...doc });
        return [1];
      }
      case upsertQuery:
      case upsertIfNewerQuery: {
        const docs = vars['docs'] as Doc[];
        const field = vars['field'] as string | undefined;
        // A query is one transaction: validate first, so that a failure writes nothing.
        for (const doc of docs) {
          if (typeof doc['_key'] !== 'string' || !keyPattern.test(doc['_key'])) {
            throw new ArangoFailure(400, 1221, 'illegal document key');
          }
        }
        let written = 0;
        for (const doc of docs) {
          const old = collection.get(doc['_key'] as string);
          if (field !== undefined && old !== undefined) {
            const current = old[field];
            const next = doc[field];
            if (typeof current === 'number' && !(typeof next === 'number' && current < next)) {
              continue;
            }
          }
          this.#store(name, collection, doc);
          written += 1;
        }
        return [written];
      }
      default:
        this.violations.push(`unknown query: ${query}`);
        throw new ArangoFailure(400, 1501, 'the REST double runs only the adapter’s queries');
    }
  }
}

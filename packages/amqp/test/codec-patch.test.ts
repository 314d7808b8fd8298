// amqplib's field-table decoder as patched here (patches/amqplib@2.3.1.patch): the
// same values as an encode/decode round trip always gave, and no stack overflow on
// tables nested far deeper than a recursive decoder survives.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nestedTable } from './hostile.js';

const require = createRequire(import.meta.url);
// Not an exported subpath: reached through the package's own directory.
const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
  encodeTable(buffer: Buffer, value: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
};

function roundTrip(value: Record<string, unknown>): Record<string, unknown> {
  const buffer = Buffer.alloc(65_536);
  const end = codec.encodeTable(buffer, value, 0);
  return codec.decodeFields(buffer.subarray(4, end));
}

/** A table nested `depth` levels (`depth - 1` links `n`), as wire bytes (the encoder recurses). */
function deepWire(depth: number): Buffer {
  const leaf = Buffer.concat([
    Buffer.from([4]),
    Buffer.from('leaf'),
    Buffer.from('b'),
    Buffer.from([7]),
  ]);
  const links = depth - 1;
  const wire = Buffer.alloc(links * 7 + leaf.length);
  for (let level = 0; level < links; level += 1) {
    const offset = level * 7;
    wire.writeUInt8(1, offset);
    wire.write('n', offset + 1);
    wire.write('F', offset + 2);
    wire.writeUInt32BE(wire.length - offset - 7, offset + 3);
  }
  leaf.copy(wire, links * 7);
  return wire;
}

describe('patched decodeFields', () => {
  it('decodes every field type, nested tables and arrays, as before', () => {
    const value = {
      int: 1,
      negative: -5,
      big: 2 ** 40,
      float: 1.5,
      text: 'héllo',
      yes: true,
      nothing: null,
      bytes: Buffer.from('hi'),
      stamp: { '!': 'timestamp', value: 1234 },
      table: { a: { b: { c: 'd' } }, list: [1, 'two', { three: [3, [4, []]] }, []] },
      empty: {},
      list: [[[]]],
    };
    expect(roundTrip(value)).toEqual(value);
  });

  it('decodes a table nested 20,000 deep without overflowing the stack', () => {
    let decoded: unknown = codec.decodeFields(deepWire(20_000));
    let depth = 0;
    while (typeof decoded === 'object' && decoded !== null && 'n' in decoded) {
      decoded = decoded.n;
      depth += 1;
    }
    expect(depth).toBe(19_999);
    expect(decoded).toEqual({ leaf: 7 });
    expect(nestedTable(3)).toEqual({ n: { n: { leaf: 1 } } });
  });
});

// What every RabbitMQ benchmark consumer is given and does per message, shared so that
// each side of a comparison does exactly the same work: the same 256-byte body, decoded
// and validated against the same schema.
import { z } from 'zod';

/** The body of every benchmark message: JSON, 256 bytes. */
export const body = Buffer.from(JSON.stringify({ id: 'x', pad: 'x'.repeat(230) }));

/** The schema the pools validate with, and `decode` too. */
export const schema = z.object({ id: z.string(), pad: z.string() });

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A hand-written consumer's work per message: decode and validate the body, or throw. */
export function decode(content: Uint8Array): void {
  const result = schema['~standard'].validate(JSON.parse(decoder.decode(content)));
  if (result instanceof Promise || result.issues !== undefined) throw new Error('invalid');
}

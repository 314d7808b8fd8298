// Turning a delivery's bytes into a typed message: JSON, then the processor's
// Standard Schema. Every failure is an InvalidMessageError, so it is dead-lettered.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidMessageError } from './errors.js';
import type { Delivery } from './transport.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

function formatIssues(issues: readonly StandardSchemaV1.Issue[]): string[] {
  return issues.map((issue) => {
    const path = (issue.path ?? [])
      .map((segment) => String(typeof segment === 'object' ? segment.key : segment))
      .join('.');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
}

function checked<TMessage>(result: StandardSchemaV1.Result<TMessage>): TMessage {
  if (result.issues === undefined) return result.value;
  const issues = formatIssues(result.issues);
  throw new InvalidMessageError(`schema validation failed: ${issues.join('; ')}`, { issues });
}

/**
 * Parses and validates a delivery. Synchronous when the schema is (zod's usual case),
 * a promise otherwise.
 *
 * @throws InvalidMessageError for a body over `maxBytes`, a wrong content type, bad UTF-8, bad JSON or a schema failure
 */
export function decodeDelivery<TMessage>(
  delivery: Delivery,
  schema: StandardSchemaV1<unknown, TMessage>,
  maxBytes = Infinity,
): TMessage | Promise<TMessage> {
  const size = delivery.body.byteLength;
  if (size > maxBytes) {
    // Checked before anything is parsed: a huge body costs no decoding.
    throw new InvalidMessageError(
      `message of ${size} bytes exceeds maxMessageBytes (${maxBytes}); not parsed`,
    );
  }
  const type = delivery.contentType;
  if (type !== undefined && type !== '' && !type.startsWith('application/json')) {
    throw new InvalidMessageError(
      `unsupported content type ${JSON.stringify(type)}; expected application/json`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(delivery.body));
  } catch (error) {
    throw new InvalidMessageError(`body is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const result = schema['~standard'].validate(value);
  return result instanceof Promise ? result.then(checked) : checked(result);
}

// The configuration's JSON Schema, generated from the zod schema that validates it.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from './config.js';

export const schemaFile = fileURLToPath(new URL('../troupe.config.schema.json', import.meta.url));

export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input' }),
    title: 'Troupe configuration (troupe.config.json)',
  };
}

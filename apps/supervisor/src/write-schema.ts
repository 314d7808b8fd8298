// Writes troupe.config.schema.json, the JSON Schema editors use for troupe.config.json.
// `pnpm --filter @troupe/supervisor schema`; a test keeps the file in step with the code.
import { writeFileSync } from 'node:fs';
import { configJsonSchema, schemaFile } from './json-schema.js';

writeFileSync(schemaFile, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${schemaFile}\n`);

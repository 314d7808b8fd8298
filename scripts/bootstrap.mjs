// Installs the workspace from the lockfile on a fresh machine, using the pnpm
// version pinned in package.json (fetched from the npm registry by npx), so that
// `npm start` and `npm test` work with nothing but Node and npm installed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.modules.yaml');
const lockfile = join(root, 'pnpm-lock.yaml');
const { packageManager } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const upToDate =
  existsSync(marker) &&
  existsSync(lockfile) &&
  statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs;

if (!upToDate) {
  process.stderr.write(`troupe: installing the workspace with ${packageManager}\n`);
  execFileSync('npx', ['--yes', packageManager, 'install', '--frozen-lockfile'], {
    cwd: root,
    stdio: 'inherit',
  });
}

#!/usr/bin/env node
/**
 * Makes every workspace command runnable with npx after a build: each package's `bin` targets live in dist/, which
 * does not exist at `npm ci` (npm links them, or not, but never marks them executable) and which a cached turbo
 * build restores without exec bits. So: mark each target executable and (re)link it into node_modules/.bin.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
let linked = 0;
for (const group of ['packages', 'apps', 'test']) {
  const dirs = group === 'test' ? [join(root, 'test')] : readdirSync(join(root, group)).map((d) => join(root, group, d));
  for (const dir of dirs) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const bins = JSON.parse(readFileSync(manifest, 'utf8')).bin ?? {};
    for (const [name, target] of Object.entries(typeof bins === 'string' ? {} : bins)) {
      const file = join(dir, target);
      if (!existsSync(file)) throw new Error(`${name}: ${relative(root, file)} does not exist (did the build run?)`);
      chmodSync(file, 0o755);
      const link = join(binDir, name);
      try {
        if (lstatSync(link)) unlinkSync(link);
      } catch {
        // no link yet
      }
      symlinkSync(relative(binDir, file), link);
      linked++;
    }
  }
}
console.error(`[setup] ${linked} commands linked (npx mtcall-…)`);

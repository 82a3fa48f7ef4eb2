/**
 * The production build contains no test hook: a fresh `vite build` (production mode, index.html) is searched for
 * the hooks' URL parameters and the test diagnostics. The test build is searched too, to show the search finds them
 * where they are.
 */

import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every hook the test entry and the test worker add: URL parameters, the hooks message, the diagnostics. */
const HOOKS = [/["'`]autoaccept["'`]/, /twoVideoTracks/, /["'`]wrongkey["'`]/, /["'`]samples["'`]/, /["'`]report["'`]/, /["'`]seqStart["'`]/, /test-hooks/, /plaintextSamples/, /ciphertextDiffers/, /mtcallDemo/, /TEST BUILD/];

async function buildInto(mode: 'production' | 'test'): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), `mtcall-demo-${mode}-`));
  await build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), mode, logLevel: 'silent', build: { outDir, emptyOutDir: true, sourcemap: false } });
  return outDir;
}

function text(dir: string): string {
  let all = '';
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    all += statSync(path).isDirectory() ? text(path) : readFileSync(path, 'utf8');
  }
  return all;
}

describe('the demo bundles', () => {
  it('the production bundle (page and worker) contains none of the test hooks', async () => {
    const dir = await buildInto('production');
    try {
      const files = readdirSync(join(dir, 'assets'));
      expect(files.some((f) => /worker/i.test(f)), files.join(', ')).toBe(true); // the encryption worker is in it
      expect(readdirSync(dir)).not.toContain('test.html');
      const bundle = text(dir);
      for (const hook of HOOKS) expect(bundle, `${hook} in the production bundle`).not.toMatch(hook);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the test bundle has them (the search above would find them)', async () => {
    const dir = await buildInto('test');
    try {
      const bundle = text(dir);
      for (const hook of HOOKS) expect(bundle, `${hook} in the test bundle`).toMatch(hook);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Every command the README names runs through npx after `bash scripts/setup.sh` (also after a cached rebuild,
 * which restores dist/ without exec bits): the workspace bins are linked and executable.
 */

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BINS: Record<string, string> = {
  'mtcall-signal': 'packages/signaling',
  'mtcall-peer': 'apps/peer',
  'mtcall-demo': 'apps/demo',
  'mtcall-bench': 'apps/bench',
  'mtcall-loadtest': 'apps/loadtest',
};

describe('command-line tools', () => {
  for (const [bin, dir] of Object.entries(BINS)) {
    it(`npx ${bin} --help works from the repository root`, () => {
      const declared = (JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin[bin];
      expect(declared, `${dir}/package.json declares ${bin}`).toBeDefined();
      const link = join(ROOT, 'node_modules', '.bin', bin);
      expect(realpathSync(link)).toBe(realpathSync(join(ROOT, dir, declared!)));
      accessSync(link, constants.X_OK);
      const result = spawnSync('npx', ['--no-install', bin, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`${bin}|Usage`));
    }, 90_000);
  }
});

/** The presence scenario end to end against a real server process: counts only, never time. */

import { describe, expect, it } from 'vitest';
import { formatPresenceReport, parsePresenceOptions, runPresenceScenario } from './presence.js';

describe('mtcall-loadtest presence', () => {
  it('directory: join i costs one update to each of the i subscribers then online, and a snapshot of the others', async () => {
    const n = 60;
    const result = await runPresenceScenario(parsePresenceOptions(['--subscribers', String(n)]));
    expect(result.updates).toBe((n * (n + 1)) / 2);
    expect(result.snapshotEntries).toBe((n * (n - 1)) / 2);
    expect(result.updatesPerJoin.last).toBe(n);
    expect(formatPresenceReport(result)).toMatch(/per join/);
  }, 120_000);

  it('watch: a join reaches only the users who follow the joiner', async () => {
    const result = await runPresenceScenario(parsePresenceOptions(['--subscribers', '60', '--mode', 'watch', '--watch', '5']));
    // Each subscriber follows 5 others; an update is sent when a followed user joins after its follower.
    expect(result.updates).toBeLessThanOrEqual(60 * 5);
    expect(result.snapshotEntries).toBe(60 * 5);
    expect(result.bytesPerJoin.max).toBeLessThan(2000);
  }, 120_000);

  it('refuses bad options', () => {
    expect(() => parsePresenceOptions(['--mode', 'all'])).toThrow(/--mode/);
    expect(() => parsePresenceOptions(['--subscribers', '1'])).toThrow(/--subscribers/);
  });
});

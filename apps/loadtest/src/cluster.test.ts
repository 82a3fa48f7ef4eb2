/**
 * The cluster scenario, tiny: a real Redis, three real `mtcall-signal --redis` processes, real clients, one
 * instance SIGKILLed with every call up. Counts only, never time.
 */

import { expect, it } from 'vitest';
import { formatClusterReport, parseClusterOptions, runClusterScenario } from './cluster.js';

it('12 connections / 6 calls across 3 instances; after a SIGKILL every client of it is back and every call it did not own still signals', async () => {
  const options = parseClusterOptions(['--instances', '3', '--redis', '--connections', '12', '--no-baseline']);
  const result = await runClusterScenario(options, () => undefined);
  expect(result.cluster).toMatchObject({ instances: 3, connected: 12, established: 6 });
  expect(result.cluster.setupMs.count).toBe(6);
  // Each call crosses instances: at least the ring and the accept go through Redis.
  expect(result.cluster.redisOpsByCommand['publish']).toBeGreaterThanOrEqual(2 * 6);
  expect(result.kill).toMatchObject({ affectedClients: 4, reconnected: 4, callsOwnedByKilled: 2, callsSurviving: 4 });
  expect(formatClusterReport(result)).toMatch(/4\/4 clients of the killed instance reconnected/);
});

it('refuses --instances without --redis, and a kill with one instance', () => {
  expect(() => parseClusterOptions(['--instances', '3'])).toThrow(/needs --redis/);
  expect(() => parseClusterOptions(['--instances', '1', '--redis'])).toThrow(/--instances 2 or more/);
});

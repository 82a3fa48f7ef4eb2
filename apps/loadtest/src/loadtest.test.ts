/**
 * A tiny load end to end: a real server process, real clients, real garbage. Checks counts only — never time:
 * every good call completes, the good clients see no error, every garbage connection gets error replies and the
 * server survives all of it.
 */

import { describe, expect, it } from 'vitest';
import { parseOptions, type Options } from './options.js';
import { formatReport } from './report.js';
import { runLoadTest } from './run.js';

const tiny: Options = {
  ...parseOptions(['--connections', '20', '--calls', '10', '--messages', '3', '--garbage', '0.1', '--compare', '--timeout', '100']),
};

describe('a tiny load against a real server', () => {
  it('completes every good call with and without garbage, and answers the garbage with errors', async () => {
    const lines: string[] = [];
    const result = await runLoadTest(tiny, (line) => lines.push(line));

    expect(result.runs.map((r) => r.kind)).toEqual(['clean', 'garbage']);
    for (const run of result.runs) {
      expect(run.problems).toEqual([]);
      expect(run.connections).toMatchObject({ total: 20, good: 18, goodConnected: 18, garbage: 2 });
      expect(run.pairs).toBe(9);
      expect(run.calls.completed).toBe(10);
      expect(run.calls.launched).toBe(10);
      expect(run.calls.warmupCompleted).toBe(run.calls.warmup);
      expect(run.setupMs.count).toBe(10);
      expect(run.rttMs.count).toBe(10 * 3);
      expect(run.errors).toEqual({});
      expect(run.server.crashed).toBe(false);
      expect(run.server.exit.code).toBe(0);
    }

    const clean = result.runs[0]!;
    expect(clean.garbage?.active).toBe(false);
    expect(clean.garbage?.framesSent).toBe(0);

    const dirty = result.runs[1]!;
    const garbage = dirty.garbage!;
    expect(garbage.active).toBe(true);
    expect(garbage.connections).toBe(2);
    expect(garbage.toursCompleted).toBe(2);
    expect(garbage.connectionsThatSent).toBe(2);
    expect(garbage.connectionsWithErrorReply).toBe(2);
    // Every connection went through every kind once, so each of these codes was answered at least twice.
    for (const code of ['bad-json', 'invalid-message', 'unknown-type', 'unknown-call', 'frame-too-large', 'not-authenticated', 'already-authenticated', 'self-call']) {
      expect(garbage.errorReplies[code], code).toBeGreaterThanOrEqual(2);
    }
    // Over the hard frame limit and invalid UTF-8 close the connection (1009 / 1007, or 1006 when the TCP reset wins).
    // How many closes land before the run ends depends on timing (seen: 2 to 4 on a loaded machine), so count only
    // that each garbage connection was thrown out at least once and came back.
    const closes = Object.values(garbage.closes).reduce((a, b) => a + b, 0);
    expect(closes).toBeGreaterThanOrEqual(garbage.connections);
    expect(garbage.reconnects).toBeGreaterThanOrEqual(1);

    expect(result.comparison?.goodCallsUnaffected).toBe(true);
    expect(result.ok).toBe(true);
    expect(formatReport(result)).toMatch(/result: PASS/);
    expect(lines.some((l) => l.startsWith('garbage: 10/10 calls completed'))).toBe(true);
  });
});

describe('options', () => {
  it('runs clean then garbage by default, as npm run loadtest does', () => {
    const o = parseOptions([]);
    expect(o).toMatchObject({ connections: 1000, calls: 500, messages: 5, timeoutSeconds: 120, garbage: 0.1, runs: ['clean', 'garbage'] });
  });

  it('runs what --garbage and --compare ask for', () => {
    expect(parseOptions(['--garbage', '0.2']).runs).toEqual(['garbage']);
    expect(parseOptions(['--garbage', '0.2', '--compare']).runs).toEqual(['clean', 'garbage']);
    expect(parseOptions(['--garbage', '0']).runs).toEqual(['clean']);
  });

  it('refuses what cannot run', () => {
    expect(() => parseOptions(['--garbage', '0', '--compare'])).toThrow(/--compare needs/);
    expect(() => parseOptions(['--connections', '1'])).toThrow(/--connections/);
    expect(() => parseOptions(['--connections', '10', '--garbage', '0.9'])).toThrow(/fewer than 2/);
    expect(() => parseOptions(['--connections', '4', '--garbage', '0.1'])).toThrow(/less than one connection/);
    expect(() => parseOptions(['--calls', 'many'])).toThrow(/--calls/);
    expect(() => parseOptions(['--timeout', '0'])).toThrow(/--timeout/);
    expect(() => parseOptions(['--bogus'])).toThrow();
  });
});

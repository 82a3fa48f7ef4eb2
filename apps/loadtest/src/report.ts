/** The human-readable report of a load test. Pure. */

import type { ProbeResult } from './probe-host.js';
import { probeOf, type Comparison, type LoadTestResult, type RunResult } from './run.js';
import type { Summary } from './stats.js';

/** An integer with thousands separators. */
export function formatCount(value: number): string {
  return Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Milliseconds with 3 significant digits at most (but never in exponent form). */
export function formatMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms >= 100) return formatCount(ms);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

/** Average CPUs used by other processes above which the report warns that timings are not comparable. */
export const CONTENTION_WARNING = 0.25;

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
const times = (r: number | null) => (r === null ? '—' : `${r.toFixed(2)}×`);
const pair = (s: Summary) => `${formatMs(s.p50)} / ${formatMs(s.p99)}`;

function runTitle(run: RunResult): string {
  if (run.kind === 'clean') return run.connections.garbage > 0 ? 'clean (garbage conns quiet)' : 'clean';
  return `garbage ${Math.round((100 * run.connections.garbage) / run.connections.total)}%`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('   ').trimEnd()).join('\n');
}

function errors(run: RunResult): string {
  const entries = Object.entries(run.errors);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ×${n}`).join(', ');
}

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${formatCount(n)}`).join(', ');
}

function verdict(result: LoadTestResult, comparison: Comparison | null): string[] {
  const lines: string[] = [];
  const dirty = result.runs.find((r) => r.kind === 'garbage');
  if (comparison && dirty) {
    lines.push(
      comparison.goodCallsUnaffected
        ? `good calls under garbage: all ${dirty.calls.completed} of ${dirty.calls.requested} completed, no errors on the good clients`
        : `good calls under garbage: AFFECTED — ${dirty.calls.completed} of ${dirty.calls.requested} completed; errors: ${errors(dirty)}`,
    );
    lines.push(
      `latency under garbage ÷ clean: setup p50 ${times(comparison.setupP50)}, p99 ${times(comparison.setupP99)}; ` +
        `RTT p50 ${times(comparison.rttP50)}, p99 ${times(comparison.rttP99)}; calls/s ${times(comparison.callsPerSecond)}`,
    );
    lines.push(
      `probe under garbage ÷ clean: setup p50 ${times(comparison.probeSetupP50)}, p99 ${times(comparison.probeSetupP99)}; ` +
        `RTT p50 ${times(comparison.probeRttP50)}, p99 ${times(comparison.probeRttP99)}`,
    );
  }
  for (const run of result.runs) {
    if (run.cpu.others !== null && run.cpu.others > CONTENTION_WARNING) {
      lines.push(
        `note: other processes kept ${run.cpu.others.toFixed(2)} of ${result.machine.cpus} CPUs busy during the ${run.kind} run's calls; ` +
          'its latencies and calls/s are not comparable',
      );
    }
  }
  for (const run of result.runs) for (const problem of run.problems) lines.push(`PROBLEM (${run.kind}): ${problem}`);
  lines.push(result.ok ? 'result: PASS' : 'result: FAIL');
  return lines;
}

export function formatReport(result: LoadTestResult): string {
  const o = result.options;
  const m = result.machine;
  const out: string[] = [];
  out.push(
    `mtcall load test — one signaling server process on 127.0.0.1; ${formatCount(o.connections)} connections, ${formatCount(o.calls)} calls, ` +
      `${o.messages} sealed packets each way per call${o.rampSeconds > 0 ? `, starts spread over ${o.rampSeconds} s` : ', starts back to back'}`,
  );
  out.push(
    `machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.platform}, Node ${m.node}; ` +
      `load average ${m.loadAverage1m.toFixed(2)} at start; clients and garbage in one thread, the probe pair in another, the server in its own process`,
  );
  out.push('');
  const runs = result.runs;
  const rows: string[][] = [['', ...runs.map(runTitle)]];
  const row = (label: string, f: (r: RunResult) => string) => rows.push([label, ...runs.map(f)]);
  row('connections: good + garbage', (r) => `${r.connections.goodConnected} + ${r.connections.garbage}${r.connections.garbage > 0 ? (r.connections.garbageActive ? ' sending' : ' quiet') : ''}`);
  row('caller/callee pairs; waves; most calls up at once', (r) => `${r.pairs}; ${r.calls.waves}; ${r.calls.maxEstablished}`);
  row('calls completed (after uncounted warm-up calls)', (r) => `${r.calls.completed} / ${r.calls.requested} (+${r.calls.warmupCompleted})`);
  row('calls/s (calls phase)', (r) => r.calls.perSecond.toFixed(1));
  row('load calls: setup ms p50 / p99 (requestCall → both keyed)', (r) => pair(r.setupMs));
  row('load calls: signaling RTT ms p50 / p99 (sealed ping-pong)', (r) => pair(r.rttMs));
  const probe = (f: (p: ProbeResult) => string) => (r: RunResult) => {
    const p = probeOf(r);
    return p ? f(p) : 'n/a';
  };
  row('probe pair (own thread): calls during the phase', probe((p) => String(p.completed)));
  row('probe: setup ms p50 / p99', probe((p) => pair(p.setupMs)));
  row('probe: signaling RTT ms p50 / p99', probe((p) => pair(p.rttMs)));
  row('server RSS MiB start / peak', (r) => (r.server.rss ? `${mib(r.server.rss.start)} / ${mib(r.server.rss.peak)}` : 'n/a'));
  row('server RSS MiB all connected / end', (r) => (r.server.rss ? `${mib(r.server.rss.connected)} / ${mib(r.server.rss.end)}` : 'n/a'));
  row('CPUs busy in calls phase: clients / server / others', (r) => `${r.cpu.loadgen.toFixed(2)} / ${r.cpu.server?.toFixed(2) ?? '?'} / ${r.cpu.others?.toFixed(2) ?? '?'}`);
  row('errors on good clients', errors);
  row('ring-spam calls declined by good clients (raced)', (r) => `${formatCount(r.spamDeclined)} (${formatCount(r.spamRaces)})`);
  row('seconds: connect / calls / whole run', (r) => `${r.seconds.connect.toFixed(1)} / ${r.seconds.calls.toFixed(1)} / ${r.seconds.wall.toFixed(1)}`);
  row('server exit', (r) => (r.server.crashed ? `CRASHED (${r.server.exit.signal ?? r.server.exit.code})` : r.server.exit.signal ?? `code ${r.server.exit.code}`));
  out.push(table(rows));

  for (const run of runs) {
    const g = run.garbage;
    if (!g || !g.active) continue;
    out.push('');
    out.push(`garbage: ${g.connections} connections sent ${formatCount(g.framesSent)} frames (${mib(g.bytesSent)} MiB) over ${run.seconds.wall.toFixed(1)} s`);
    out.push(`  sent by kind: ${counts(g.sentByKind)}`);
    out.push(`  error replies by code: ${counts(g.errorReplies)}`);
    out.push(`  other replies: ${counts(g.otherReplies)}`);
    out.push(`  closed by the server (close code): ${counts(g.closes)}; reconnects ${formatCount(g.reconnects)}`);
    out.push(
      `  ${g.connectionsWithErrorReply} of the ${g.connectionsThatSent} garbage connections that sent got error replies; ` +
        `${g.toursCompleted} of ${g.connections} sent every kind`,
    );
  }
  out.push('');
  out.push(...verdict(result, result.comparison));
  out.push(`total wall time ${result.wallSeconds.toFixed(1)} s (timeout ${o.timeoutSeconds} s)`);
  return out.join('\n') + '\n';
}

/**
 * `mtcall-loadtest --instances N --redis`: the signaling cluster under load. Starts a local Redis and N
 * `mtcall-signal --redis` processes on loopback, connects C clients (client i to instance i mod N first, its list
 * going on through the others), and sets up C/2 calls at once, every caller on another instance than its callee,
 * with the real SignalingClient (full DH handshake). With every call up it reads each instance's memory and Redis's
 * command counts, then SIGKILLs one instance: its clients reconnect to the next instance and resume; it counts how
 * many did, how long the last took, and how many calls still carry in-call signaling. Then it hangs up. The same
 * set-up runs against one plain instance for the throughput ratio (--no-baseline skips it).
 */

import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { createClient } from 'redis';
import { memoryDhConfigCache, SignalingClient, type Call } from '@mtcall/signaling';
import { startLocalRedis } from '@mtcall/signaling/server';
import { ServerProcess } from './server-process.js';
import { pool } from './good.js';
import { summarize, type Summary } from './stats.js';

export const CLUSTER_USAGE = `Usage: mtcall-loadtest --instances N --redis [options]

The signaling cluster under load: a local redis-server, N mtcall-signal --redis processes, C connections spread
over them, C/2 concurrent calls each crossing instances, then one instance SIGKILLed mid-run.

Options:
  --instances N       signaling instances (default 3)
  --redis             required: run the cluster (a redis-server is started on a free loopback port)
  --connections C     client connections (default 200; --big: 10000)
  --calls M           concurrent calls (default C/2, at most C/2)
  --big               10 000 connections and 5 000 calls (takes minutes and a few GB of RAM)
  --no-kill           skip the failover phase
  --no-baseline       skip the one-instance run used for the throughput ratio
  --concurrency K     call set-ups in flight at once (default 200)
  --timeout S         abort after S seconds (default 600)
  --json              one JSON object on stdout
  -h, --help          this text
`;

export interface ClusterOptions {
  help: boolean;
  json: boolean;
  instances: number;
  connections: number;
  calls: number;
  kill: boolean;
  baseline: boolean;
  concurrency: number;
  timeoutSeconds: number;
}

/** Parses the cluster scenario's flags; throws an Error with a readable message on bad input. */
export function parseClusterOptions(argv: readonly string[]): ClusterOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      json: { type: 'boolean', default: false },
      redis: { type: 'boolean', default: false },
      big: { type: 'boolean', default: false },
      'no-kill': { type: 'boolean', default: false },
      'no-baseline': { type: 'boolean', default: false },
      instances: { type: 'string' },
      connections: { type: 'string' },
      calls: { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, min: number, max: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}; got ${JSON.stringify(text)}`);
    return n;
  };
  if (!values.help && !values.redis) throw new Error('--instances needs --redis (the cluster shares its state through Redis)');
  const instances = int('instances', values.instances, 3, 1, 16);
  const connections = int('connections', values.connections, values.big ? 10_000 : 200, 2, 20_000);
  const calls = int('calls', values.calls, Math.floor(connections / 2), 1, Math.floor(connections / 2));
  if (values['no-kill'] === false && instances < 2) throw new Error('the failover phase needs --instances 2 or more (or --no-kill)');
  return {
    help: values.help, json: values.json, instances, connections, calls, kill: !values['no-kill'], baseline: !values['no-baseline'],
    concurrency: int('concurrency', values.concurrency, 200, 1, 10_000), timeoutSeconds: int('timeout', values.timeout, 600, 1, 86_400),
  };
}

/** What one set-up phase measured. */
export interface SetupFigures {
  instances: number;
  connections: number;
  connected: number;
  calls: number;
  established: number;
  setupMs: Summary;
  /** Calls established per second over the phase. */
  callsPerSecond: number;
  /** Resident memory added per connection, per instance (bytes; RSS after connecting minus at start). */
  memoryPerConnection: number[];
}

export interface ClusterResult {
  cluster: SetupFigures & {
    /** Redis commands per call set up (INFO commandstats over the call phase, every command counted). */
    redisOpsPerCall: number;
    redisOpsByCommand: Record<string, number>;
  };
  baseline?: SetupFigures;
  /** Throughput of the cluster over that of one instance on the same machine. */
  throughputRatio?: number;
  kill?: {
    /** Clients whose connection was on the killed instance. */
    affectedClients: number;
    reconnected: number;
    /** SIGKILL → last affected client connected again (ms). */
    lastReconnectMs: number | null;
    /** Calls whose in-call signaling crossed (both ways) after the kill. */
    callsSurviving: number;
    /** Calls the killed instance owned (its clients were the callers): their signaling is lost, their media is not. */
    callsOwnedByKilled: number;
  };
}

interface Participant {
  client: SignalingClient;
  /** Index of the instance this client connected to first. */
  home: number;
  /** When each of its WebSockets opened (performance.now()). */
  opens: number[];
}

async function connectAll(urls: string[], count: number, concurrency: number): Promise<(Participant | undefined)[]> {
  const cache = memoryDhConfigCache();
  const out: (Participant | undefined)[] = new Array(count);
  const open = async (i: number) => {
    const home = i % urls.length;
    const list = [...urls.slice(home), ...urls.slice(0, home)];
    const opens: number[] = [];
    class Timed extends WebSocket {
      constructor(url: string) {
        super(url);
        this.once('open', () => opens.push(performance.now()));
      }
    }
    const client = new SignalingClient({ urls: list, userId: `u${i}`, deviceId: 'd', WebSocket: Timed as never, dhConfigCache: cache, reconnect: { initialDelayMs: 100, maxDelayMs: 2000, jitter: 0.5 } });
    try {
      await client.connect();
      out[i] = { client, home, opens };
    } catch {
      client.close();
    }
  };
  await open(0);
  await pool(Array.from({ length: count - 1 }, (_, i) => i + 1), concurrency, open);
  return out;
}

/** Places one call caller → callee; resolves with both sides established (retrying while the directory converges). */
async function placeCall(caller: SignalingClient, callee: SignalingClient): Promise<{ outgoing: Call; incoming: Call } | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const incomingP = new Promise<Call>((resolve) => {
      const on = (call: Call) => {
        if (call.peerId !== caller.userId) return;
        callee.off('incoming', on);
        resolve(call);
      };
      callee.on('incoming', on);
    });
    const outgoing = caller.call(callee.userId, { video: false });
    const result = await Promise.race([
      incomingP.then((incoming) => ({ incoming })),
      new Promise<{ ended: string }>((resolve) => outgoing.on('ended', (e) => resolve({ ended: e.reason }))),
    ]);
    if ('ended' in result) {
      if (result.ended !== 'offline') return undefined;
      await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      continue;
    }
    const incoming = result.incoming;
    const ok = await new Promise<boolean>((resolve) => {
      let n = 0;
      const up = () => void (++n === 2 && resolve(true));
      outgoing.on('established', up);
      incoming.on('established', up);
      outgoing.on('ended', () => resolve(false));
      incoming.on('ended', () => resolve(false));
      incoming.accept();
    });
    return ok ? { outgoing, incoming } : undefined;
  }
  return undefined;
}

async function setupPhase(servers: ServerProcess[], options: ClusterOptions, progress: (line: string) => void, between?: (connected: number) => Promise<void>) {
  const startRss = servers.map((s) => s.sampleMemory() ?? 0);
  const people = await connectAll(servers.map((s) => s.url), options.connections, options.concurrency);
  const connected = people.filter((p) => p !== undefined).length;
  progress(`${connected}/${options.connections} connected over ${servers.length} instance(s)`);
  const perInstance = servers.map((_, k) => people.filter((p) => p?.home === k).length);
  const memoryPerConnection = servers.map((s, k) => Math.round(((s.sampleMemory() ?? 0) - startRss[k]!) / Math.max(1, perInstance[k]!)));
  await between?.(connected);
  const pairs: [Participant, Participant][] = [];
  for (let j = 0; j < options.calls; j++) {
    const a = people[2 * j];
    const b = people[2 * j + 1];
    if (a && b) pairs.push([a, b]);
  }
  const calls: { caller: Participant; callee: Participant; outgoing: Call; incoming: Call }[] = [];
  const setup: number[] = [];
  const t0 = performance.now();
  await pool(pairs, options.concurrency, async ([caller, callee]) => {
    const started = performance.now();
    const call = await placeCall(caller.client, callee.client);
    if (!call) return;
    setup.push(performance.now() - started);
    calls.push({ caller, callee, ...call });
    if (calls.length % 500 === 0) progress(`${calls.length} calls established`);
  });
  const seconds = (performance.now() - t0) / 1000;
  const figures: SetupFigures = {
    instances: servers.length, connections: options.connections, connected, calls: options.calls, established: calls.length,
    setupMs: summarize(setup), callsPerSecond: calls.length / seconds, memoryPerConnection,
  };
  return { figures, people, calls };
}

async function signalCrosses(calls: { outgoing: Call; incoming: Call }[], waitMs: number): Promise<number> {
  let crossed = 0;
  await Promise.all(calls.map(async ({ outgoing, incoming }) => {
    const got = (call: Call) => new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      call.on('signal', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    const there = got(incoming);
    try { outgoing.sendSignal({ type: 'app', data: { after: 'kill' } }); } catch { /* lost */ }
    const back = got(outgoing);
    try { incoming.sendSignal({ type: 'app', data: { after: 'kill' } }); } catch { /* lost */ }
    if ((await there) && (await back)) crossed++;
  }));
  return crossed;
}

/** Runs the cluster scenario (and the one-instance baseline). */
export async function runClusterScenario(options: ClusterOptions, progress: (line: string) => void): Promise<ClusterResult> {
  const deadline = setTimeout(() => {
    process.stderr.write(`mtcall-loadtest: ABORTED after ${options.timeoutSeconds} s\n`);
    process.exit(3);
  }, options.timeoutSeconds * 1000);
  deadline.unref();
  const result = {} as ClusterResult;
  if (options.baseline) {
    progress('baseline: one instance, no Redis');
    const one = await ServerProcess.start({ rate: 100_000, timeoutMs: 30_000 });
    try {
      const { figures, people } = await setupPhase([one], { ...options, instances: 1 }, progress);
      result.baseline = figures;
      for (const p of people) p?.client.close();
    } finally {
      await one.stop();
    }
  }
  const redis = await startLocalRedis();
  const admin = createClient({ url: redis.url });
  await admin.connect();
  const servers: ServerProcess[] = [];
  try {
    for (let k = 0; k < options.instances; k++) {
      servers.push(await ServerProcess.start({ rate: 100_000, timeoutMs: 30_000, extraArgs: ['--redis', redis.url, '--instance-id', `i${k}`, '--instance-ttl', '10'] }));
    }
    progress(`cluster: ${options.instances} instances on ${redis.url}`);
    const { figures, people, calls } = await setupPhase(servers, options, progress, async (connected) => {
      // Every device is in the directory before the calls start (the deltas follow at once).
      while (Number(await admin.hLen('mtcall:dir')) < connected) await new Promise((r) => setTimeout(r, 50));
      await admin.configResetStat();
    });
    const stats = parseCommandStats(await admin.info('commandstats'));
    const total = Object.values(stats).reduce((a, b) => a + b, 0);
    result.cluster = { ...figures, redisOpsPerCall: total / Math.max(1, figures.established), redisOpsByCommand: stats };
    if (result.baseline) result.throughputRatio = figures.callsPerSecond / result.baseline.callsPerSecond;

    if (options.kill) {
      const victim = 0;
      const affected = people.filter((p) => p?.home === victim) as Participant[];
      const killedAt = performance.now();
      servers[victim]!.kill();
      progress(`killed instance i${victim} (${affected.length} clients on it)`);
      // Back when each affected client has opened a socket to another instance (or after 60 s).
      for (let waited = 0; waited < 60_000 && affected.some((p) => !p.opens.some((t) => t > killedAt)); waited += 50) await new Promise((r) => setTimeout(r, 50));
      const reopened = affected.map((p) => p.opens.find((t) => t > killedAt)).filter((t): t is number => t !== undefined);
      const reconnected = reopened.length;
      const last = reopened.length > 0 ? Math.max(...reopened) - killedAt : null;
      const owned = calls.filter((c) => c.caller.home === victim).length;
      const surviving = await signalCrosses(calls, 15_000);
      result.kill = { affectedClients: affected.length, reconnected, lastReconnectMs: last, callsSurviving: surviving, callsOwnedByKilled: owned };
    }
    for (const c of calls) c.outgoing.hangUp();
    for (const p of people) p?.client.close();
    return result;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await admin.close();
    await redis.stop();
    clearTimeout(deadline);
  }
}

function parseCommandStats(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] === 'config|resetstat' || match[1] === 'info') continue;
    out[match[1]!] = Number(match[2]);
  }
  return out;
}

/** The report, for people. */
export function formatClusterReport(r: ClusterResult): string {
  const mb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const lines = [
    `cluster: ${r.cluster.instances} instances, ${r.cluster.connected}/${r.cluster.connections} connected, ${r.cluster.established}/${r.cluster.calls} calls established at once`,
    `  setup p50 ${r.cluster.setupMs.p50?.toFixed(0)} ms, p99 ${r.cluster.setupMs.p99?.toFixed(0)} ms; ${r.cluster.callsPerSecond.toFixed(1)} calls/s`,
    `  memory per connection (RSS growth per instance): ${r.cluster.memoryPerConnection.map(mb).join(', ')}`,
    `  Redis commands per call: ${r.cluster.redisOpsPerCall.toFixed(2)} (${Object.entries(r.cluster.redisOpsByCommand).map(([k, v]) => `${k} ${v}`).join(', ')})`,
  ];
  if (r.baseline) {
    lines.push(`one instance: ${r.baseline.established} calls, setup p50 ${r.baseline.setupMs.p50?.toFixed(0)} ms, p99 ${r.baseline.setupMs.p99?.toFixed(0)} ms; ${r.baseline.callsPerSecond.toFixed(1)} calls/s; ${mb(r.baseline.memoryPerConnection[0]!)} per connection`);
    lines.push(`throughput ratio cluster / one instance: ${r.throughputRatio?.toFixed(2)}`);
  }
  if (r.kill) {
    lines.push(`kill: ${r.kill.reconnected}/${r.kill.affectedClients} clients of the killed instance reconnected (last after ${r.kill.lastReconnectMs?.toFixed(0)} ms);`);
    lines.push(`  ${r.kill.callsSurviving}/${r.cluster.established} calls still carry signaling; ${r.kill.callsOwnedByKilled} were owned by the killed instance (their signaling is lost, their media is not)`);
  }
  return lines.join('\n') + '\n';
}

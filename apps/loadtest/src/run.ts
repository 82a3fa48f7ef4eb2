/**
 * One load-test run (a fresh server process, the connections, the calls, the garbage) and the whole invocation
 * (a clean run and/or a garbage run, and their comparison).
 */

import { CallPhase, GoodFleet, type CallPhaseResult } from './good.js';
import { GarbageFleet, type GarbageStats } from './garbage.js';
import { cpuPoint, cpuUse, machineInfo, type CpuUse, type MachineInfo } from './machine.js';
import { garbageCount, type Options, type RunKind } from './options.js';
import { Prng } from './prng.js';
import { Probe, type ProbeResult } from './probe-host.js';
import { ServerProcess, type ExitInfo } from './server-process.js';
import { Counter, summarize, type Summary } from './stats.js';

/** The server's defaults the garbage aims at (mtcall-signal is started without --max-message-bytes). */
const SERVER_MAX_MESSAGE_BYTES = 64 * 1024;
const SERVER_MAX_PAYLOAD = 1024 * 1024;
const CONNECT_CONCURRENCY = 50;
const PROGRESS_EVERY_MS = 2000;
const GARBAGE_DRAIN_MS = 500;
/** Calls placed (and not counted) before the measured ones. */
const WARMUP_CALLS = 20;
/** The probe's pause between two of its calls. */
const PROBE_PAUSE_MS = 100;

export class TimeoutError extends Error {}

export interface RunConfig {
  kind: RunKind;
  connections: number;
  /** Connections that are garbage connections: active in a garbage run, quiet (hello only) in a clean one. */
  garbageConnections: number;
  calls: number;
  messages: number;
  rampSeconds: number;
  garbageRate: number;
  serverRate: number;
  seed: number;
  /** performance.now() after which the run is aborted. */
  deadline: number;
  timeoutSeconds: number;
  /** Run the probe pair in a worker thread (default true). */
  probe?: boolean;
}

export interface RunResult {
  kind: RunKind;
  connections: { total: number; good: number; goodConnected: number; garbage: number; garbageActive: boolean };
  pairs: number;
  calls: { requested: number; launched: number; completed: number; perSecond: number; maxEstablished: number; waves: number; warmup: number; warmupCompleted: number };
  setupMs: Summary;
  rttMs: Summary;
  /** The probe pair's calls during the calls phase, or why there is none. */
  probe: ProbeResult | { missing: string };
  seconds: { connect: number; calls: number; wall: number };
  server: {
    pid: number;
    /** Bytes; null where /proc is unreadable. */
    rss: { start: number; connected: number; peak: number; end: number; samples: number } | null;
    exit: ExitInfo;
    crashed: boolean;
  };
  /** Average CPUs busy during the calls phase. */
  cpu: CpuUse;
  /** Errors of the well-behaved clients, by kind. */
  errors: Record<string, number>;
  spamDeclined: number;
  /** Declines of ring-spam calls answered with an error because the server had just ended the call (benign race). */
  spamRaces: number;
  garbage: GarbageStats | null;
  /** What went wrong (empty: the run passed). */
  problems: string[];
}

export interface Comparison {
  /** garbage ÷ clean. */
  setupP50: number | null;
  setupP99: number | null;
  rttP50: number | null;
  rttP99: number | null;
  callsPerSecond: number | null;
  probeSetupP50: number | null;
  probeSetupP99: number | null;
  probeRttP50: number | null;
  probeRttP99: number | null;
  /** Every good call of the garbage run completed, without an error. */
  goodCallsUnaffected: boolean;
}

export interface LoadTestResult {
  machine: MachineInfo;
  options: Omit<Options, 'help' | 'json'> & { garbageConnections: number };
  runs: RunResult[];
  comparison: Comparison | null;
  wallSeconds: number;
  ok: boolean;
}

const now = () => performance.now();
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

/** Races `promise` against the deadline and against the server dying. */
function guard<T>(promise: Promise<T>, config: RunConfig, server: ServerProcess, phase: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`timed out after ${config.timeoutSeconds} s during ${phase()}`)),
      Math.max(0, config.deadline - now()),
    );
    void server.exited.then((info) => {
      if (server.crashed) reject(new Error(`the signaling server exited (${info.signal ?? `code ${info.code}`}) during ${phase()}: ${server.stderrTail.trim().slice(-800)}`));
    });
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

const pad = (i: number) => String(i).padStart(5, '0');

/** One run against a fresh server process. */
export async function runOnce(config: RunConfig, progress: (line: string) => void): Promise<RunResult> {
  const wallStart = now();
  const log = (line: string) => progress(`${config.kind}: ${line}`);
  const server = await ServerProcess.start({ rate: config.serverRate, timeoutMs: Math.max(1000, Math.min(15_000, config.deadline - now())) });
  server.startSampling(100);
  const rssStart = server.sampleMemory();
  log(`server pid ${server.pid} at ${server.url}${rssStart !== undefined ? `, RSS ${mb(rssStart)}` : ''}`);

  const errors = new Counter();
  const goodCount = config.connections - config.garbageConnections;
  const goodIds = Array.from({ length: goodCount }, (_, i) => `u${pad(i)}`);
  const garbageIds = Array.from({ length: config.garbageConnections }, (_, i) => `g${pad(i)}`);
  const garbageActive = config.kind === 'garbage';
  const garbage =
    garbageIds.length > 0
      ? new GarbageFleet(server.url, garbageIds, {
          active: garbageActive,
          rate: config.garbageRate,
          goodUserIds: goodIds,
          prng: new Prng(config.seed),
          maxMessageBytes: SERVER_MAX_MESSAGE_BYTES,
          maxPayload: SERVER_MAX_PAYLOAD,
        })
      : undefined;
  const good = new GoodFleet(server.url, goodIds, errors);
  let phaseName = 'connect';
  let calls: CallPhase | undefined;
  let stopProbe: (() => void) | undefined;
  const describe = () => {
    const p = calls?.progress;
    return `the ${phaseName} phase of the ${config.kind} run` + (p ? ` (${p.completed} of ${config.calls} calls completed, ${p.inFlight} in flight)` : ` (${good.clients.length} of ${goodCount} good connections open)`);
  };

  try {
    // Connect: the garbage connections first, so that their garbage also hits the good connections' setup.
    const connectStart = now();
    if (garbage) {
      await guard(garbage.connect(CONNECT_CONCURRENCY), config, server, describe);
      garbage.start();
      log(`${garbageIds.length} garbage connections open, ${garbageActive ? `sending ~${config.garbageRate} frames/s each` : 'quiet'}`);
    }
    await guard(
      good.connect(CONNECT_CONCURRENCY, (n) => log(`${n}/${goodCount} good connections open`)),
      config,
      server,
      describe,
    );
    const connectSeconds = (now() - connectStart) / 1000;
    const rssConnected = server.sampleMemory();
    log(`${good.clients.length} good connections open in ${connectSeconds.toFixed(1)} s${rssConnected !== undefined ? `, server RSS ${mb(rssConnected)}` : ''}`);

    // Warm-up: a few calls, not counted, so that both runs of a comparison start with the JIT warm on both sides.
    phaseName = 'warm-up';
    const warmup = new CallPhase(good.pairs, { calls: Math.min(WARMUP_CALLS, good.pairs.length), messages: config.messages, rampSeconds: 0 }, errors);
    const warmed = await guard(warmup.run(), config, server, describe);

    // The probe pair, in its own thread, for the length of the calls phase.
    let probe: Probe | string = 'disabled';
    if (config.probe !== false) {
      phaseName = 'probe start';
      probe = await guard(Probe.start(server.url, config.messages, PROBE_PAUSE_MS, 15_000), config, server, describe);
      if (typeof probe === 'string') log(`no probe: ${probe}`);
      else stopProbe = () => (probe as Probe).kill();
    }

    // Calls.
    phaseName = 'calls';
    calls = new CallPhase(good.pairs, { calls: config.calls, messages: config.messages, rampSeconds: config.rampSeconds }, errors);
    const phase = calls;
    const ticker = setInterval(() => {
      const p = phase.progress;
      const rss = server.memory?.last;
      const g = garbage?.stats();
      log(
        `${p.completed}/${config.calls} calls completed, ${p.inFlight} in flight` +
          (p.failed > 0 ? `, ${p.failed} failed` : '') +
          (rss !== undefined ? `, server RSS ${mb(rss)}` : '') +
          (g && garbageActive ? `, ${g.framesSent} garbage frames sent` : ''),
      );
    }, PROGRESS_EVERY_MS);
    const cpuBefore = cpuPoint(server.pid);
    let result: CallPhaseResult;
    try {
      result = await guard(phase.run(), config, server, describe);
    } finally {
      clearInterval(ticker);
      phase.abort();
    }
    const cpu = cpuUse(cpuBefore, cpuPoint(server.pid));
    let probeResult: ProbeResult | { missing: string };
    if (typeof probe === 'string') {
      probeResult = { missing: probe };
    } else {
      const outcome = await probe.stop(10_000);
      stopProbe = undefined;
      if (typeof outcome === 'string') {
        errors.add(`probe: ${outcome}`);
        probeResult = { missing: outcome };
      } else {
        for (const [kind, n] of Object.entries(outcome.errors)) errors.add(`probe: ${kind}`, n);
        if (outcome.completed < outcome.calls) errors.add('probe: call did not complete', outcome.calls - outcome.completed);
        probeResult = outcome;
      }
    }
    log(`${result.completed}/${config.calls} calls completed in ${result.seconds.toFixed(1)} s`);

    // Let every garbage connection finish its tour of the kinds, then collect the last replies.
    phaseName = 'garbage drain';
    if (garbage && garbageActive) {
      await guard(
        (async () => {
          while (!garbage.toursDone) await new Promise((resolve) => setTimeout(resolve, 50));
        })(),
        config,
        server,
        describe,
      );
    }
    await garbage?.stop(garbageActive ? GARBAGE_DRAIN_MS : 0);
    server.sampleMemory();
    const memory = server.memory;
    const garbageStats = garbage?.stats() ?? null;

    good.close();
    garbage?.close();
    const crashed = server.crashed;
    const exit = await server.stop();
    const setupMs = summarize(result.setupMs);
    const rttMs = summarize(result.rttMs);

    const problems: string[] = [];
    if (crashed) problems.push(`the server exited during the run (${exit.signal ?? `code ${exit.code}`})`);
    else if (exit.signal === 'SIGKILL') problems.push('the server did not stop on SIGTERM within 5 s');
    if (warmed.completed < warmed.launched) problems.push(`${warmed.launched - warmed.completed} of ${warmed.launched} warm-up calls did not complete`);
    if (result.completed < config.calls) problems.push(`${config.calls - result.completed} of ${config.calls} calls did not complete`);
    if (errors.total() > 0) problems.push(`the well-behaved clients saw ${errors.total()} error(s)`);
    if (garbageStats && garbageActive && garbageStats.connectionsWithErrorReply < garbageStats.connectionsThatSent) {
      problems.push(`${garbageStats.connectionsThatSent - garbageStats.connectionsWithErrorReply} garbage connection(s) got no error reply`);
    }

    return {
      kind: config.kind,
      connections: { total: config.connections, good: goodCount, goodConnected: good.clients.length, garbage: garbageIds.length, garbageActive },
      pairs: good.pairs.length,
      calls: {
        requested: config.calls,
        launched: result.launched,
        completed: result.completed,
        perSecond: result.seconds > 0 ? result.completed / result.seconds : 0,
        maxEstablished: result.maxEstablished,
        waves: result.waves,
        warmup: warmed.launched,
        warmupCompleted: warmed.completed,
      },
      setupMs,
      rttMs,
      probe: probeResult,
      seconds: { connect: connectSeconds, calls: result.seconds, wall: (now() - wallStart) / 1000 },
      server: {
        pid: server.pid,
        rss: memory ? { start: memory.start, connected: rssConnected ?? memory.start, peak: memory.peak, end: memory.last, samples: memory.samples } : null,
        exit,
        crashed,
      },
      cpu,
      errors: errors.toObject(),
      spamDeclined: good.spamDeclined,
      spamRaces: good.spamRaces,
      garbage: garbageStats,
      problems,
    };
  } finally {
    stopProbe?.();
    good.close();
    garbage?.close();
    await server.stop();
  }
}

/** The whole invocation: the runs the options ask for, in order, and their comparison. */
export async function runLoadTest(options: Options, progress: (line: string) => void): Promise<LoadTestResult> {
  const start = now();
  const machine = machineInfo();
  const deadline = start + options.timeoutSeconds * 1000;
  const garbageConnections = garbageCount(options.connections, options.garbage);
  const runs: RunResult[] = [];
  for (const kind of options.runs) {
    runs.push(
      await runOnce(
        {
          kind,
          connections: options.connections,
          // A clean run on its own has every connection well-behaved; in a comparison the garbage ones stay quiet.
          garbageConnections: options.runs.includes('garbage') ? garbageConnections : 0,
          calls: options.calls,
          messages: options.messages,
          rampSeconds: options.rampSeconds,
          garbageRate: options.garbageRate,
          serverRate: options.serverRate,
          seed: options.seed,
          deadline,
          timeoutSeconds: options.timeoutSeconds,
        },
        progress,
      ),
    );
  }
  const clean = runs.find((r) => r.kind === 'clean');
  const dirty = runs.find((r) => r.kind === 'garbage');
  const comparison: Comparison | null =
    clean && dirty
      ? {
          setupP50: ratio(dirty.setupMs.p50, clean.setupMs.p50),
          setupP99: ratio(dirty.setupMs.p99, clean.setupMs.p99),
          rttP50: ratio(dirty.rttMs.p50, clean.rttMs.p50),
          rttP99: ratio(dirty.rttMs.p99, clean.rttMs.p99),
          callsPerSecond: ratio(dirty.calls.perSecond, clean.calls.perSecond),
          probeSetupP50: ratio(probeOf(dirty)?.setupMs.p50 ?? null, probeOf(clean)?.setupMs.p50 ?? null),
          probeSetupP99: ratio(probeOf(dirty)?.setupMs.p99 ?? null, probeOf(clean)?.setupMs.p99 ?? null),
          probeRttP50: ratio(probeOf(dirty)?.rttMs.p50 ?? null, probeOf(clean)?.rttMs.p50 ?? null),
          probeRttP99: ratio(probeOf(dirty)?.rttMs.p99 ?? null, probeOf(clean)?.rttMs.p99 ?? null),
          goodCallsUnaffected: dirty.calls.completed === dirty.calls.requested && Object.keys(dirty.errors).length === 0,
        }
      : null;
  const { help: _help, json: _json, ...rest } = options;
  return {
    machine,
    options: { ...rest, garbageConnections },
    runs,
    comparison,
    wallSeconds: (now() - start) / 1000,
    ok: runs.every((r) => r.problems.length === 0),
  };
}

/** The probe's figures of a run, if it ran. */
export function probeOf(run: RunResult): ProbeResult | undefined {
  return 'missing' in run.probe ? undefined : run.probe;
}

export function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

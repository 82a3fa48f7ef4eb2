/**
 * V8's sampling profiler on the browsers' dedicated workers (for the perf tests, MTCALL_PERF_PROFILE=1): Chromium is
 * started with a DevTools port beside Playwright's pipe, this module attaches to every `worker` target over that port
 * (flattened sessions, raw CDP over `ws`), runs `Profiler.start` … `Profiler.stop`, and sums the samples' self time by
 * function — the answer to "where does a worker's CPU go per frame" that the kernel's per-thread total cannot give.
 */
import WebSocket from 'ws';

/** A function's share of a profile. */
export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A raw CDP connection to the browser (flattened sessions). */
class Cdp {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const waiter = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
    });
  }

  static async connect(port: number): Promise<Cdp> {
    const version = (await (await fetch(`http://127.0.0.1:${port}/json/version`)).json()) as { webSocketDebuggerUrl: string };
    const ws = new WebSocket(version.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    return new Cdp(ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise<T>((resolve, reject) => this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
  }

  close(): void {
    this.#ws.close();
  }
}

/** A profile running on every dedicated worker of the browser listening on `port`. */
export class WorkerProfiler {
  readonly #cdp: Cdp;
  readonly #sessions: string[];

  private constructor(cdp: Cdp, sessions: string[]) {
    this.#cdp = cdp;
    this.#sessions = sessions;
  }

  /** Attaches to the workers whose URL matches `urlPart` and starts sampling every `intervalMicros`. */
  static async start(port: number, urlPart: string, intervalMicros = 100): Promise<WorkerProfiler> {
    const cdp = await Cdp.connect(port);
    const { targetInfos } = await cdp.send<{ targetInfos: { targetId: string; type: string; url: string }[] }>('Target.getTargets');
    const workers = targetInfos.filter((t) => t.type === 'worker' && t.url.includes(urlPart));
    if (workers.length === 0) throw new Error(`no worker target matching ${urlPart}: ${targetInfos.map((t) => `${t.type} ${t.url}`).join(', ')}`);
    const sessions: string[] = [];
    for (const worker of workers) {
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId: worker.targetId, flatten: true });
      await cdp.send('Profiler.enable', {}, sessionId);
      await cdp.send('Profiler.setSamplingInterval', { interval: intervalMicros }, sessionId);
      await cdp.send('Profiler.start', {}, sessionId);
      sessions.push(sessionId);
    }
    return new WorkerProfiler(cdp, sessions);
  }

  /** Stops every worker's profile; rows by self time, all workers summed, plus the total sampled time. */
  async stop(): Promise<{ rows: ProfileRow[]; totalMs: number; workers: number }> {
    const bySelf = new Map<string, ProfileRow>();
    let totalMs = 0;
    for (const sessionId of this.#sessions) {
      const { profile } = await this.#cdp.send<{ profile: CpuProfile }>('Profiler.stop', {}, sessionId);
      const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
      const samples = profile.samples ?? [];
      const deltas = profile.timeDeltas ?? [];
      for (let i = 0; i < samples.length; i++) {
        // timeDeltas[i] is the time before sample i; charge sample i with the time to the next one.
        const ms = (deltas[i + 1] ?? 0) / 1000;
        const frame = nodes.get(samples[i]!)!.callFrame;
        const where = frame.url ? `${frame.url.replace(/^.*\//, '')}:${frame.lineNumber + 1}` : '';
        const key = `${frame.functionName}|${where}`;
        const row = bySelf.get(key) ?? { name: frame.functionName || '(anonymous)', where, selfMs: 0 };
        row.selfMs += ms;
        bySelf.set(key, row);
        totalMs += ms;
      }
    }
    this.#cdp.close();
    return { rows: [...bySelf.values()].sort((a, b) => b.selfMs - a.selfMs), totalMs, workers: this.#sessions.length };
  }
}

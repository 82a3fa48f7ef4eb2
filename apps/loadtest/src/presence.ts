/**
 * The presence scenario: N subscribers join one signaling server process, one after another, and every byte the
 * server sends them is counted. In `directory` mode each asks for the "everyone online" directory (the server runs
 * with `--presence-directory N`); in `watch` mode each follows K contacts picked at random among the N. A join is
 * complete when the joiner has its welcome and its snapshot and every update the join causes has arrived (the
 * expected count is computed from the subscriptions), so the per-join figures are exact, not timed.
 */

import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Prng } from './prng.js';
import { ServerProcess } from './server-process.js';

/** Options of `mtcall-loadtest presence`. */
export interface PresenceScenarioOptions {
  subscribers: number;
  mode: 'directory' | 'watch';
  /** Contacts per subscriber in watch mode. */
  watch: number;
  seed: number;
  timeoutSeconds: number;
  json: boolean;
  help: boolean;
}

export const PRESENCE_USAGE = `Usage: mtcall-loadtest presence [options]

Starts one signaling server process and joins N subscribers to it one after another, counting the bytes the
server sends them: what presence costs per join.

Options:
  --subscribers N     how many join (default 2000)
  --mode M            directory: everyone follows the "everyone online" directory (the server lists up to N);
                      watch: everyone follows K contacts picked at random (default directory)
  --watch K           contacts per subscriber in watch mode (default 50)
  --seed N            seed of the contact choice (default 1)
  --timeout S         abort after S seconds (default 300)
  --json              one JSON object on stdout
  -h, --help          this help
`;

/** Parses `presence`'s argv; throws with a readable message. */
export function parsePresenceOptions(argv: readonly string[]): PresenceScenarioOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      subscribers: { type: 'string' },
      mode: { type: 'string' },
      watch: { type: 'string' },
      seed: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, min: number, max: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}; got ${JSON.stringify(text)}`);
    return n;
  };
  const mode = values.mode ?? 'directory';
  if (mode !== 'directory' && mode !== 'watch') throw new Error(`--mode must be directory or watch; got ${JSON.stringify(mode)}`);
  return {
    subscribers: int('subscribers', values.subscribers, 2000, 2, 20_000),
    mode,
    watch: int('watch', values.watch, 50, 1, 500),
    seed: int('seed', values.seed, 1, 0, 2 ** 32 - 1),
    timeoutSeconds: int('timeout', values.timeout, 300, 1, 86_400),
    json: values.json,
    help: values.help,
  };
}

/** What the scenario measured. */
export interface PresenceResult {
  mode: 'directory' | 'watch';
  subscribers: number;
  watchPerSubscriber: number | null;
  /** Bytes (WebSocket payloads) and frames the server sent the subscribers, in all. */
  bytes: number;
  frames: number;
  /** Presence messages among them: snapshots and updates. */
  updates: number;
  snapshotEntries: number;
  bytesPerJoin: { mean: number; first: number; last: number; max: number };
  updatesPerJoin: { mean: number; last: number };
  seconds: number;
  serverRss: { start: number; end: number } | null;
}

/** Runs the scenario. `progress` gets a line every few hundred joins. */
export async function runPresenceScenario(options: PresenceScenarioOptions, progress: (line: string) => void = () => undefined): Promise<PresenceResult> {
  const n = options.subscribers;
  const server = await ServerProcess.start({
    rate: 100_000,
    timeoutMs: 30_000,
    extraArgs: ['--presence-directory', String(n), '--max-watch', String(Math.max(options.watch, 1))],
  });
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  const rng = new Prng(options.seed);
  const ids = Array.from({ length: n }, (_, i) => `user${i}`);
  const contacts: string[][] = ids.map((_, i) => {
    if (options.mode !== 'watch') return [];
    const set = new Set<string>();
    while (set.size < Math.min(options.watch, n - 1)) {
      const j = rng.int(n);
      if (j !== i) set.add(ids[j]!);
    }
    return [...set];
  });
  /** Who already joined and follows user j: the recipients of j's join update. */
  const followers = new Map<string, number>();
  const sockets: WebSocket[] = [];
  let bytes = 0;
  let frames = 0;
  let updates = 0;
  let snapshotEntries = 0;
  const perJoinBytes: number[] = [];
  const perJoinUpdates: number[] = [];
  const startRss = server.sampleMemory() ?? null;
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      if (Date.now() > deadline) throw new Error(`timed out after ${i} joins`);
      const beforeBytes = bytes;
      const beforeUpdates = updates;
      // The joiner follows itself in directory mode (it is in the directory); in watch mode only its followers hear.
      const expectedUpdates = options.mode === 'directory' ? i + 1 : (followers.get(ids[i]!) ?? 0);
      const ws = new WebSocket(server.url);
      sockets.push(ws);
      let ready = false;
      let snapshotSeen = false;
      ws.on('message', (data: Buffer) => {
        bytes += data.length;
        frames++;
        const text = data.toString();
        if (text.startsWith('{"type":"presenceUpdate"')) updates++;
        else if (text.startsWith('{"type":"presence"')) {
          snapshotSeen = true;
          snapshotEntries += (JSON.parse(text) as { users: unknown[] }).users.length;
        } else if (text.startsWith('{"type":"welcome"')) ready = true;
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'hello', protocol: 1, userId: ids[i], deviceId: 'd', ...(options.mode === 'directory' ? { presence: true } : {}) }));
      if (options.mode === 'watch') ws.send(JSON.stringify({ type: 'watch', users: contacts[i] }));
      await until(() => ready && snapshotSeen && updates - beforeUpdates >= expectedUpdates, deadline);
      if (options.mode === 'watch') for (const c of contacts[i]!) followers.set(c, (followers.get(c) ?? 0) + 1);
      perJoinBytes.push(bytes - beforeBytes);
      perJoinUpdates.push(updates - beforeUpdates);
      if ((i + 1) % 500 === 0) progress(`${i + 1}/${n} joined, ${(bytes / 1e6).toFixed(1)} MB so far`);
    }
  } finally {
    for (const ws of sockets) ws.terminate();
  }
  const seconds = (performance.now() - t0) / 1000;
  const endRss = server.sampleMemory() ?? null;
  await server.stop();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    mode: options.mode,
    subscribers: n,
    watchPerSubscriber: options.mode === 'watch' ? options.watch : null,
    bytes,
    frames,
    updates,
    snapshotEntries,
    bytesPerJoin: { mean: Math.round(mean(perJoinBytes)), first: perJoinBytes[0]!, last: perJoinBytes.at(-1)!, max: Math.max(...perJoinBytes) },
    updatesPerJoin: { mean: Number(mean(perJoinUpdates).toFixed(1)), last: perJoinUpdates.at(-1)! },
    seconds: Number(seconds.toFixed(2)),
    serverRss: startRss !== null && endRss !== null ? { start: startRss, end: endRss } : null,
  };
}

/** Waits for a condition, checking each event-loop turn (no fixed sleeps). */
async function until(condition: () => boolean, deadline: number): Promise<void> {
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a join to complete');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A readable report. */
export function formatPresenceReport(r: PresenceResult): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  return [
    `presence: ${r.subscribers} subscribers joined one after another (${r.mode}${r.watchPerSubscriber !== null ? `, ${r.watchPerSubscriber} contacts each` : ''}) in ${r.seconds} s`,
    `  sent by the server: ${mb(r.bytes)} in ${r.frames} frames; ${r.updates} presence updates, ${r.snapshotEntries} snapshot entries`,
    `  per join: ${r.bytesPerJoin.mean} B on average (first ${r.bytesPerJoin.first} B, last ${r.bytesPerJoin.last} B, max ${r.bytesPerJoin.max} B), ${r.updatesPerJoin.mean} updates on average (last ${r.updatesPerJoin.last})`,
    r.serverRss ? `  server RSS ${(r.serverRss.start / 2 ** 20).toFixed(0)} → ${(r.serverRss.end / 2 ** 20).toFixed(0)} MiB` : '',
    '',
  ].filter((l) => l !== '').join('\n') + '\n';
}

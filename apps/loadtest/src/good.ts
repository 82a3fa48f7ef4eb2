/**
 * The well-behaved side: real `SignalingClient`s (with `ws` as the WebSocket), paired caller → callee, placing
 * calls through the full handshake (requestCall → acceptCall → confirmCall, the real 2048-bit DH on both sides)
 * and exchanging sealed packets over the real `SecureSignalingChannel` before hanging up.
 */

import WebSocket from 'ws';
import { memoryDhConfigCache, SignalingClient, type Call, type InCallMessage, type WebSocketConstructor } from '@mtcall/signaling';
import { Counter } from './stats.js';

/** A caller and its callee; a pair places one call at a time (the server reports a user in a call as busy). */
export interface Pair {
  caller: SignalingClient;
  callee: SignalingClient;
  /** Set while the pair's caller is placing a call: receives the callee's side of it. */
  expect: ((call: Call) => void) | undefined;
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class GoodFleet {
  readonly clients: SignalingClient[] = [];
  readonly pairs: Pair[] = [];
  /** Calls from someone other than the partner (ring spam from garbage connections), declined. */
  spamDeclined = 0;
  /** Error replies to the decline of a ring-spam call that the server had just ended (its caller was closed). */
  spamRaces = 0;
  readonly #spamCalls = new Set<string>();
  readonly #url: string;
  readonly #userIds: readonly string[];
  readonly #errors: Counter;
  #closing = false;

  constructor(url: string, userIds: readonly string[], errors: Counter) {
    this.#url = url;
    this.#userIds = userIds;
    this.#errors = errors;
  }

  /** Connects every client (hello + DH config), `concurrency` at a time; pairs up those that connected. */
  async connect(concurrency: number, onProgress: (connected: number) => void): Promise<void> {
    const cache = memoryDhConfigCache();
    const connected: (SignalingClient | undefined)[] = new Array(this.#userIds.length);
    let count = 0;
    const open = async (userId: string, index: number) => {
      // The socket is tapped to tell one benign race apart: declining a ring-spam call just as the spammer's
      // connection is closed by the server (and the call with it) earns an `unknown-call` error for the decline.
      const tap = { spamErrors: 0 };
      const spamCalls = this.#spamCalls;
      class TappedWebSocket extends WebSocket {
        constructor(url: string) {
          super(url);
          this.on('message', (data, isBinary) => {
            if (isBinary || spamCalls.size === 0) return;
            const text = String(data);
            if (!text.startsWith('{"type":"error"')) return;
            const callId = (JSON.parse(text) as { callId?: unknown }).callId;
            if (typeof callId === 'string' && spamCalls.has(callId)) tap.spamErrors++;
          });
        }
      }
      const client = new SignalingClient({ url: this.#url, userId, deviceId: 'd', WebSocket: TappedWebSocket as unknown as WebSocketConstructor, dhConfigCache: cache });
      try {
        await client.connect();
      } catch (error) {
        this.#errors.add(`connect-failed: ${(error as Error).message.replace(/\d+/g, 'N')}`);
        return;
      }
      client.on('error', (e) => {
        if (tap.spamErrors > 0) {
          tap.spamErrors--;
          this.spamRaces++;
        } else if (!this.#closing) {
          this.#errors.add(`server-error: ${e.code}`);
        }
      });
      client.on('close', () => {
        if (!this.#closing) this.#errors.add('disconnected');
      });
      connected[index] = client;
      this.clients.push(client);
      if (++count % 100 === 0) onProgress(count);
    };
    // The first alone: it fetches and checks the DH config (a primality test); the others get "not modified".
    if (this.#userIds.length > 0) await open(this.#userIds[0]!, 0);
    await pool(this.#userIds.slice(1), concurrency, (id, i) => open(id, i + 1));
    for (let i = 0; i + 1 < connected.length; i += 2) {
      const caller = connected[i];
      const callee = connected[i + 1];
      if (!caller || !callee) continue;
      const pair: Pair = { caller, callee, expect: undefined };
      callee.on('incoming', (call) => this.#incoming(pair, call));
      caller.on('incoming', (call) => this.#incoming(undefined, call));
      this.pairs.push(pair);
    }
  }

  #incoming(pair: Pair | undefined, call: Call): void {
    if (pair?.expect && call.peerId === pair.caller.userId) {
      const expect = pair.expect;
      pair.expect = undefined;
      expect(call);
      return;
    }
    if (pair && call.peerId === pair.caller.userId) this.#errors.add('unexpected-call-from-partner');
    else {
      this.spamDeclined++;
      if (call.callId !== undefined) this.#spamCalls.add(call.callId);
    }
    call.decline();
  }

  close(): void {
    this.#closing = true;
    for (const client of this.clients) client.close();
  }
}

/** In-call messages of the ping-pong: an `app` message carrying a counter. */
function ping(n: number): InCallMessage {
  return { type: 'app', data: { ping: n } };
}
function pong(n: number): InCallMessage {
  return { type: 'app', data: { pong: n } };
}
function field(message: InCallMessage, name: 'ping' | 'pong'): number | undefined {
  if (message.type !== 'app' || typeof message.data !== 'object' || message.data === null) return undefined;
  const value = (message.data as Record<string, unknown>)[name];
  return typeof value === 'number' ? value : undefined;
}

export interface CallPhaseOptions {
  calls: number;
  /** Sealed packets each way per call (a ping-pong: K pings caller → callee, K pongs back). */
  messages: number;
  /** Spread call starts evenly over this many seconds (0: as fast as the event loop allows). */
  rampSeconds: number;
}

export interface CallPhaseResult {
  launched: number;
  completed: number;
  /** requestCall sent → both sides established, ms. */
  setupMs: number[];
  /** A sealed ping caller → callee and its sealed pong back, ms. */
  rttMs: number[];
  /** First call start → last call end, seconds. */
  seconds: number;
  /** Most calls established (both sides keyed) at the same moment. */
  maxEstablished: number;
  waves: number;
}

/** Hands out call starts one per event-loop turn, so replies of earlier calls are read between two starts. */
class Launcher {
  readonly #queue: (() => void)[] = [];
  #pumping = false;

  acquire(): Promise<void> {
    return new Promise((resolve) => {
      this.#queue.push(resolve);
      if (!this.#pumping) this.#pump();
    });
  }

  #pump(): void {
    this.#pumping = true;
    setImmediate(() => {
      this.#queue.shift()?.();
      if (this.#queue.length > 0) this.#pump();
      else this.#pumping = false;
    });
  }
}

const now = () => performance.now();

/** One call in progress, in two steps: `established` (set up), then `talk()` (ping-pong, hang-up, both ended). */
interface CallRun {
  /** True once both sides are established; false if the call failed before. */
  established: Promise<boolean>;
  /** Sends the K pings, answers them, hangs up; resolves when both sides have ended (or the call failed). */
  talk(): Promise<void>;
}

/**
 * Runs `calls` calls in waves of one call per pair (a user in a call is busy for other callers): every call of
 * a wave is set up, then, with all of them established at once, each exchanges its K sealed packets each way and
 * hangs up; the next wave starts when the last call of this one has ended. Set-ups, and the starts of the
 * exchanges, are handed out one per event-loop turn: all of them are in flight together, but the replies of
 * earlier calls are read between two starts (a burst started in one turn would measure this process's queue).
 
 */
export class CallPhase {
  readonly #pairs: readonly Pair[];
  readonly #options: CallPhaseOptions;
  readonly #errors: Counter;
  readonly #launcher = new Launcher();
  readonly #setup: number[] = [];
  readonly #rtt: number[] = [];
  #launched = 0;
  #completed = 0;
  #failed = 0;
  #inFlight = 0;
  #established = 0;
  #maxEstablished = 0;
  #aborted = false;

  constructor(pairs: readonly Pair[], options: CallPhaseOptions, errors: Counter) {
    this.#pairs = pairs;
    this.#options = options;
    this.#errors = errors;
  }

  get progress(): { launched: number; completed: number; failed: number; inFlight: number; established: number } {
    return { launched: this.#launched, completed: this.#completed, failed: this.#failed, inFlight: this.#inFlight, established: this.#established };
  }

  /** Stops launching new calls (after a timeout). */
  abort(): void {
    this.#aborted = true;
  }

  async run(): Promise<CallPhaseResult> {
    const { calls, rampSeconds } = this.#options;
    const start = now();
    let waves = 0;
    if (this.#pairs.length === 0) this.#errors.add('no-pairs-connected');
    while (this.#pairs.length > 0 && this.#launched < calls && !this.#aborted) {
      const size = Math.min(this.#pairs.length, calls - this.#launched);
      const first = this.#launched;
      waves++;
      const runs = await Promise.all(
        this.#pairs.slice(0, size).map(async (pair, i) => {
          if (rampSeconds > 0) {
            const at = start + (rampSeconds * 1000 * (first + i)) / calls;
            if (at > now()) await new Promise((resolve) => setTimeout(resolve, at - now()));
          }
          await this.#launcher.acquire();
          return this.#aborted ? undefined : this.#call(pair);
        }),
      );
      const established = await Promise.all(runs.map((r) => r?.established ?? false));
      // Every call of the wave is up now; they start talking one per event-loop turn, like they were set up.
      await Promise.all(
        runs.map(async (r, i) => {
          if (!r || !established[i]) return;
          await this.#launcher.acquire();
          await r.talk();
        }),
      );
    }
    return {
      launched: this.#launched,
      completed: this.#completed,
      setupMs: [...this.#setup],
      rttMs: [...this.#rtt],
      seconds: (now() - start) / 1000,
      maxEstablished: this.#maxEstablished,
      waves,
    };
  }

  #call(pair: Pair): CallRun {
    const k = this.#options.messages;
    this.#launched++;
    this.#inFlight++;
    let requestSent: number | undefined;
    let callerAt: number | undefined;
    let calleeAt: number | undefined;
    let pingSentAt = 0;
    let pings = 0;
    let pongs = 0;
    let hungUp = false;
    let done = false;
    let keyed = false;
    let incoming: Call | undefined;
    let resolveEstablished!: (ok: boolean) => void;
    let resolveEnded!: () => void;
    const established = new Promise<boolean>((resolve) => (resolveEstablished = resolve));
    const ended = new Promise<void>((resolve) => (resolveEnded = resolve));

    const finish = (error?: string) => {
      if (done) return;
      done = true;
      pair.expect = undefined;
      this.#inFlight--;
      if (keyed) this.#established--;
      if (error === undefined) {
        this.#completed++;
      } else {
        this.#failed++;
        this.#errors.add(error);
        hungUp = true;
        outgoing.hangUp();
        incoming?.hangUp();
      }
      resolveEstablished(false); // no-op once it resolved true
      resolveEnded();
    };
    const send = (call: Call, message: InCallMessage) => {
      try {
        call.sendSignal(message);
      } catch (error) {
        finish(`send-failed: ${(error as Error).message}`);
      }
    };
    const advance = () => {
      if (done) return;
      if (pings < k) {
        pingSentAt = now();
        send(outgoing, ping(pings++));
      } else {
        hungUp = true;
        outgoing.hangUp();
      }
    };
    const onEstablished = () => {
      if (callerAt === undefined || calleeAt === undefined || keyed) return;
      keyed = true;
      this.#setup.push(Math.max(callerAt, calleeAt) - requestSent!);
      this.#maxEstablished = Math.max(this.#maxEstablished, ++this.#established);
      resolveEstablished(true);
    };

    pair.expect = (call) => {
      incoming = call;
      call.on('established', () => {
        calleeAt = now();
        onEstablished();
      });
      call.on('signal', (message) => {
        const n = field(message, 'ping');
        if (n === undefined) finish('unexpected-signal');
        else send(call, pong(n));
      });
      call.on('signalDropped', (reason) => finish(`signal-dropped: ${reason}`));
      call.on('ended', (e) => {
        if (hungUp && e.reason === 'hangup' && e.byPeer && pongs === k) finish();
        else finish(`callee-ended: ${e.reason}`);
      });
      call.accept();
    };
    const outgoing = pair.caller.call(pair.callee.userId, { video: false });
    outgoing.on('state', (state) => {
      if (state === 'requesting') requestSent = now();
    });
    outgoing.on('established', () => {
      callerAt = now();
      onEstablished();
    });
    outgoing.on('signal', (message) => {
      if (field(message, 'pong') !== pongs) return finish('pong-mismatch');
      this.#rtt.push(now() - pingSentAt);
      pongs++;
      advance();
    });
    outgoing.on('signalDropped', (reason) => finish(`signal-dropped: ${reason}`));
    outgoing.on('ended', (e) => {
      if (!hungUp) finish(`caller-ended: ${e.reason}`);
    });

    return {
      established,
      talk: () => {
        advance();
        return ended;
      },
    };
  }
}

/**
 * The misbehaving side: raw `ws` connections that send what a broken or hostile client would — random bytes,
 * bad JSON, valid JSON that is not a protocol message, messages that fail the schema, messages about calls that
 * do not exist or are in the wrong state, frames over the size limit (answered) and over the hard limit (the
 * server closes), invalid UTF-8 (closed too), floods, and ring spam at the good users. Each connection first
 * runs through every kind once (so even a tiny run covers them all), then picks kinds at random (seeded).
 * A connection the server closed reconnects with a fresh device id.
 *
 * In "quiet" mode the same connections only say hello and stay idle: the baseline of a comparison has the same
 * number of sockets open.
 */

import WebSocket from 'ws';
import type { Prng } from './prng.js';
import { Counter } from './stats.js';

export interface GarbageOptions {
  /** Send garbage (true) or only connect and stay idle (false). */
  active: boolean;
  /** Average frames per second per connection, floods included. */
  rate: number;
  /** Good users to ring (ring spam). */
  goodUserIds: readonly string[];
  prng: Prng;
  /** The server's answered-frame limit (its --max-message-bytes) and its hard WebSocket limit. */
  maxMessageBytes: number;
  maxPayload: number;
}

export interface GarbageStats {
  connections: number;
  active: boolean;
  framesSent: number;
  bytesSent: number;
  sentByKind: Record<string, number>;
  /** `error` replies by code. */
  errorReplies: Record<string, number>;
  /** Other server messages the garbage connections got (welcome, callRequested, phoneCallDiscarded, …). */
  otherReplies: Record<string, number>;
  /** Server-side closes seen, by WebSocket close code. */
  closes: Record<string, number>;
  reconnects: number;
  /** Connections that sent at least one garbage frame, and of those, how many got at least one error reply. */
  connectionsThatSent: number;
  connectionsWithErrorReply: number;
  /** Connections that went through every kind at least once. */
  toursCompleted: number;
}

type Frame = { data: string | Buffer; binary: boolean };

interface Connection {
  index: number;
  userId: string;
  socket: WebSocket | undefined;
  ready: boolean;
  serial: number;
  tour: number;
  sent: number;
  errorReplies: number;
  prng: Prng;
  /** requestId → why this connection placed the call. */
  pending: Map<string, 'spam' | 'abuse'>;
  welcomed: (() => void) | undefined;
}

const TICK_MS = 20;
const FLOOD_FRAMES = 100;
/** Skip a tick while this much is still queued on the socket (the server is slow to read). */
const MAX_BUFFERED = 2 * 1024 * 1024;

const hex = (prng: Prng, bytes: number) => prng.bytes(bytes).toString('hex');
const b64 = (prng: Prng, bytes: number) => prng.bytes(bytes).toString('base64');
const letters = (prng: Prng, n: number) => {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + prng.int(26));
  return s;
};
const printable = (prng: Prng, n: number) => {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(32 + prng.int(95));
  return s;
};
const text = (data: string): Frame => ({ data, binary: false });

/** Garbage kinds, their weights in the random phase, and what the server should answer. */
const KINDS = [
  ['binary', 10], // random bytes in a binary frame → bad-json
  ['junk-text', 10], // random printable text → bad-json
  ['bad-json', 10], // truncated or broken JSON → bad-json
  ['boundary', 4], // text frames of 0, 1, 15, 16, 17 bytes → bad-json
  ['not-object', 8], // JSON that is not an object → invalid-message
  ['unknown-type', 8], // → unknown-type
  ['invalid-message', 15], // schema violations → invalid-message
  ['unknown-call', 15], // well-formed call messages for a random call id → unknown-call
  ['already-authenticated', 4], // a second hello → already-authenticated
  ['self-call', 4], // → self-call
  ['protocol-abuse', 3], // a call to another garbage user, then confirm/signal out of order → wrong-state, not-a-participant
  ['ring-spam', 2], // a well-formed call to a random good user (who declines it)
  ['oversized', 2], // a frame over --max-message-bytes → frame-too-large
  ['flood', 1], // FLOOD_FRAMES cheap garbage frames back to back
  ['too-big', 0.2], // a frame over the WebSocket hard limit → the server closes (1009)
  ['bad-utf8', 0.5], // a text frame that is not UTF-8 → the server closes (1007)
] as const satisfies readonly (readonly [string, number])[];

type Kind = (typeof KINDS)[number][0];
const TOTAL_WEIGHT = KINDS.reduce((s, [, w]) => s + w, 0);
const CHEAP: readonly Kind[] = ['binary', 'junk-text', 'bad-json', 'not-object', 'unknown-type', 'invalid-message', 'unknown-call'];
/** Frames per random pick, on average (a flood counts FLOOD_FRAMES, boundary 5, protocol-abuse 4). */
const FRAMES_PER_PICK = KINDS.reduce((s, [k, w]) => s + w * (k === 'flood' ? FLOOD_FRAMES : k === 'boundary' ? 5 : k === 'protocol-abuse' ? 4 : 1), 0) / TOTAL_WEIGHT;

export class GarbageFleet {
  readonly #url: string;
  readonly #options: GarbageOptions;
  readonly #connections: Connection[];
  readonly #sentByKind = new Counter();
  readonly #errorReplies = new Counter();
  readonly #otherReplies = new Counter();
  readonly #closes = new Counter();
  readonly #bigText: string;
  readonly #tooBig: Buffer;
  #framesSent = 0;
  #bytesSent = 0;
  #reconnects = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running = false;
  #closed = false;

  constructor(url: string, userIds: readonly string[], options: GarbageOptions) {
    this.#url = url;
    this.#options = options;
    this.#connections = userIds.map((userId, index) => ({
      index,
      userId,
      socket: undefined,
      ready: false,
      serial: 0,
      tour: 0,
      sent: 0,
      errorReplies: 0,
      prng: options.prng.fork(),
      pending: new Map(),
      welcomed: undefined,
    }));
    this.#bigText = 'x'.repeat(options.maxMessageBytes * 3);
    this.#tooBig = Buffer.alloc(options.maxPayload + 1024, 0x78);
  }

  /** Opens every connection and waits for each `welcome`. */
  async connect(concurrency: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < this.#connections.length) await this.#open(this.#connections[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.#connections.length) }, worker));
  }

  /** Starts sending (a no-op when quiet). */
  start(): void {
    if (!this.#options.active || this.#connections.length === 0) return;
    this.#running = true;
    const pickChance = (this.#options.rate * TICK_MS) / 1000 / FRAMES_PER_PICK;
    this.#timer = setInterval(() => {
      for (const c of this.#connections) {
        if (!c.ready || !c.socket || c.socket.readyState !== WebSocket.OPEN || c.socket.bufferedAmount > MAX_BUFFERED) continue;
        if (c.tour < KINDS.length) this.#send(c, KINDS[c.tour++]![0]);
        else if (c.prng.next() < pickChance) this.#send(c, this.#pick(c.prng));
      }
    }, TICK_MS);
  }

  /** True once every connection has sent every kind at least once. */
  get toursDone(): boolean {
    return !this.#options.active || this.#connections.every((c) => c.tour >= KINDS.length);
  }

  /** Stops sending and waits `drainMs` for the replies still on their way. */
  async stop(drainMs: number): Promise<void> {
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await new Promise((resolve) => setTimeout(resolve, drainMs));
  }

  close(): void {
    this.#closed = true;
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    for (const c of this.#connections) c.socket?.terminate();
  }

  stats(): GarbageStats {
    const sentSomething = this.#connections.filter((c) => c.sent > 0);
    return {
      connections: this.#connections.length,
      active: this.#options.active,
      framesSent: this.#framesSent,
      bytesSent: this.#bytesSent,
      sentByKind: this.#sentByKind.toObject(),
      errorReplies: this.#errorReplies.toObject(),
      otherReplies: this.#otherReplies.toObject(),
      closes: this.#closes.toObject(),
      reconnects: this.#reconnects,
      connectionsThatSent: sentSomething.length,
      connectionsWithErrorReply: sentSomething.filter((c) => c.errorReplies > 0).length,
      toursCompleted: this.#connections.filter((c) => c.tour >= KINDS.length).length,
    };
  }

  #open(c: Connection): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(this.#url);
      c.socket = socket;
      c.ready = false;
      c.serial++;
      c.welcomed = resolve;
      socket.on('open', () => {
        // Before hello, a message that needs it → not-authenticated.
        if (this.#options.active) this.#raw(c, 'pre-hello', text(JSON.stringify({ type: 'getDhConfig', version: 0 })));
        socket.send(JSON.stringify({ type: 'hello', protocol: 1, userId: c.userId, deviceId: `garbage-${c.serial}` }));
      });
      socket.on('message', (data, isBinary) => this.#onMessage(c, isBinary ? '' : String(data)));
      socket.on('error', () => undefined); // the close that follows is what counts
      socket.on('close', (code) => {
        c.ready = false;
        if (c.welcomed) {
          c.welcomed = undefined;
          reject(new Error(`garbage connection ${c.userId} closed (${code}) before welcome`));
        }
        if (this.#closed) return;
        this.#closes.add(String(code));
        if (this.#running) {
          this.#reconnects++;
          setTimeout(() => {
            if (this.#running && !this.#closed) this.#open(c).catch(() => undefined);
          }, 20);
        }
      });
    });
  }

  #onMessage(c: Connection, data: string): void {
    let message: { type?: unknown; code?: unknown; requestId?: unknown; callId?: unknown };
    try {
      message = JSON.parse(data) as typeof message;
    } catch {
      this.#otherReplies.add('unparseable');
      return;
    }
    if (message.type === 'error') {
      c.errorReplies++;
      this.#errorReplies.add(String(message.code));
      return;
    }
    this.#otherReplies.add(String(message.type));
    if (message.type === 'welcome') {
      c.ready = true;
      c.welcomed?.();
      c.welcomed = undefined;
      return;
    }
    if (!this.#running || typeof message.callId !== 'string') return;
    const callId = message.callId;
    if (message.type === 'callRequested' && typeof message.requestId === 'string') {
      const why = c.pending.get(message.requestId);
      c.pending.delete(message.requestId);
      if (why === 'abuse') {
        // Our own call, still ringing: confirm before any accept and signal before the call has a key → wrong-state.
        this.#raw(c, 'protocol-abuse', text(JSON.stringify({ type: 'confirmCall', callId, gA: b64(c.prng, 256), keyFingerprint: '1' })));
        this.#raw(c, 'protocol-abuse', text(JSON.stringify({ type: 'signalingData', callId, data: b64(c.prng, 64) })));
        this.#raw(c, 'protocol-abuse', text(JSON.stringify({ type: 'discardCall', callId, reason: 'hangup' })));
      }
    } else if (message.type === 'phoneCallRequested') {
      // A call to us: only the caller may confirm → not-a-participant (or unknown-call if it already ended).
      this.#raw(c, 'protocol-abuse', text(JSON.stringify({ type: 'confirmCall', callId, gA: b64(c.prng, 256), keyFingerprint: '1' })));
      this.#raw(c, 'protocol-abuse', text(JSON.stringify({ type: 'discardCall', callId, reason: 'declined' })));
    }
  }

  #pick(prng: Prng): Kind {
    let x = prng.next() * TOTAL_WEIGHT;
    for (const [kind, weight] of KINDS) {
      x -= weight;
      if (x < 0) return kind;
    }
    return 'binary';
  }

  #send(c: Connection, kind: Kind): void {
    if (kind === 'flood') {
      for (let i = 0; i < FLOOD_FRAMES; i++) for (const frame of this.#frames(c, c.prng.pick(CHEAP))) this.#raw(c, 'flood', frame);
      return;
    }
    for (const frame of this.#frames(c, kind)) this.#raw(c, kind, frame);
  }

  #raw(c: Connection, kind: string, frame: Frame): void {
    const socket = c.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(frame.data, { binary: frame.binary });
    c.sent++;
    this.#framesSent++;
    this.#bytesSent += typeof frame.data === 'string' ? Buffer.byteLength(frame.data) : frame.data.length;
    this.#sentByKind.add(kind);
  }

  #frames(c: Connection, kind: Kind): Frame[] {
    const p = c.prng;
    const callId = () => hex(p, 16);
    switch (kind) {
      case 'binary':
        return [{ data: p.bytes(p.between(1, 512)), binary: true }];
      case 'junk-text':
        return [text(letters(p, 1) + printable(p, p.between(0, 300)))];
      case 'bad-json': {
        const valid = JSON.stringify({ type: 'requestCall', requestId: 'r', calleeId: 'u0', gAHash: b64(p, 32), video: true });
        return [text(p.pick([valid.slice(0, p.between(1, valid.length - 1)), `{"type":"hello",}`, `{'type':'hello'}`, `{"type":"hello"`, `\u0000`, `{"a":1}{"b":2}`]))];
      }
      case 'boundary':
        return [0, 1, 15, 16, 17].map((n) => text(letters(p, n)));
      case 'not-object':
        return [text(p.pick(['[1,2,3]', 'null', '42', '"hello"', 'true', '[]', '-0.5e300']))];
      case 'unknown-type':
        return [text(p.pick([`{"type":"${letters(p, p.between(1, 20))}"}`, '{"type":42}', '{}', '{"type":null}', '{"type":"__proto__"}', '{"type":"constructor"}']))];
      case 'invalid-message': {
        const variants = [
          { type: 'hello', protocol: 2, userId: c.userId, deviceId: 'x' },
          { type: 'requestCall', requestId: 'r1', calleeId: 'u0', gAHash: b64(p, 31), video: true },
          { type: 'requestCall', requestId: 'r1', calleeId: 'has spaces', gAHash: b64(p, 32), video: true },
          { type: 'requestCall', requestId: 'r1', calleeId: 'u0', gAHash: b64(p, 32), video: true, extra: 1 },
          { type: 'acceptCall', callId: 'XYZ', gB: b64(p, 256) },
          { type: 'acceptCall', callId: callId(), gB: b64(p, 255) },
          { type: 'confirmCall', callId: callId(), gA: b64(p, 256), keyFingerprint: '99999999999999999999' },
          { type: 'discardCall', callId: callId(), reason: 'because' },
          { type: 'signalingData', callId: callId(), data: '!!!not base64!!!' },
          { type: 'signalingData', callId: callId(), data: 'A'.repeat(48 * 1024) },
          { type: 'getDhConfig', version: -1 },
          { type: 'getDhConfig', version: '1' },
        ];
        return [text(JSON.stringify(p.pick(variants)))];
      }
      case 'unknown-call': {
        const variants = [
          { type: 'acceptCall', callId: callId(), gB: b64(p, 256) },
          { type: 'confirmCall', callId: callId(), gA: b64(p, 256), keyFingerprint: '-12345' },
          { type: 'discardCall', callId: callId(), reason: 'hangup' },
          { type: 'signalingData', callId: callId(), data: b64(p, p.between(16, 300)) },
        ];
        return [text(JSON.stringify(p.pick(variants)))];
      }
      case 'already-authenticated':
        return [text(JSON.stringify({ type: 'hello', protocol: 1, userId: c.userId, deviceId: `garbage-${c.serial}` }))];
      case 'self-call':
        return [text(JSON.stringify({ type: 'requestCall', requestId: `s${p.int(1e9)}`, calleeId: c.userId, gAHash: b64(p, 32), video: false }))];
      case 'protocol-abuse': {
        const peers = this.#connections.length;
        const peer = this.#connections[(c.index + 1) % peers]!.userId;
        const requestId = `a${p.int(1e9)}`;
        c.pending.set(requestId, 'abuse');
        return [text(JSON.stringify({ type: 'requestCall', requestId, calleeId: peer, gAHash: b64(p, 32), video: false }))];
      }
      case 'ring-spam': {
        if (this.#options.goodUserIds.length === 0) return [];
        const requestId = `p${p.int(1e9)}`;
        c.pending.set(requestId, 'spam');
        return [text(JSON.stringify({ type: 'requestCall', requestId, calleeId: p.pick(this.#options.goodUserIds), gAHash: b64(p, 32), video: true }))];
      }
      case 'oversized':
        return [text(this.#bigText.slice(0, p.between(this.#options.maxMessageBytes + 1, this.#bigText.length)))];
      case 'too-big':
        return [{ data: this.#tooBig, binary: false }];
      case 'bad-utf8':
        return [{ data: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), binary: false }];
      case 'flood':
        return [];
    }
  }
}

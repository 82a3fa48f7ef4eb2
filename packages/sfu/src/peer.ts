/**
 * The control exchange between two SFU processes (or hosts) that pipe producers to each other: plain JSON messages
 * over any ordered duplex channel (`SfuPeerLink`) — Node's IPC to a child process here, Redis pub/sub or HTTP later.
 *
 * Piping producer P from SFU A (its origin) to SFU B, per room and direction:
 * 1. A creates a `PipeTransport` on the room's router and asks B to `open-pipe` with its ip/port (+ SRTP parameters);
 *    B creates its own on the room's router (creating the room), connects it to A's, answers with its ip/port;
 *    A connects. One pipe per (room, origin → edge), reused by every producer.
 * 2. A consumes P on its pipe transport and sends `pipe-producer` with the consumer's RTP parameters; B produces them
 *    on its pipe transport under P's id: B's members consume P like any producer of the room.
 * 3. A tells B when P pauses, resumes or closes (`producer-state`); either side tells the other when a pipe closes.
 * RTP goes A → B; RTCP (key frame requests) B → A over the same pipe: mediasoup relays them itself.
 */

import type { types as ms } from 'mediasoup';
import { SfuError, SFU_ERROR_CODES, type SfuErrorCode } from './errors.js';

/** A transport end: where a pipe transport listens (and its SRTP parameters when the pipe is encrypted). */
export interface PipeEndpoint {
  ip: string;
  port: number;
  srtpParameters?: ms.SrtpParameters;
}

/** What one SFU asks another. */
export type SfuPeerRequest =
  | ({ type: 'open-pipe'; roomId: string; pipeId: string; srtp: boolean } & PipeEndpoint)
  | {
    type: 'pipe-producer'; roomId: string; pipeId: string; producerId: string; memberId: number; source: string;
    kind: ms.MediaKind; rtpParameters: ms.RtpParameters; paused: boolean;
  };

/** The answer to an `SfuPeerRequest`. */
export type SfuPeerReply = ({ type: 'pipe-opened' } & PipeEndpoint) | { type: 'producer-piped' };

/** One-way news from one SFU to the other. */
export type SfuPeerNotice =
  | { type: 'producer-state'; roomId: string; pipeId: string; producerId: string; state: 'paused' | 'resumed' | 'closed' }
  | { type: 'pipe-closed'; roomId: string; pipeId: string };

/** Everything that travels on a link: JSON-serializable. */
export type SfuPeerMessage =
  | { kind: 'request'; id: number; body: SfuPeerRequest }
  | { kind: 'reply'; id: number; ok: true; body: SfuPeerReply }
  | { kind: 'reply'; id: number; ok: false; code: SfuErrorCode; message: string }
  | { kind: 'notice'; body: SfuPeerNotice };

/** An ordered duplex message channel to one peer SFU. Messages must arrive in the order they were sent. */
export interface SfuPeerLink {
  /** Sends one message to the peer. */
  send(message: SfuPeerMessage): void;
  /** Registers the receiver of the peer's messages (raw: they are checked by `parsePeerMessage`). */
  onMessage(handler: (message: unknown) => void): void;
}

/** Two links joined in this process (tests; two `Sfu`s in one process). Messages go through JSON, in order. */
export function createPeerLinkPair(): [SfuPeerLink, SfuPeerLink] {
  const handlers: [((m: unknown) => void) | undefined, ((m: unknown) => void) | undefined] = [undefined, undefined];
  const end = (self: 0 | 1): SfuPeerLink => ({
    send: (message) => {
      const copy: unknown = JSON.parse(JSON.stringify(message));
      setImmediate(() => handlers[self === 0 ? 1 : 0]?.(copy));
    },
    onMessage: (handler) => { handlers[self] = handler; },
  });
  return [end(0), end(1)];
}

/** The part of Node's `ChildProcess` / `process` that carries IPC messages. */
export interface IpcChannel {
  send?(message: object): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * A link over a Node IPC channel (a forked child's `ChildProcess`, or `process` inside the child). Peer messages
 * travel in an `{ mtcallSfuPeer: … }` envelope, so the channel can carry other traffic too.
 */
export function ipcPeerLink(channel: IpcChannel): SfuPeerLink {
  return {
    send: (message) => {
      if (!channel.send) throw new SfuError('unknown-peer', 'this process has no IPC channel');
      channel.send({ mtcallSfuPeer: message });
    },
    onMessage: (handler) => {
      channel.on('message', (raw) => {
        if (typeof raw === 'object' && raw !== null && 'mtcallSfuPeer' in raw) handler((raw as { mtcallSfuPeer: unknown }).mtcallSfuPeer);
      });
    },
  };
}

const bad = (why: string): never => { throw new Error(`bad peer message: ${why}`); };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, name: string, max = 128): string => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : bad(`${name} must be a string of 1..${max} characters`));
const int = (v: unknown, name: string, min: number, max: number): number => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? (v as number) : bad(`${name} must be an integer ${min}..${max}`));
const bool = (v: unknown, name: string): boolean => (typeof v === 'boolean' ? v : bad(`${name} must be a boolean`));

function endpoint(m: Record<string, unknown>): PipeEndpoint {
  const ip = str(m['ip'], 'ip', 64);
  const port = int(m['port'], 'port', 1, 65535);
  if (m['srtpParameters'] === undefined) return { ip, port };
  const s = isObject(m['srtpParameters']) ? m['srtpParameters'] : bad('srtpParameters must be an object');
  return { ip, port, srtpParameters: { cryptoSuite: str(s['cryptoSuite'], 'cryptoSuite', 64) as ms.SrtpCryptoSuite, keyBase64: str(s['keyBase64'], 'keyBase64', 128) } };
}

/** What `parsePeerMessage` found: the message, or why it is malformed (the first bad field). */
export type PeerMessageParse = { ok: true; message: SfuPeerMessage } | { ok: false; reason: string };

/**
 * Checks a message from a peer; never throws. RTP parameters are only checked to be an object here (mediasoup checks
 * the rest and answers `bad-parameters`).
 */
export function parsePeerMessage(raw: unknown): PeerMessageParse {
  try {
    return { ok: true, message: parseOrThrow(raw) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function parseOrThrow(raw: unknown): SfuPeerMessage {
  if (!isObject(raw)) return bad('not an object');
  const body = raw['body'];
  switch (raw['kind']) {
    case 'request': {
      const id = int(raw['id'], 'id', 0, Number.MAX_SAFE_INTEGER);
      if (!isObject(body)) return bad('body must be an object');
      const roomId = str(body['roomId'], 'roomId');
      const pipeId = str(body['pipeId'], 'pipeId', 64);
      if (body['type'] === 'open-pipe') {
        return { kind: 'request', id, body: { type: 'open-pipe', roomId, pipeId, srtp: bool(body['srtp'], 'srtp'), ...endpoint(body) } };
      }
      if (body['type'] === 'pipe-producer') {
        const kind = body['kind'] === 'audio' || body['kind'] === 'video' ? body['kind'] : bad('kind must be audio or video');
        const rtpParameters = isObject(body['rtpParameters']) ? (body['rtpParameters'] as unknown as ms.RtpParameters) : bad('rtpParameters must be an object');
        return {
          kind: 'request', id,
          body: {
            type: 'pipe-producer', roomId, pipeId, producerId: str(body['producerId'], 'producerId', 64),
            memberId: int(body['memberId'], 'memberId', 0, Number.MAX_SAFE_INTEGER), source: str(body['source'], 'source', 32),
            kind, rtpParameters, paused: bool(body['paused'], 'paused'),
          },
        };
      }
      return bad('unknown request type');
    }
    case 'reply': {
      const id = int(raw['id'], 'id', 0, Number.MAX_SAFE_INTEGER);
      if (raw['ok'] === false) {
        const code = (SFU_ERROR_CODES as readonly unknown[]).includes(raw['code']) ? (raw['code'] as SfuErrorCode) : bad('unknown error code');
        return { kind: 'reply', id, ok: false, code, message: typeof raw['message'] === 'string' ? raw['message'].slice(0, 300) : '' };
      }
      if (raw['ok'] !== true || !isObject(body)) return bad('reply must have ok and a body');
      if (body['type'] === 'pipe-opened') return { kind: 'reply', id, ok: true, body: { type: 'pipe-opened', ...endpoint(body) } };
      if (body['type'] === 'producer-piped') return { kind: 'reply', id, ok: true, body: { type: 'producer-piped' } };
      return bad('unknown reply type');
    }
    case 'notice': {
      if (!isObject(body)) return bad('body must be an object');
      const roomId = str(body['roomId'], 'roomId');
      const pipeId = str(body['pipeId'], 'pipeId', 64);
      if (body['type'] === 'pipe-closed') return { kind: 'notice', body: { type: 'pipe-closed', roomId, pipeId } };
      if (body['type'] === 'producer-state') {
        const state = body['state'] === 'paused' || body['state'] === 'resumed' || body['state'] === 'closed' ? body['state'] : bad('state must be paused, resumed or closed');
        return { kind: 'notice', body: { type: 'producer-state', roomId, pipeId, producerId: str(body['producerId'], 'producerId', 64), state } };
      }
      return bad('unknown notice type');
    }
    default:
      return bad('kind must be request, reply or notice');
  }
}

/** Timers a `PeerChannel` uses (injected: tests drive them by hand). */
export interface PeerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of a `PeerChannel`. */
export interface PeerChannelOptions {
  /** A request the peer has not answered after this long fails with `peer-timeout`. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Default: the global timers. */
  timers?: PeerTimers;
}

/**
 * Requests and replies over one link, sans IO beyond the link: numbers requests, matches replies, turns error replies
 * into `SfuError`s, fails requests left unanswered (`peer-timeout`). Incoming requests go to `onRequest` (its thrown
 * `SfuError` becomes an error reply), notices to `onNotice`; malformed messages are dropped (reported to
 * `onBadMessage`; a malformed request is answered `bad-peer-message`).
 */
export class PeerChannel {
  readonly #link: SfuPeerLink;
  readonly #pending = new Map<number, { resolve: (r: SfuPeerReply) => void; reject: (e: Error) => void; timer: unknown }>();
  readonly #timers: PeerTimers;
  readonly #timeoutMs: number;
  #nextId = 1;
  #closed = false;

  constructor(
    link: SfuPeerLink,
    handlers: {
      onRequest: (request: SfuPeerRequest) => Promise<SfuPeerReply>;
      onNotice: (notice: SfuPeerNotice) => void;
      onBadMessage?: (reason: string) => void;
    },
    options: PeerChannelOptions = {},
  ) {
    this.#link = link;
    this.#timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    link.onMessage((raw) => {
      if (this.#closed) return;
      const parsed = parsePeerMessage(raw);
      if (!parsed.ok) {
        handlers.onBadMessage?.(parsed.reason);
        const id = isObject(raw) && raw['kind'] === 'request' && Number.isInteger(raw['id']) ? (raw['id'] as number) : undefined;
        if (id !== undefined) this.#send({ kind: 'reply', id, ok: false, code: 'bad-peer-message', message: parsed.reason });
        return;
      }
      const message = parsed.message;
      if (message.kind === 'notice') handlers.onNotice(message.body);
      else if (message.kind === 'request') {
        const { id } = message;
        handlers.onRequest(message.body).then(
          (body) => this.#send({ kind: 'reply', id, ok: true, body }),
          (error: unknown) => this.#send({
            kind: 'reply', id, ok: false,
            code: error instanceof SfuError ? error.code : 'peer-failed',
            message: (error as Error).message?.slice(0, 300) ?? String(error),
          }),
        );
      } else {
        const pending = this.#pending.get(message.id);
        if (!pending) return;
        this.#pending.delete(message.id);
        this.#timers.clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.body);
        else pending.reject(new SfuError(message.code, `peer: ${message.message}`));
      }
    });
  }

  /** Sends a request; resolves with the peer's reply, rejects with its `SfuError`. */
  request(body: SfuPeerRequest): Promise<SfuPeerReply> {
    if (this.#closed) return Promise.reject(new SfuError('unknown-peer', 'the link to this peer is closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.#timers.setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        reject(new SfuError('peer-timeout', `the peer did not answer ${body.type} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send({ kind: 'request', id, body });
    });
  }

  /** Sends a notice. */
  notify(body: SfuPeerNotice): void {
    this.#send({ kind: 'notice', body });
  }

  /** Stops: pending requests fail with `unknown-peer`; later messages are ignored. */
  close(): void {
    this.#closed = true;
    for (const { reject, timer } of this.#pending.values()) {
      this.#timers.clearTimeout(timer);
      reject(new SfuError('unknown-peer', 'the link to this peer closed'));
    }
    this.#pending.clear();
  }

  #send(message: SfuPeerMessage): void {
    if (this.#closed) return;
    this.#link.send(message);
  }
}

/**
 * The signaling server's logic (the spec's "S"), sans-IO: connections are numbers, frames are strings, time is a
 * number passed in, and the core says when it next needs to be woken (`nextWakeAt`). It composes one part per
 * concern — connections and authentication (`server-connections.ts`, with the rate limit of `rate-limit.ts`),
 * presence (`presence.ts`), call routing (`server-calls.ts`, through a relay strategy: `relay.ts`, `mitm.ts`) and
 * rooms (`server-rooms.ts`) — and dispatches each validated frame to the part that owns it. It never holds a, b, a
 * call key or a room's group key: it sees g_a_hash, g_b, g_a and the fingerprint, as the spec says.
 */

import { bytesToBase64 } from '@mtcall/crypto';
import { MitmRelay } from './mitm.js';
import { DEFAULT_PRESENCE_OPTIONS, PresenceRegistry, type PresenceOptions, type PresenceSubscribeResult } from './presence.js';
import { PROTOCOL_VERSION, parseClientMessage, type CallEndReason, type ClientMessage, type IceServerInfo, type ServerMessage } from './protocol.js';
import type { RateLimit } from './rate-limit.js';
import { HONEST_RELAY, type RelayStrategy } from './relay.js';
import { CallRouter, DEFAULT_RESUME_GRACE_MS, type AbuseLimits } from './server-calls.js';
import { ConnectionTable, type AuthMode, type Connection, type HelloMessage, type TokenVerdict } from './server-connections.js';
import { Outbox, type ConnectionId, type ServerLogEntry, type ServerOutput } from './server-output.js';
import { CHAT_CLIENT_MESSAGE_TYPES, ChatRouter, type ChatLimits, type ChatStore } from './server-chats.js';
import { RoomRegistry, type RoomMediaOutcome, type RoomOptions, type RoomRequest } from './server-rooms.js';

export type { RateLimit } from './rate-limit.js';
export type { ConnectionId, ServerOutput, ServerLogEntry } from './server-output.js';
export type { AuthMode, TokenVerdict } from './server-connections.js';
export type { AbuseLimits } from './server-calls.js';
export type { RoomOptions, RoomRequest, RoomMediaOutcome, RoomMedia } from './server-rooms.js';
export { CLOSE_CODES } from './server-connections.js';
export { DEFAULT_RESUME_GRACE_MS } from './server-calls.js';
export { DEFAULT_ROOM_OPTIONS, runRoomRequest } from './server-rooms.js';
export type { ChatLimits, ChatStore, ChatRecord, QueuedUpdate, StoredFile, DeviceAddress, ChatStats } from './server-chats.js';
export { MemoryChatStore, DEFAULT_CHAT_LIMITS, CHAT_RETENTION_MS } from './server-chats.js';

/** Server configuration. */
export interface SignalingServerOptions {
  /** The DH config served to clients: a 2048-bit safe prime and generator, with a version for caching. */
  dhConfig: { version: number; p: Uint8Array; g: number };
  /** How long a call may ring unanswered (ms). */
  ringTimeoutMs: number;
  /** How long after acceptCall the caller has to send confirmCall (ms). */
  confirmTimeoutMs: number;
  /** How `hello` is authenticated (default: open, ids as claimed). */
  auth?: AuthMode;
  /** Who may follow whose presence (default: `watch` up to 500 users, no directory). */
  presence?: PresenceOptions;
  /** Caps on calls and connections (default `DEFAULT_ABUSE_LIMITS`). */
  limits?: AbuseLimits;
  /**
   * How long a device's established calls wait for it when its connection drops (ms, default 30 000): a `hello`
   * with the device's `resumeToken` within that time carries them over (with the in-call signaling queued
   * meanwhile); after it, they end with `disconnected`. 0: end them at once. (Room membership is not carried over.)
   */
  resumeGraceMs?: number;
  /** Largest frame accepted (bytes); larger ones get `frame-too-large`. */
  maxMessageBytes: number;
  rateLimit: RateLimit;
  /** Log sink (default: none). */
  log?: (entry: ServerLogEntry) => void;
  /**
   * DEMONSTRATION ONLY: act as a man in the middle — run a separate DH with each side of every call and room key
   * exchange and re-seal the in-call signaling — so the two sides see different emoji. Never enable this for real
   * calls. Shorthand for `relay: new MitmRelay(dhConfig)`.
   */
  mitm?: boolean;
  /** How key-agreement messages and in-call signaling are relayed (default: honestly). */
  relay?: RelayStrategy;
  /** Rooms (group calls through the SFU): absent = off, and room messages get `rooms-disabled`. */
  rooms?: RoomOptions;
  /**
   * ICE servers handed to each device in its `welcome` (e.g. short-lived TURN credentials). Called once per
   * `hello`; absent or returning [] means no `iceServers` field: calls are then direct only.
   */
  iceServers?: (userId: string, now: number) => IceServerInfo[];
  /** Where secret chats' queues and encrypted files are kept (default: a `MemoryChatStore`). */
  chatStore?: ChatStore;
  /** Caps of secret chats (default `DEFAULT_CHAT_LIMITS`: 7-day retention, 10 000 queued per device, …). */
  chatLimits?: Partial<ChatLimits>;
}

export const DEFAULT_SERVER_LIMITS = {
  ringTimeoutMs: 45_000,
  confirmTimeoutMs: 15_000,
  maxMessageBytes: 64 * 1024,
  rateLimit: { perSecond: 50, burst: 200, maxViolations: 100 },
} as const;

/** Default caps: 4 outgoing calls per device, 4 calls ringing one user, 100 connections per address. */
export const DEFAULT_ABUSE_LIMITS: AbuseLimits = { maxOutgoingCallsPerDevice: 4, maxRingingPerCallee: 4, maxConnectionsPerAddress: 100 };

/** Counters for tests, logs and the load test. */
export interface ServerStats {
  connections: number;
  users: number;
  activeCalls: number;
  callsStarted: number;
  callsEstablished: number;
  errorsSent: number;
  relayedSignaling: number;
  /** Presence messages addressed (one per recipient). */
  presenceMessages: number;
  /** Connections closed at once for exceeding the per-address cap. */
  refusedConnections: number;
  /** Rooms open now, joins so far, SFU requests handed to the adapter, room key exchanges started. */
  rooms: number;
  roomJoins: number;
  roomMediaRequests: number;
  roomKeyExchanges: number;
  /** Secret chats created, encrypted messages queued, updates waiting in every device's queue. */
  chatsCreated: number;
  chatMessages: number;
  chatUpdatesAcked: number;
}

export class SignalingServerCore {
  readonly #options: SignalingServerOptions;
  readonly #connections: ConnectionTable;
  readonly #presence: PresenceRegistry<ConnectionId>;
  readonly #calls: CallRouter;
  readonly #rooms: RoomRegistry;
  readonly #chats: ChatRouter;
  readonly #counters = { errorsSent: 0, presenceMessages: 0 };
  readonly #dhConfigMessage: ServerMessage;

  constructor(options: SignalingServerOptions) {
    this.#options = options;
    const limits = options.limits ?? DEFAULT_ABUSE_LIMITS;
    this.#presence = new PresenceRegistry(options.presence ?? DEFAULT_PRESENCE_OPTIONS);
    this.#connections = new ConnectionTable({
      rateLimit: options.rateLimit,
      maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
      auth: options.auth ?? { kind: 'open' },
      dhVersion: options.dhConfig.version,
      iceServers: options.iceServers,
    });
    this.#rooms = new RoomRegistry(this.#connections, options.rooms, (connection, roomId, out) => this.#calls.leftRoom(connection, roomId, out));
    this.#calls = new CallRouter(this.#connections, {
      ringTimeoutMs: options.ringTimeoutMs,
      confirmTimeoutMs: options.confirmTimeoutMs,
      resumeGraceMs: options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS,
      limits,
      relay: options.relay ?? (options.mitm ? new MitmRelay(options.dhConfig) : HONEST_RELAY),
      busyChanged: (userId, out) => this.#presenceChanged(userId, out),
      roomPair: (connection, room) => this.#rooms.pairTarget(connection, room),
    });
    this.#chats = new ChatRouter(this.#connections, options.chatStore, options.chatLimits);
    this.#dhConfigMessage = { type: 'dhConfig', version: options.dhConfig.version, p: bytesToBase64(options.dhConfig.p), g: options.dhConfig.g };
  }

  get stats(): ServerStats {
    return {
      connections: this.#connections.size,
      users: this.#connections.userCount,
      activeCalls: this.#calls.activeCalls,
      callsStarted: this.#calls.stats.callsStarted,
      callsEstablished: this.#calls.stats.callsEstablished,
      errorsSent: this.#counters.errorsSent,
      relayedSignaling: this.#calls.stats.relayedSignaling,
      presenceMessages: this.#counters.presenceMessages,
      refusedConnections: this.#connections.refused,
      rooms: this.#rooms.roomCount,
      roomJoins: this.#rooms.stats.joins,
      roomMediaRequests: this.#rooms.stats.mediaRequests,
      roomKeyExchanges: this.#calls.stats.roomExchanges,
      chatsCreated: this.#chats.stats.chatsCreated,
      chatMessages: this.#chats.stats.messagesQueued,
      chatUpdatesAcked: this.#chats.stats.updatesAcked,
    };
  }

  /** When the core next needs `tick` (the earliest call deadline or resume grace); undefined: never. */
  nextWakeAt(): number | undefined {
    const calls = this.#calls.nextDeadline();
    const rooms = this.#rooms.nextDeadline();
    const chats = this.#chats.nextExpiry();
    const soonest = [calls, rooms, chats].filter((t): t is number => t !== undefined);
    return soonest.length === 0 ? undefined : Math.min(...soonest);
  }

  /** The secret chats' store (what the server holds: ciphertext and public DH values only). */
  get chatStore(): ChatStore {
    return this.#chats.store;
  }

  /** Replaces the secret chats' store (this instance was elected their writer): `redeliverChats` then sends queues. */
  useChatStore(store: ChatStore): void {
    this.#chats.useStore(store);
  }

  /**
   * A new connection opened from `address` (the remote IP, when known). Returns a close when the address already
   * has `maxConnectionsPerAddress` connections open.
   */
  open(id: ConnectionId, now: number, address?: string): ServerOutput[] {
    const out = this.#outbox();
    this.#connections.open(id, now, address, out);
    return out.outputs;
  }

  /** A frame arrived on a connection. `byteLength` is its size on the wire. */
  receive(id: ConnectionId, text: string, byteLength: number, now: number, admitted = false): ServerOutput[] {
    const connection = this.#connections.get(id);
    if (!connection) return [];
    const out = this.#outbox();
    if (!admitted && !this.#admit(connection, text, byteLength, now, out)) return out.outputs;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      out.error(id, parsed.code, parsed.message);
      return out.outputs;
    }
    this.#dispatch(connection, parsed.message, now, out);
    return out.outputs;
  }

  /**
   * Cluster: charges a frame to its connection's rate limit and size cap before the cluster node acts on it (a room
   * claim costs a Redis round trip); `receive(…, admitted = true)` then does not charge it again. Returns the
   * refusal's outputs, or undefined when admitted.
   */
  admit(id: ConnectionId, text: string, byteLength: number, now: number): ServerOutput[] | undefined {
    const connection = this.#connections.get(id);
    if (!connection) return [];
    const out = this.#outbox();
    return this.#admit(connection, text, byteLength, now, out) ? undefined : out.outputs;
  }

  #admit(connection: Connection, text: string, byteLength: number, now: number, out: Outbox): boolean {
    if (!this.#connections.admitFrame(connection, now, out, () => (byteLength <= this.#options.maxMessageBytes ? peekRequestId(text) : undefined))) return false;
    if (byteLength > this.#options.maxMessageBytes) {
      out.error(connection.id, 'frame-too-large', `frame of ${byteLength} bytes exceeds the limit of ${this.#options.maxMessageBytes}`);
      return false;
    }
    return true;
  }

  /** A connection closed. Calls it was part of end for the peer with `'disconnected'`; it leaves its room. */
  close(id: ConnectionId, now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#close(id, now, out);
    return out.outputs;
  }

  /** Advances the clock: ends calls past their deadline (`'timeout'`) or their resume grace (`'disconnected'`). Call it at `nextWakeAt()` (or any time). */
  tick(now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#calls.expire(now, out);
    this.#chats.expire(now);
    this.#rooms.expire(now, out);
    return out.outputs;
  }

  /**
   * The adapter verified the signed token of a pending `hello`: continue it (welcome) or refuse it (error and
   * close). A verdict for a connection that closed meanwhile changes nothing.
   */
  tokenVerified(id: ConnectionId, verdict: TokenVerdict, now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#connections.tokenVerified(id, verdict, now, out, this.#admission);
    return out.outputs;
  }

  /** The adapter ran a `room-media` request: answer the member and tell the room. */
  roomMediaDone(id: ConnectionId, request: RoomRequest, outcome: RoomMediaOutcome, now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#rooms.mediaDone(id, request, outcome, out);
    void now;
    return out.outputs;
  }

  /**
   * Cluster (`cluster-node.ts`): opens a stand-in connection for a device whose socket is on another instance, admitted
   * without authentication (its home instance authenticated it). `resume`: the token this core issued to the
   * device's previous connection here, to carry its parked calls over. Outputs to the stand-in are the caller's to route.
   */
  openStandIn(id: ConnectionId, device: { userId: string; deviceId: string }, resume: string | undefined, now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#connections.open(id, now, undefined, out);
    const hello: HelloMessage = { type: 'hello', protocol: PROTOCOL_VERSION, userId: device.userId, deviceId: device.deviceId };
    if (resume !== undefined) hello.resume = resume;
    this.#connections.admitTrusted(this.#connections.get(id)!, hello, now, out, this.#admission);
    return out.outputs;
  }

  /** Sends a connection its chat queue again, oldest first (cluster: a device resumed on another instance). */
  redeliverChats(id: ConnectionId, now: number): ServerOutput[] {
    const out = this.#outbox();
    const connection = this.#connections.get(id);
    if (connection) this.#chats.deviceOnline(connection, now, out);
    return out.outputs;
  }

  /** Cluster: whether this core serves rooms at all (`rooms` option). */
  get roomsEnabled(): boolean {
    return this.#options.rooms !== undefined;
  }

  /** Cluster: whether this core holds the room now (so its instance must keep its claim on it). */
  hasRoom(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  /** Cluster: the room a connection is in here (joined or joining), if any. */
  roomOf(id: ConnectionId): string | undefined {
    return this.#connections.get(id)?.room?.roomId;
  }

  /**
   * Cluster: the device of stand-in `id` moved to another instance without this core seeing it drop: `roomResumed`
   * with its room now. Returns the room, or undefined (it is in none here: nothing is sent).
   */
  roomSnapshot(id: ConnectionId, now: number): { roomId: string; outputs: ServerOutput[] } | undefined {
    const connection = this.#connections.get(id);
    const out = this.#outbox();
    void now;
    return connection && this.#rooms.snapshot(connection, out) ? { roomId: connection.room!.roomId, outputs: out.outputs } : undefined;
  }

  /** Cluster: another instance took the room over; its members here are told `room-lost` and the SFU drops them. */
  dropRoom(roomId: string, now: number): ServerOutput[] {
    const out = this.#outbox();
    this.#rooms.drop(roomId, out);
    void now;
    return out.outputs;
  }

  /** The established calls a connection is part of (cluster: told to a device that moved to another instance). */
  confirmedCalls(id: ConnectionId): string[] {
    const connection = this.#connections.get(id);
    return connection ? this.#calls.confirmedCalls(connection) : [];
  }

  #dispatch(connection: Connection, message: ClientMessage, now: number, out: Outbox): void {
    if (message.type === 'hello') return this.#connections.hello(connection, message, now, out, this.#admission);
    if (connection.userId === undefined) {
      return out.error(connection.id, 'not-authenticated', `send hello${connection.pendingHello ? ' and wait for welcome' : ''} before ${message.type}`);
    }
    switch (message.type) {
      case 'watch':
        return this.#subscribed(connection, this.#presence.watch(connection.id, message.users), out);
      case 'getDhConfig':
        return out.send(
          connection.id,
          message.version === this.#options.dhConfig.version ? { type: 'dhConfigNotModified', version: message.version } : this.#dhConfigMessage,
        );
      case 'requestCall':
      case 'acceptCall':
      case 'confirmCall':
      case 'discardCall':
      case 'signalingData':
        return this.#calls.handle(connection, message, now, out);
      default:
        if (isChatMessage(message)) return this.#chats.handle(connection, message, now, out);
        return this.#rooms.handle(connection, message, out);
    }
  }

  readonly #admission = {
    replace: (previous: ConnectionId, now: number, out: Outbox) => this.#close(previous, now, out),
    resume: (connection: Connection, device: string) => {
      this.#rooms.resume(connection, device);
      return this.#calls.resume(connection, device);
    },
    resumed: (connection: Connection, callIds: string[], endedWhileAway: { callId: string; reason: CallEndReason }[], hello: HelloMessage, now: number, out: Outbox) => {
      this.#rooms.resumed(connection, out);
      this.#calls.resumed(connection, callIds, [], now, out);
      for (const ended of endedWhileAway) out.send(connection.id, { type: 'phoneCallDiscarded', callId: ended.callId, reason: ended.reason });
      this.#calls.resumed(connection, [], hello.rejoin ?? [], now, out);
    },
    admitted: (connection: Connection, hello: HelloMessage, out: Outbox, now: number) => {
      if (hello.presence === true) this.#subscribed(connection, this.#presence.subscribeDirectory(connection.id), out);
      this.#presenceChanged(hello.userId, out);
      this.#chats.deviceOnline(connection, now, out);
    },
  };

  #close(id: ConnectionId, now: number, out: Outbox): void {
    const connection = this.#connections.remove(id);
    if (!connection) return;
    this.#presence.remove(id);
    const parkedRoom = this.#rooms.connectionClosed(connection, now, this.#options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS, out);
    this.#calls.connectionClosed(connection, now, out, parkedRoom);
    this.#connections.unregister(connection);
    if (connection.userId !== undefined && connection.deviceId !== undefined) {
      out.log({ event: 'disconnected', connection: id, userId: connection.userId, deviceId: connection.deviceId });
      this.#presenceChanged(connection.userId, out);
    }
  }

  #subscribed(connection: Connection, result: PresenceSubscribeResult, out: Outbox): void {
    if (!result.ok) return out.error(connection.id, result.code, result.message);
    out.send(connection.id, result.snapshot);
  }

  /** Tells the subscribers of a user its current state, if it changed: one shared message, one output each. */
  #presenceChanged(userId: string, out: Outbox): void {
    const fanOut = this.#presence.set(userId, this.#connections.deviceCount(userId), this.#calls.isBusy(userId));
    if (!fanOut) return;
    this.#counters.presenceMessages += fanOut.to.length;
    for (const to of fanOut.to) out.send(to, fanOut.message);
  }

  #outbox(): Outbox {
    return new Outbox(this.#counters, this.#options.log);
  }
}

const CHAT_TYPES: ReadonlySet<string> = new Set(CHAT_CLIENT_MESSAGE_TYPES);
function isChatMessage(message: ClientMessage): message is Extract<ClientMessage, { type: (typeof CHAT_CLIENT_MESSAGE_TYPES)[number] }> {
  return CHAT_TYPES.has(message.type);
}

/** A `"requestId":"…"` in a frame that was not parsed (at most 128 plain characters), so a refusal can name it. */
const REQUEST_ID_PATTERN = /"requestId"\s*:\s*"([A-Za-z0-9_:.-]{1,128})"/;

/** The request id of an unparsed frame, if it plainly has one (used only to correlate a refusal, never trusted). */
export function peekRequestId(text: string): string | undefined {
  return REQUEST_ID_PATTERN.exec(text)?.[1];
}

/**
 * The signaling server's logic (the spec's "S"), sans-IO: connections are numbers, frames are strings,
 * time is a number passed in. It keeps users, devices and calls in memory, serves the DH config, relays the
 * three key-agreement messages and the sealed in-call signaling, fans a call out to every device of the callee
 * and, once one accepts, discards it on the others and routes only to that one. It never holds a, b or the
 * key: it sees g_a_hash, g_b, g_a and the fingerprint, as the spec says.
 */

import { base64ToBytes, bytesToBase64, bytesToHex, constantTimeEqual, randomBytes, sha256 } from '@mtcall/crypto';

/** base64url without padding (tokens). */
function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
import { MitmCall } from './mitm.js';
import { DEFAULT_PRESENCE_OPTIONS, PresenceRegistry, type PresenceFanOut, type PresenceOptions, type PresenceSubscribeResult } from './presence.js';
import { TokenBucket, type RateLimit } from './rate-limit.js';
import {
  PROTOCOL_VERSION,
  parseClientMessage,
  type CallEndReason,
  type ClientMessage,
  type IceServerInfo,
  type ServerErrorCode,
  type ServerMessage,
} from './protocol.js';

export type { RateLimit } from './rate-limit.js';

/** Identifies one WebSocket connection (one device). */
export type ConnectionId = number;

/**
 * What the adapter must do. One message object may be addressed to many connections (presence): the adapter
 * serialises each object once.
 */
export type ServerOutput =
  | { kind: 'send'; to: ConnectionId; message: ServerMessage }
  | { kind: 'close'; to: ConnectionId; code: number; reason: string }
  /** Check a signed token (asynchronously), then report the result with `tokenVerified`. */
  | { kind: 'verify-token'; to: ConnectionId; token: string };

/** How `hello` is authenticated. */
export type AuthMode =
  /** User ids are taken as claimed (development, demos). */
  | { kind: 'open' }
  /** Every `hello` must carry this shared token (compared in constant time); ids are still claimed. */
  | { kind: 'shared-token'; token: string }
  /**
   * Every `hello` must carry a signed token (JWT) whose subject is the `hello`'s user id. The core asks the
   * adapter to verify it (`verify-token`) and continues in `tokenVerified`.
   */
  | { kind: 'signed-token' };

/** What verifying a signed token found. */
export type TokenVerdict = { ok: true; userId: string } | { ok: false; reason: string };

/** Caps against one client tying up others (ring bombing, connection floods). 0 turns a cap off. */
export interface AbuseLimits {
  /** Calls one device may have in progress as the caller (ringing or connected); more get `too-many-calls`. */
  maxOutgoingCallsPerDevice: number;
  /** Calls that may ring one user at once; more end at once with `busy`. One caller rings a callee once. */
  maxRingingPerCallee: number;
  /** Open connections from one remote address; more are closed at once (1008). */
  maxConnectionsPerAddress: number;
}

/** A structured log entry. Never carries key-agreement values or signaling payloads. */
export interface ServerLogEntry {
  event: string;
  connection?: ConnectionId;
  userId?: string;
  deviceId?: string;
  callId?: string;
  detail?: string;
}

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
   * meanwhile); after it, they end with `disconnected`. 0: end them at once.
   */
  resumeGraceMs?: number;
  /** Largest frame accepted (bytes); larger ones get `frame-too-large`. */
  maxMessageBytes: number;
  rateLimit: RateLimit;
  /** Log sink (default: none). */
  log?: (entry: ServerLogEntry) => void;
  /**
   * DEMONSTRATION ONLY: act as a man in the middle — run a separate DH with each side and re-seal the in-call
   * signaling — so the two sides see different emoji. Never enable this for real calls.
   */
  mitm?: boolean;
  /**
   * ICE servers handed to each device in its `welcome` (e.g. short-lived TURN credentials). Called once per
   * `hello`; absent or returning [] means no `iceServers` field: calls are then direct only.
   */
  iceServers?: (userId: string, now: number) => IceServerInfo[];
}

export const DEFAULT_SERVER_LIMITS = {
  ringTimeoutMs: 45_000,
  confirmTimeoutMs: 15_000,
  maxMessageBytes: 64 * 1024,
  rateLimit: { perSecond: 50, burst: 200, maxViolations: 100 },
} as const;

/** Default caps: 4 outgoing calls per device, 4 calls ringing one user, 100 connections per address. */
export const DEFAULT_ABUSE_LIMITS: AbuseLimits = { maxOutgoingCallsPerDevice: 4, maxRingingPerCallee: 4, maxConnectionsPerAddress: 100 };

/** WebSocket close codes the server uses. `restarting`: reconnect (and resume) now. */
export const CLOSE_CODES = { unauthorized: 4001, replaced: 4002, abusive: 1008, restarting: 1012 } as const;

/** How long a re-join claim waits for the other side of its call (ms). */
const REJOIN_WINDOW_MS = 60_000;

/** How long established calls wait for a dropped device by default (ms). */
export const DEFAULT_RESUME_GRACE_MS = 30_000;

type HelloMessage = Extract<ClientMessage, { type: 'hello' }>;

interface Connection {
  id: ConnectionId;
  address: string | undefined;
  userId?: string;
  deviceId?: string;
  /** A `hello` whose signed token is being verified. */
  pendingHello?: HelloMessage;
  bucket: TokenBucket;
  calls: Set<string>;
}

type CallState = 'ringing' | 'accepted' | 'confirmed';

/** One side of an established call whose device's connection dropped, waiting for it to resume. */
interface Parked {
  /** The device (user id + device id) that may resume it. */
  device: string;
  until: number;
  /** In-call signaling for the parked side, delivered on resume (bounded). */
  queue: string[];
}

/** The most in-call signaling packets kept for a parked side; older ones are dropped (the sender's seq tells). */
const PARKED_QUEUE_LIMIT = 256;

interface DeviceSession {
  token: string;
  connection: ConnectionId;
  /** Calls of this device that ended while it was away, told on resume. */
  endedWhileAway: { callId: string; reason: CallEndReason }[];
}

interface Call {
  id: string;
  callerId: string;
  callerConnection: ConnectionId;
  calleeId: string;
  /** Callee devices the call was offered to and that have not declined or gone. */
  ringing: Set<ConnectionId>;
  /** The callee device that accepted first. */
  calleeConnection?: ConnectionId;
  state: CallState;
  deadline: number;
  mitm?: MitmCall;
  /** Sides whose connection dropped, by role. */
  parked?: { caller?: Parked; callee?: Parked };
}

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
}

export class SignalingServerCore {
  readonly #options: SignalingServerOptions;
  readonly #connections = new Map<ConnectionId, Connection>();
  readonly #users = new Map<string, Map<string, ConnectionId>>();
  readonly #calls = new Map<string, Call>();
  /** Per callee user: the calls ringing them. */
  readonly #ringing = new Map<string, Set<Call>>();
  /** Per user: calls past ringing (accepted or confirmed) — the user is busy while > 0. */
  readonly #busy = new Map<string, number>();
  readonly #perAddress = new Map<string, number>();
  /** Re-join claims waiting for the other side of their call (after a restart), by call id. */
  readonly #rejoinClaims = new Map<string, { connection: ConnectionId; userId: string; role: 'caller' | 'callee'; proof: Uint8Array; until: number }>();
  /** Per device (`user\0device`): its resume token and current connection. */
  readonly #deviceSessions = new Map<string, DeviceSession>();
  readonly #presence: PresenceRegistry<ConnectionId>;
  readonly #limits: AbuseLimits;
  readonly #auth: AuthMode;
  readonly #sharedTokenHash: Uint8Array | undefined;
  readonly #stats = { callsStarted: 0, callsEstablished: 0, errorsSent: 0, relayedSignaling: 0, presenceMessages: 0, refusedConnections: 0 };
  readonly #dhConfigMessage: ServerMessage;

  constructor(options: SignalingServerOptions) {
    this.#options = options;
    this.#presence = new PresenceRegistry(options.presence ?? DEFAULT_PRESENCE_OPTIONS);
    this.#limits = options.limits ?? DEFAULT_ABUSE_LIMITS;
    this.#auth = options.auth ?? { kind: 'open' };
    this.#sharedTokenHash = this.#auth.kind === 'shared-token' ? sha256(new TextEncoder().encode(this.#auth.token)) : undefined;
    this.#dhConfigMessage = { type: 'dhConfig', version: options.dhConfig.version, p: bytesToBase64(options.dhConfig.p), g: options.dhConfig.g };
  }

  get stats(): ServerStats {
    return {
      connections: this.#connections.size,
      users: this.#users.size,
      activeCalls: this.#calls.size,
      ...this.#stats,
    };
  }

  /**
   * A new connection opened from `address` (the remote IP, when known). Returns a close when the address already
   * has `maxConnectionsPerAddress` connections open.
   */
  open(id: ConnectionId, now: number, address?: string): ServerOutput[] {
    this.#connections.set(id, { id, address, bucket: new TokenBucket(this.#options.rateLimit, now), calls: new Set() });
    if (address === undefined) return [];
    const count = (this.#perAddress.get(address) ?? 0) + 1;
    this.#perAddress.set(address, count);
    const cap = this.#limits.maxConnectionsPerAddress;
    if (cap > 0 && count > cap) {
      this.#stats.refusedConnections++;
      this.#log({ event: 'refused-address', connection: id, detail: `more than ${cap} connections from one address` });
      return [{ kind: 'close', to: id, code: CLOSE_CODES.abusive, reason: 'too many connections from this address' }];
    }
    return [];
  }

  /** A frame arrived on a connection. `byteLength` is its size on the wire. */
  receive(id: ConnectionId, text: string, byteLength: number, now: number): ServerOutput[] {
    const connection = this.#connections.get(id);
    if (!connection) return [];
    const out: ServerOutput[] = [];
    if (!connection.bucket.take(now)) {
      if (connection.bucket.abusive) {
        this.#log({ event: 'closed-abusive', connection: id, ...this.#who(connection) });
        out.push({ kind: 'close', to: id, code: CLOSE_CODES.abusive, reason: 'rate limit exceeded repeatedly' });
        return out;
      }
      this.#error(out, id, 'rate-limited', `more than ${this.#options.rateLimit.perSecond} messages/s; slow down`);
      return out;
    }
    if (byteLength > this.#options.maxMessageBytes) {
      this.#error(out, id, 'frame-too-large', `frame of ${byteLength} bytes exceeds the limit of ${this.#options.maxMessageBytes}`);
      return out;
    }
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.#error(out, id, parsed.code, parsed.message);
      return out;
    }
    this.#handle(connection, parsed.message, now, out);
    return out;
  }

  /** A connection closed. Calls it was part of end for the peer with `'disconnected'`. */
  close(id: ConnectionId, now: number): ServerOutput[] {
    const connection = this.#connections.get(id);
    if (!connection) return [];
    this.#connections.delete(id);
    this.#presence.remove(id);
    if (connection.address !== undefined) {
      const left = (this.#perAddress.get(connection.address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(connection.address, left);
      else this.#perAddress.delete(connection.address);
    }
    const out: ServerOutput[] = [];
    const device = this.#deviceKey(connection);
    const grace = this.#options.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;
    for (const callId of [...connection.calls]) {
      const call = this.#calls.get(callId);
      if (!call) continue;
      if (call.state === 'confirmed' && device !== undefined && grace > 0 && (call.callerConnection === id || call.calleeConnection === id)) {
        // Media does not pass through the server: keep the call for the device to come back.
        const role = call.callerConnection === id ? 'caller' : 'callee';
        (call.parked ??= {})[role] = { device, until: now + grace, queue: [] };
        this.#log({ event: 'call-parked', callId: call.id, ...this.#who(connection), detail: role });
        continue;
      }
      if (call.state === 'ringing' && call.callerConnection !== id) {
        call.ringing.delete(id);
        if (call.ringing.size === 0) this.#endCall(call, 'offline', undefined, out);
      } else {
        this.#endCall(call, 'disconnected', id, out);
      }
    }
    if (connection.userId !== undefined && connection.deviceId !== undefined) {
      const devices = this.#users.get(connection.userId);
      if (devices?.get(connection.deviceId) === id) devices.delete(connection.deviceId);
      if (devices?.size === 0) this.#users.delete(connection.userId);
      this.#log({ event: 'disconnected', connection: id, ...this.#who(connection) });
      this.#presenceChanged(connection.userId, out);
    }
    return out;
  }

  /** Advances the clock: ends calls past their deadline with `'timeout'`. */
  tick(now: number): ServerOutput[] {
    const out: ServerOutput[] = [];
    for (const [callId, claim] of this.#rejoinClaims) if (claim.until < now) this.#rejoinClaims.delete(callId);
    for (const call of [...this.#calls.values()]) {
      if (call.state !== 'confirmed' && now >= call.deadline) this.#endCall(call, 'timeout', undefined, out);
      else if (call.parked && Object.values(call.parked).some((p) => p !== undefined && now >= p.until)) this.#endCall(call, 'disconnected', undefined, out);
    }
    return out;
  }

  /**
   * The adapter verified the signed token of a pending `hello`: continue it (welcome) or refuse it (error and
   * close). A verdict for a connection that closed meanwhile changes nothing.
   */
  tokenVerified(id: ConnectionId, verdict: TokenVerdict, now: number): ServerOutput[] {
    const connection = this.#connections.get(id);
    const hello = connection?.pendingHello;
    if (!connection || !hello) return [];
    delete connection.pendingHello;
    const out: ServerOutput[] = [];
    if (!verdict.ok) {
      this.#refuse(connection, hello, `invalid token: ${verdict.reason}`, out);
    } else if (verdict.userId !== hello.userId) {
      this.#refuse(connection, hello, `the token is for another user than ${hello.userId}`, out);
    } else {
      this.#admit(connection, hello, now, out);
    }
    return out;
  }

  #handle(connection: Connection, message: ClientMessage, now: number, out: ServerOutput[]): void {
    if (message.type === 'hello') return this.#hello(connection, message, now, out);
    if (connection.userId === undefined) {
      return this.#error(out, connection.id, 'not-authenticated', `send hello${connection.pendingHello ? ' and wait for welcome' : ''} before ${message.type}`);
    }
    switch (message.type) {
      case 'watch':
        return this.#subscribed(connection, this.#presence.watch(connection.id, message.users), out);
      case 'getDhConfig':
        out.push({
          kind: 'send',
          to: connection.id,
          message: message.version === this.#options.dhConfig.version ? { type: 'dhConfigNotModified', version: message.version } : this.#dhConfigMessage,
        });
        return;
      case 'requestCall':
        return this.#requestCall(connection, message, now, out);
      case 'acceptCall': {
        const call = this.#participantCall(connection, message.callId, out);
        if (!call) return;
        if (!call.ringing.has(connection.id) && call.calleeConnection !== connection.id) {
          return this.#error(out, connection.id, 'not-a-participant', 'only a device of the callee can accept', message.callId);
        }
        if (call.state !== 'ringing') {
          return this.#error(out, connection.id, 'wrong-state', 'the call was already accepted', message.callId);
        }
        call.state = 'accepted';
        call.calleeConnection = connection.id;
        call.deadline = now + this.#options.confirmTimeoutMs;
        this.#stopRinging(call);
        this.#setBusy(call, +1, out);
        for (const other of call.ringing) {
          if (other === connection.id) continue;
          this.#send(out, other, { type: 'phoneCallDiscarded', callId: call.id, reason: 'answered-elsewhere' });
          this.#connections.get(other)?.calls.delete(call.id);
        }
        call.ringing.clear();
        const gB = call.mitm ? call.mitm.onAccept(message.gB) : message.gB;
        this.#send(out, call.callerConnection, { type: 'phoneCallAccepted', callId: call.id, gB });
        this.#log({ event: 'call-accepted', callId: call.id, ...this.#who(connection) });
        return;
      }
      case 'confirmCall': {
        const call = this.#participantCall(connection, message.callId, out);
        if (!call) return;
        if (call.callerConnection !== connection.id) {
          return this.#error(out, connection.id, 'not-a-participant', 'only the caller can confirm', message.callId);
        }
        if (call.state !== 'accepted') {
          return this.#error(out, connection.id, 'wrong-state', call.state === 'ringing' ? 'the call was not accepted yet' : 'the call was already confirmed', message.callId);
        }
        call.state = 'confirmed';
        this.#stats.callsEstablished++;
        const confirm = call.mitm ? call.mitm.onConfirm(message.gA) : { gA: message.gA, keyFingerprint: message.keyFingerprint };
        this.#send(out, call.calleeConnection!, { type: 'phoneCall', callId: call.id, ...confirm });
        this.#log({ event: 'call-confirmed', callId: call.id });
        return;
      }
      case 'discardCall': {
        const call = this.#participantCall(connection, message.callId, out);
        if (!call) return;
        this.#endCall(call, message.reason, connection.id, out);
        return;
      }
      case 'signalingData': {
        const call = this.#participantCall(connection, message.callId, out);
        if (!call) return;
        if (call.state === 'ringing') {
          return this.#error(out, connection.id, 'wrong-state', 'in-call signaling starts once the call is accepted', message.callId);
        }
        const to = connection.id === call.callerConnection ? call.calleeConnection : connection.id === call.calleeConnection ? call.callerConnection : undefined;
        if (to === undefined) return this.#error(out, connection.id, 'not-a-participant', 'this device is not in the call', message.callId);
        this.#stats.relayedSignaling++;
        const data = call.mitm ? call.mitm.relay(message.data, connection.id === call.callerConnection) : message.data;
        if (data === null) return;
        const parked = call.parked?.[to === call.callerConnection ? 'caller' : 'callee'];
        if (parked) {
          parked.queue.push(data);
          if (parked.queue.length > PARKED_QUEUE_LIMIT) parked.queue.shift();
          return;
        }
        this.#send(out, to, { type: 'signalingData', callId: call.id, data });
        return;
      }
    }
  }

  #hello(connection: Connection, message: HelloMessage, now: number, out: ServerOutput[]): void {
    if (connection.userId !== undefined || connection.pendingHello) {
      return this.#error(out, connection.id, 'already-authenticated', 'hello was already sent on this connection');
    }
    switch (this.#auth.kind) {
      case 'open':
        return this.#admit(connection, message, now, out);
      case 'shared-token': {
        const given = message.token === undefined ? undefined : sha256(new TextEncoder().encode(message.token));
        if (given === undefined || !constantTimeEqual(given, this.#sharedTokenHash!)) return this.#refuse(connection, message, 'wrong or missing token', out);
        return this.#admit(connection, message, now, out);
      }
      case 'signed-token':
        if (message.token === undefined) return this.#refuse(connection, message, 'this server requires a signed token (JWT) in hello.token', out);
        connection.pendingHello = message;
        out.push({ kind: 'verify-token', to: connection.id, token: message.token });
        return;
    }
  }

  #refuse(connection: Connection, hello: HelloMessage, why: string, out: ServerOutput[]): void {
    this.#error(out, connection.id, 'unauthorized', why);
    out.push({ kind: 'close', to: connection.id, code: CLOSE_CODES.unauthorized, reason: 'unauthorized' });
    this.#log({ event: 'unauthorized', connection: connection.id, userId: hello.userId, detail: why });
  }

  /** An authenticated `hello`: register the device, welcome it (TURN credentials only now), presence. */
  #admit(connection: Connection, message: HelloMessage, now: number, out: ServerOutput[]): void {
    let devices = this.#users.get(message.userId);
    if (!devices) this.#users.set(message.userId, (devices = new Map()));
    const previous = devices.get(message.deviceId);
    if (previous !== undefined && previous !== connection.id) {
      out.push({ kind: 'close', to: previous, code: CLOSE_CODES.replaced, reason: 'the same device connected again' });
      out.push(...this.close(previous, now));
      // close() may have dropped the user's map if it was the only device.
      devices = this.#users.get(message.userId) ?? new Map();
      this.#users.set(message.userId, devices);
    }
    devices.set(message.deviceId, connection.id);
    connection.userId = message.userId;
    connection.deviceId = message.deviceId;
    const device = this.#deviceKey(connection)!;
    const session = this.#deviceSessions.get(device);
    const resuming = session !== undefined && message.resume !== undefined && constantTimeEqual(new TextEncoder().encode(message.resume), new TextEncoder().encode(session.token));
    const token = bytesToBase64Url(randomBytes(18));
    const resumed = resuming ? this.#resume(connection, device, out) : [];
    const endedWhileAway = resuming ? session.endedWhileAway : [];
    this.#deviceSessions.set(device, { token, connection: connection.id, endedWhileAway: [] });
    const iceServers = this.#options.iceServers?.(message.userId, now) ?? [];
    this.#send(out, connection.id, {
      type: 'welcome', protocol: PROTOCOL_VERSION, userId: message.userId, deviceId: message.deviceId, dhVersion: this.#options.dhConfig.version,
      ...(iceServers.length > 0 ? { iceServers } : {}), resumeToken: token, ...(resuming ? { resumed: resumed.map((c) => c.id) } : {}),
    });
    for (const call of resumed) {
      const parked = call.parked;
      const role = call.callerConnection === connection.id ? 'caller' : 'callee';
      const queue = parked?.[role]?.queue ?? [];
      if (parked) delete parked[role];
      if (parked && !parked.caller && !parked.callee) delete call.parked;
      for (const data of queue) this.#send(out, connection.id, { type: 'signalingData', callId: call.id, data });
    }
    for (const ended of endedWhileAway) this.#send(out, connection.id, { type: 'phoneCallDiscarded', callId: ended.callId, reason: ended.reason });
    for (const claim of message.rejoin ?? []) this.#rejoin(connection, claim, now, out);
    this.#log({ event: 'connected', connection: connection.id, ...this.#who(connection) });
    if (message.presence === true) this.#subscribed(connection, this.#presence.subscribeDirectory(connection.id), out);
    this.#presenceChanged(message.userId, out);
  }

  /** Moves the parked calls of `device` onto its new connection; returns them (their queues are flushed by the caller). */
  #resume(connection: Connection, device: string, out: ServerOutput[]): Call[] {
    const resumed: Call[] = [];
    for (const call of this.#calls.values()) {
      for (const role of ['caller', 'callee'] as const) {
        const parked = call.parked?.[role];
        if (!parked || parked.device !== device) continue;
        if (role === 'caller') call.callerConnection = connection.id;
        else call.calleeConnection = connection.id;
        connection.calls.add(call.id);
        resumed.push(call);
        this.#log({ event: 'call-resumed', callId: call.id, ...this.#who(connection), detail: `${role}, ${parked.queue.length} queued` });
      }
    }
    void out;
    return resumed;
  }

  /**
   * A device re-joins an established call this server does not know (it restarted): once the other side presents
   * the same proof (derived from the call key, which the server never sees), the call exists again, confirmed.
   */
  #rejoin(connection: Connection, claim: { callId: string; role: 'caller' | 'callee'; proof: string }, now: number, out: ServerOutput[]): void {
    if (this.#calls.has(claim.callId)) return; // known: a resume carries it, not a re-join
    const proof = base64ToBytes(claim.proof)!;
    const other = this.#rejoinClaims.get(claim.callId);
    if (!other || other.until < now || !this.#connections.has(other.connection) || other.role === claim.role || !constantTimeEqual(other.proof, proof)) {
      this.#rejoinClaims.set(claim.callId, { connection: connection.id, userId: connection.userId!, role: claim.role, proof, until: now + REJOIN_WINDOW_MS });
      return;
    }
    this.#rejoinClaims.delete(claim.callId);
    const caller = claim.role === 'caller' ? { id: connection.id, user: connection.userId! } : { id: other.connection, user: other.userId };
    const callee = claim.role === 'caller' ? { id: other.connection, user: other.userId } : { id: connection.id, user: connection.userId! };
    const call: Call = { id: claim.callId, callerId: caller.user, callerConnection: caller.id, calleeId: callee.user, calleeConnection: callee.id, ringing: new Set(), state: 'confirmed', deadline: Number.POSITIVE_INFINITY };
    this.#calls.set(call.id, call);
    for (const id of [caller.id, callee.id]) {
      this.#connections.get(id)?.calls.add(call.id);
      this.#send(out, id, { type: 'callRejoined', callId: call.id });
    }
    this.#setBusy(call, +1, out);
    this.#log({ event: 'call-rejoined', callId: call.id });
  }

  #deviceKey(connection: Connection): string | undefined {
    return connection.userId !== undefined && connection.deviceId !== undefined ? `${connection.userId}\u0000${connection.deviceId}` : undefined;
  }

  #subscribed(connection: Connection, result: PresenceSubscribeResult, out: ServerOutput[]): void {
    if (!result.ok) return this.#error(out, connection.id, result.code, result.message);
    this.#send(out, connection.id, result.snapshot);
  }

  #requestCall(connection: Connection, message: Extract<ClientMessage, { type: 'requestCall' }>, now: number, out: ServerOutput[]): void {
    if (message.calleeId === connection.userId) {
      return this.#error(out, connection.id, 'self-call', 'a user cannot call themselves', undefined, message.requestId);
    }
    const maxOutgoing = this.#limits.maxOutgoingCallsPerDevice;
    if (maxOutgoing > 0) {
      let outgoing = 0;
      for (const id of connection.calls) if (this.#calls.get(id)?.callerConnection === connection.id) outgoing++;
      if (outgoing >= maxOutgoing) {
        return this.#error(out, connection.id, 'too-many-calls', `this device already has ${outgoing} calls in progress (the limit)`, undefined, message.requestId);
      }
    }
    const callId = bytesToHex(randomBytes(16));
    const devices = [...(this.#users.get(message.calleeId)?.values() ?? [])];
    const call: Call = {
      id: callId,
      callerId: connection.userId!,
      callerConnection: connection.id,
      calleeId: message.calleeId,
      ringing: new Set(devices),
      state: 'ringing',
      deadline: now + this.#options.ringTimeoutMs,
    };
    this.#stats.callsStarted++;
    this.#send(out, connection.id, { type: 'callRequested', requestId: message.requestId, callId, devices: devices.length });
    this.#log({ event: 'call-requested', callId, userId: call.callerId, detail: `to ${call.calleeId} on ${devices.length} device(s)` });
    if (devices.length === 0) {
      this.#send(out, connection.id, { type: 'phoneCallDiscarded', callId, reason: 'offline' });
      return;
    }
    if (this.#userBusy(message.calleeId) || !this.#mayRing(call)) {
      this.#send(out, connection.id, { type: 'phoneCallDiscarded', callId, reason: 'busy' });
      return;
    }
    if (this.#options.mitm) call.mitm = new MitmCall(this.#options.dhConfig);
    this.#calls.set(callId, call);
    connection.calls.add(callId);
    let ringing = this.#ringing.get(call.calleeId);
    if (!ringing) this.#ringing.set(call.calleeId, (ringing = new Set()));
    ringing.add(call);
    const gAHash = call.mitm ? call.mitm.gAHashForCallee : message.gAHash;
    for (const device of devices) {
      this.#connections.get(device)?.calls.add(callId);
      this.#send(out, device, { type: 'phoneCallRequested', callId, callerId: call.callerId, gAHash, video: message.video });
    }
  }

  /** The call, if it exists and this connection is part of it; otherwise an error reply and undefined. */
  #participantCall(connection: Connection, callId: string, out: ServerOutput[]): Call | undefined {
    const call = this.#calls.get(callId);
    if (!call) {
      this.#error(out, connection.id, 'unknown-call', 'no such call (it may have ended)', callId);
      return undefined;
    }
    if (call.callerConnection !== connection.id && call.calleeConnection !== connection.id && !call.ringing.has(connection.id)) {
      this.#error(out, connection.id, 'not-a-participant', 'this device is not part of the call', callId);
      return undefined;
    }
    return call;
  }

  /** Whether the callee may be rung once more: under the cap, and not already rung by this caller. */
  #mayRing(call: Call): boolean {
    const ringing = this.#ringing.get(call.calleeId);
    if (!ringing) return true;
    const cap = this.#limits.maxRingingPerCallee;
    if (cap > 0 && ringing.size >= cap) return false;
    for (const other of ringing) if (other.callerId === call.callerId) return false;
    return true;
  }

  #stopRinging(call: Call): void {
    const ringing = this.#ringing.get(call.calleeId);
    ringing?.delete(call);
    if (ringing?.size === 0) this.#ringing.delete(call.calleeId);
  }

  /** A call left or entered the ringing state: both users' busy counts and presence follow. */
  #setBusy(call: Call, delta: 1 | -1, out: ServerOutput[]): void {
    for (const userId of [call.callerId, call.calleeId]) {
      const count = (this.#busy.get(userId) ?? 0) + delta;
      if (count > 0) this.#busy.set(userId, count);
      else this.#busy.delete(userId);
      this.#presenceChanged(userId, out);
    }
  }

  /** Ends a call, telling every other participant why. */
  #endCall(call: Call, reason: CallEndReason, by: ConnectionId | undefined, out: ServerOutput[]): void {
    this.#calls.delete(call.id);
    this.#stopRinging(call);
    call.mitm?.destroy();
    const participants = new Set<ConnectionId>([call.callerConnection, ...call.ringing]);
    if (call.calleeConnection !== undefined) participants.add(call.calleeConnection);
    for (const id of participants) {
      this.#connections.get(id)?.calls.delete(call.id);
      if (id !== by) this.#send(out, id, { type: 'phoneCallDiscarded', callId: call.id, reason });
    }
    // A side that is away hears of it when it resumes.
    for (const parked of [call.parked?.caller, call.parked?.callee]) {
      const session = parked ? this.#deviceSessions.get(parked.device) : undefined;
      if (session && session.endedWhileAway.length < 64) session.endedWhileAway.push({ callId: call.id, reason });
    }
    this.#log({ event: 'call-ended', callId: call.id, detail: reason });
    if (call.state !== 'ringing') this.#setBusy(call, -1, out);
  }

  #userBusy(userId: string): boolean {
    return this.#busy.has(userId);
  }

  /** Tells the subscribers of a user its current state, if it changed: one shared message, one output each. */
  #presenceChanged(userId: string, out: ServerOutput[]): void {
    const fanOut: PresenceFanOut<ConnectionId> | undefined = this.#presence.set(userId, this.#users.get(userId)?.size ?? 0, this.#busy.has(userId));
    if (!fanOut) return;
    this.#stats.presenceMessages += fanOut.to.length;
    for (const to of fanOut.to) out.push({ kind: 'send', to, message: fanOut.message });
  }

  #send(out: ServerOutput[], to: ConnectionId, message: ServerMessage): void {
    out.push({ kind: 'send', to, message });
  }

  #error(out: ServerOutput[], to: ConnectionId, code: ServerErrorCode, message: string, callId?: string, requestId?: string): void {
    this.#stats.errorsSent++;
    const error: ServerMessage = { type: 'error', code, message };
    if (callId !== undefined) error.callId = callId;
    if (requestId !== undefined) error.requestId = requestId;
    out.push({ kind: 'send', to, message: error });
  }

  #who(connection: Connection): { userId?: string; deviceId?: string } {
    const who: { userId?: string; deviceId?: string } = {};
    if (connection.userId !== undefined) who.userId = connection.userId;
    if (connection.deviceId !== undefined) who.deviceId = connection.deviceId;
    return who;
  }

  #log(entry: ServerLogEntry): void {
    this.#options.log?.(entry);
  }
}

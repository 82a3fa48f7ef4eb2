/**
 * The signaling server's logic (the spec's "S"), sans-IO: connections are numbers, frames are strings,
 * time is a number passed in. It keeps users, devices and calls in memory, serves the DH config, relays the
 * three key-agreement messages and the sealed in-call signaling, fans a call out to every device of the callee
 * and, once one accepts, discards it on the others and routes only to that one. It never holds a, b or the
 * key: it sees g_a_hash, g_b, g_a and the fingerprint, as the spec says.
 */

import { bytesToBase64, bytesToHex, randomBytes } from '@mtcall/crypto';
import { MitmCall } from './mitm.js';
import {
  PROTOCOL_VERSION,
  parseClientMessage,
  type CallEndReason,
  type ClientMessage,
  type IceServerInfo,
  type PresenceEntry,
  type ServerErrorCode,
  type ServerMessage,
} from './protocol.js';

/** Identifies one WebSocket connection (one device). */
export type ConnectionId = number;

/** What the adapter must do. */
export type ServerOutput =
  | { kind: 'send'; to: ConnectionId; message: ServerMessage }
  | { kind: 'close'; to: ConnectionId; code: number; reason: string };

/** A structured log entry. Never carries key-agreement values or signaling payloads. */
export interface ServerLogEntry {
  event: string;
  connection?: ConnectionId;
  userId?: string;
  deviceId?: string;
  callId?: string;
  detail?: string;
}

/** Token bucket per connection. */
export interface RateLimit {
  /** Sustained messages per second. */
  perSecond: number;
  /** Messages allowed in a burst. */
  burst: number;
  /** Refused messages after which the connection is closed as abusive. */
  maxViolations: number;
}

/** Server configuration. */
export interface SignalingServerOptions {
  /** The DH config served to clients: a 2048-bit safe prime and generator, with a version for caching. */
  dhConfig: { version: number; p: Uint8Array; g: number };
  /** How long a call may ring unanswered (ms). */
  ringTimeoutMs: number;
  /** How long after acceptCall the caller has to send confirmCall (ms). */
  confirmTimeoutMs: number;
  /** When set, `hello` must carry this token. */
  token?: string;
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

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = { unauthorized: 4001, replaced: 4002, abusive: 1008 } as const;

interface Connection {
  id: ConnectionId;
  userId?: string;
  deviceId?: string;
  presence: boolean;
  tokens: number;
  refilledAt: number;
  violations: number;
  calls: Set<string>;
}

type CallState = 'ringing' | 'accepted' | 'confirmed';

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
}

export class SignalingServerCore {
  readonly #options: SignalingServerOptions;
  readonly #connections = new Map<ConnectionId, Connection>();
  readonly #users = new Map<string, Map<string, ConnectionId>>();
  readonly #calls = new Map<string, Call>();
  readonly #stats = { callsStarted: 0, callsEstablished: 0, errorsSent: 0, relayedSignaling: 0 };
  readonly #dhConfigMessage: ServerMessage;

  constructor(options: SignalingServerOptions) {
    this.#options = options;
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

  /** A new connection opened. */
  open(id: ConnectionId, now: number): void {
    const burst = this.#options.rateLimit.burst;
    this.#connections.set(id, { id, presence: false, tokens: burst, refilledAt: now, violations: 0, calls: new Set() });
  }

  /** A frame arrived on a connection. `byteLength` is its size on the wire. */
  receive(id: ConnectionId, text: string, byteLength: number, now: number): ServerOutput[] {
    const connection = this.#connections.get(id);
    if (!connection) return [];
    const out: ServerOutput[] = [];
    if (!this.#takeToken(connection, now)) {
      connection.violations++;
      if (connection.violations > this.#options.rateLimit.maxViolations) {
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
    const out: ServerOutput[] = [];
    for (const callId of [...connection.calls]) {
      const call = this.#calls.get(callId);
      if (!call) continue;
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
      this.#broadcastPresence(out);
    }
    void now;
    return out;
  }

  /** Advances the clock: ends calls past their deadline with `'timeout'`. */
  tick(now: number): ServerOutput[] {
    const out: ServerOutput[] = [];
    for (const call of [...this.#calls.values()]) {
      if (call.state !== 'confirmed' && now >= call.deadline) this.#endCall(call, 'timeout', undefined, out);
    }
    return out;
  }

  #handle(connection: Connection, message: ClientMessage, now: number, out: ServerOutput[]): void {
    if (message.type === 'hello') return this.#hello(connection, message, now, out);
    if (connection.userId === undefined) {
      return this.#error(out, connection.id, 'not-authenticated', `send hello before ${message.type}`);
    }
    switch (message.type) {
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
        this.#broadcastPresence(out);
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
        if (data !== null) this.#send(out, to, { type: 'signalingData', callId: call.id, data });
        return;
      }
    }
  }

  #hello(connection: Connection, message: Extract<ClientMessage, { type: 'hello' }>, now: number, out: ServerOutput[]): void {
    if (connection.userId !== undefined) return this.#error(out, connection.id, 'already-authenticated', 'hello was already sent on this connection');
    if (this.#options.token !== undefined && message.token !== this.#options.token) {
      this.#error(out, connection.id, 'unauthorized', 'wrong or missing token');
      out.push({ kind: 'close', to: connection.id, code: CLOSE_CODES.unauthorized, reason: 'unauthorized' });
      this.#log({ event: 'unauthorized', connection: connection.id, userId: message.userId });
      return;
    }
    let devices = this.#users.get(message.userId);
    if (!devices) this.#users.set(message.userId, (devices = new Map()));
    const previous = devices.get(message.deviceId);
    if (previous !== undefined && previous !== connection.id) {
      out.push({ kind: 'close', to: previous, code: CLOSE_CODES.replaced, reason: 'the same device connected again' });
      out.push(...this.close(previous, 0));
      // close() may have dropped the user's map if it was the only device.
      devices = this.#users.get(message.userId) ?? new Map();
      this.#users.set(message.userId, devices);
    }
    devices.set(message.deviceId, connection.id);
    connection.userId = message.userId;
    connection.deviceId = message.deviceId;
    connection.presence = message.presence === true;
    const iceServers = this.#options.iceServers?.(message.userId, now) ?? [];
    this.#send(out, connection.id, {
      type: 'welcome', protocol: PROTOCOL_VERSION, userId: message.userId, deviceId: message.deviceId, dhVersion: this.#options.dhConfig.version,
      ...(iceServers.length > 0 ? { iceServers } : {}),
    });
    this.#log({ event: 'connected', connection: connection.id, ...this.#who(connection) });
    this.#broadcastPresence(out);
  }

  #requestCall(connection: Connection, message: Extract<ClientMessage, { type: 'requestCall' }>, now: number, out: ServerOutput[]): void {
    if (message.calleeId === connection.userId) {
      return this.#error(out, connection.id, 'self-call', 'a user cannot call themselves', undefined, message.requestId);
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
    if (this.#userBusy(message.calleeId)) {
      this.#send(out, connection.id, { type: 'phoneCallDiscarded', callId, reason: 'busy' });
      return;
    }
    if (this.#options.mitm) call.mitm = new MitmCall(this.#options.dhConfig);
    this.#calls.set(callId, call);
    connection.calls.add(callId);
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

  /** Ends a call, telling every other participant why. */
  #endCall(call: Call, reason: CallEndReason, by: ConnectionId | undefined, out: ServerOutput[]): void {
    this.#calls.delete(call.id);
    call.mitm?.destroy();
    const participants = new Set<ConnectionId>([call.callerConnection, ...call.ringing]);
    if (call.calleeConnection !== undefined) participants.add(call.calleeConnection);
    for (const id of participants) {
      this.#connections.get(id)?.calls.delete(call.id);
      if (id !== by) this.#send(out, id, { type: 'phoneCallDiscarded', callId: call.id, reason });
    }
    this.#log({ event: 'call-ended', callId: call.id, detail: reason });
    if (call.state !== 'ringing') this.#broadcastPresence(out);
  }

  #userBusy(userId: string): boolean {
    for (const call of this.#calls.values()) {
      if (call.state !== 'ringing' && (call.callerId === userId || call.calleeId === userId)) return true;
    }
    return false;
  }

  #broadcastPresence(out: ServerOutput[]): void {
    let users: PresenceEntry[] | undefined;
    for (const connection of this.#connections.values()) {
      if (!connection.presence || connection.userId === undefined) continue;
      users ??= this.#presence();
      this.#send(out, connection.id, { type: 'presence', users });
    }
  }

  #presence(): PresenceEntry[] {
    const inCall = new Set<string>();
    for (const call of this.#calls.values()) {
      if (call.state !== 'ringing') {
        inCall.add(call.callerId);
        inCall.add(call.calleeId);
      }
    }
    return [...this.#users.entries()].map(([userId, devices]) => ({ userId, devices: devices.size, inCall: inCall.has(userId) })).sort((a, b) => a.userId.localeCompare(b.userId));
  }

  #takeToken(connection: Connection, now: number): boolean {
    const { perSecond, burst } = this.#options.rateLimit;
    const elapsed = Math.max(0, now - connection.refilledAt);
    connection.tokens = Math.min(burst, connection.tokens + (elapsed * perSecond) / 1000);
    connection.refilledAt = now;
    if (connection.tokens < 1) return false;
    connection.tokens -= 1;
    return true;
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

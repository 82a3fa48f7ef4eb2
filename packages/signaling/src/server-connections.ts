/**
 * Connections and authentication, sans-IO: the table of open connections and the devices they registered, the
 * per-address cap, each connection's rate limit, and `hello` — open, shared token (constant time), or signed token
 * (the adapter verifies it: `verify-token`, then `tokenVerified`).
 */

import { bytesToBase64, constantTimeEqual, randomBytes, sha256 } from '@mtcall/crypto';
import { PROTOCOL_VERSION, type CallEndReason, type ClientMessage, type IceServerInfo } from './protocol.js';
import { TokenBucket, type RateLimit } from './rate-limit.js';
import type { ConnectionId, Outbox } from './server-output.js';

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

/** WebSocket close codes the server uses. `restarting`: reconnect (and resume) now. */
export const CLOSE_CODES = { unauthorized: 4001, replaced: 4002, abusive: 1008, restarting: 1012 } as const;

/** base64url without padding (tokens). */
function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A device (`user\0device`): the key of its resume session. */
export function deviceKey(connection: { userId?: string | undefined; deviceId?: string | undefined }): string | undefined {
  return connection.userId !== undefined && connection.deviceId !== undefined ? `${connection.userId}\u0000${connection.deviceId}` : undefined;
}

interface DeviceSession {
  token: string;
  connection: ConnectionId;
  /** Calls of this device that ended while it was away, told on resume. */
  endedWhileAway: { callId: string; reason: CallEndReason }[];
}

export type HelloMessage = Extract<ClientMessage, { type: 'hello' }>;

/** One open connection (one device once authenticated). */
export interface Connection {
  id: ConnectionId;
  address: string | undefined;
  userId?: string;
  deviceId?: string;
  /** A `hello` whose signed token is being verified. */
  pendingHello?: HelloMessage;
  bucket: TokenBucket;
  /** Calls (and room key exchanges) this device is part of. */
  calls: Set<string>;
  /** The room this device is in (one at a time). */
  room?: { roomId: string; memberId: number };
}

export interface ConnectionTableOptions {
  rateLimit: RateLimit;
  /** Open connections from one remote address; more are closed at once (0 = no cap). */
  maxConnectionsPerAddress: number;
  auth: AuthMode;
  dhVersion: number;
  iceServers?: ((userId: string, now: number) => IceServerInfo[]) | undefined;
}

/** What happens around admission that other parts of the core own. */
export interface AdmissionHooks {
  /** An older connection of the same device is replaced: close it as if it had dropped (its calls park). */
  replace(previous: ConnectionId, now: number, out: Outbox): void;
  /** The device presented its resume token: move its parked calls onto this connection; returns their ids. */
  resume(connection: Connection, device: string): string[];
  /** After the welcome: deliver what the resumed calls queued, the calls that ended meanwhile, the re-join claims. */
  resumed(connection: Connection, callIds: string[], endedWhileAway: { callId: string; reason: CallEndReason }[], hello: HelloMessage, now: number, out: Outbox): void;
  /** A device was admitted (after its welcome went out). */
  admitted(connection: Connection, hello: HelloMessage, out: Outbox, now: number): void;
}

/** Open connections, the devices they registered, and authentication. */
export class ConnectionTable {
  readonly #options: ConnectionTableOptions;
  readonly #connections = new Map<ConnectionId, Connection>();
  /** userId → deviceId → connection. */
  readonly #users = new Map<string, Map<string, ConnectionId>>();
  readonly #perAddress = new Map<string, number>();
  /** Per device: its resume token and current connection. */
  readonly #deviceSessions = new Map<string, DeviceSession>();
  readonly #sharedTokenHash: Uint8Array | undefined;
  refused = 0;

  constructor(options: ConnectionTableOptions) {
    this.#options = options;
    this.#sharedTokenHash = options.auth.kind === 'shared-token' ? sha256(new TextEncoder().encode(options.auth.token)) : undefined;
  }

  get size(): number {
    return this.#connections.size;
  }

  get userCount(): number {
    return this.#users.size;
  }

  get(id: ConnectionId): Connection | undefined {
    return this.#connections.get(id);
  }

  /** The connections of a user's devices. */
  devices(userId: string): ConnectionId[] {
    return [...(this.#users.get(userId)?.values() ?? [])];
  }

  deviceCount(userId: string): number {
    return this.#users.get(userId)?.size ?? 0;
  }

  /** A new connection; closed at once when its address already has the maximum open. */
  open(id: ConnectionId, now: number, address: string | undefined, out: Outbox): void {
    this.#connections.set(id, { id, address, bucket: new TokenBucket(this.#options.rateLimit, now), calls: new Set() });
    if (address === undefined) return;
    const count = (this.#perAddress.get(address) ?? 0) + 1;
    this.#perAddress.set(address, count);
    const cap = this.#options.maxConnectionsPerAddress;
    if (cap > 0 && count > cap) {
      this.refused++;
      out.log({ event: 'refused-address', connection: id, detail: `more than ${cap} connections from one address` });
      out.close(id, CLOSE_CODES.abusive, 'too many connections from this address');
    }
  }

  /** A call of a device that is away ended: it hears of it when it resumes. */
  endedWhileAway(device: string, callId: string, reason: CallEndReason): void {
    const session = this.#deviceSessions.get(device);
    if (session && session.endedWhileAway.length < 64) session.endedWhileAway.push({ callId, reason });
  }

  /**
   * Whether a frame may be processed now; writes the refusal (error, or close when abusive) when not. The
   * `rate-limited` error carries the frame's request id (from `requestId()`, asked only on refusal) so the sender can
   * send that request again.
   */
  admitFrame(connection: Connection, now: number, out: Outbox, requestId?: () => string | undefined): boolean {
    if (connection.bucket.take(now)) return true;
    if (connection.bucket.abusive) {
      out.log({ event: 'closed-abusive', connection: connection.id, ...who(connection) });
      out.close(connection.id, CLOSE_CODES.abusive, 'rate limit exceeded repeatedly');
    } else {
      const id = requestId?.();
      out.error(connection.id, 'rate-limited', `more than ${this.#options.rateLimit.perSecond} messages/s; slow down`, id !== undefined ? { requestId: id } : {});
    }
    return false;
  }

  /** Forgets a closed connection (its device stays registered until `unregister`); returns it for the rest of the core to clean up. */
  remove(id: ConnectionId): Connection | undefined {
    const connection = this.#connections.get(id);
    if (!connection) return undefined;
    this.#connections.delete(id);
    if (connection.address !== undefined) {
      const left = (this.#perAddress.get(connection.address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(connection.address, left);
      else this.#perAddress.delete(connection.address);
    }
    return connection;
  }

  /** Unregisters a removed connection's device (after its calls ended, so their presence updates still count it). */
  unregister(connection: Connection): void {
    if (connection.userId === undefined || connection.deviceId === undefined) return;
    const devices = this.#users.get(connection.userId);
    if (devices?.get(connection.deviceId) === connection.id) devices.delete(connection.deviceId);
    if (devices?.size === 0) this.#users.delete(connection.userId);
  }

  hello(connection: Connection, message: HelloMessage, now: number, out: Outbox, hooks: AdmissionHooks): void {
    if (connection.userId !== undefined || connection.pendingHello) {
      return out.error(connection.id, 'already-authenticated', 'hello was already sent on this connection');
    }
    const auth = this.#options.auth;
    switch (auth.kind) {
      case 'open':
        return this.#admit(connection, message, now, out, hooks);
      case 'shared-token': {
        const given = message.token === undefined ? undefined : sha256(new TextEncoder().encode(message.token));
        if (given === undefined || !constantTimeEqual(given, this.#sharedTokenHash!)) return this.#refuse(connection, message, 'wrong or missing token', out);
        return this.#admit(connection, message, now, out, hooks);
      }
      case 'signed-token':
        if (message.token === undefined) return this.#refuse(connection, message, 'this server requires a signed token (JWT) in hello.token', out);
        connection.pendingHello = message;
        out.push({ kind: 'verify-token', to: connection.id, token: message.token });
        return;
    }
  }

  tokenVerified(id: ConnectionId, verdict: TokenVerdict, now: number, out: Outbox, hooks: AdmissionHooks): void {
    const connection = this.#connections.get(id);
    const hello = connection?.pendingHello;
    if (!connection || !hello) return;
    delete connection.pendingHello;
    if (!verdict.ok) this.#refuse(connection, hello, `invalid token: ${verdict.reason}`, out);
    else if (verdict.userId !== hello.userId) this.#refuse(connection, hello, `the token is for another user than ${hello.userId}`, out);
    else this.#admit(connection, hello, now, out, hooks);
  }

  /**
   * Admits a `hello` without authentication: for a cluster's stand-in of a device another instance already
   * authenticated (`cluster-node.ts`). Never reachable from a client frame.
   */
  admitTrusted(connection: Connection, message: HelloMessage, now: number, out: Outbox, hooks: AdmissionHooks): void {
    this.#admit(connection, message, now, out, hooks);
  }

  #refuse(connection: Connection, hello: HelloMessage, why: string, out: Outbox): void {
    out.error(connection.id, 'unauthorized', why);
    out.close(connection.id, CLOSE_CODES.unauthorized, 'unauthorized');
    out.log({ event: 'unauthorized', connection: connection.id, userId: hello.userId, detail: why });
  }

  /** An authenticated `hello`: register the device (replacing an older connection of it), welcome it. */
  #admit(connection: Connection, message: HelloMessage, now: number, out: Outbox, hooks: AdmissionHooks): void {
    const previous = this.#users.get(message.userId)?.get(message.deviceId);
    if (previous !== undefined && previous !== connection.id) {
      out.close(previous, CLOSE_CODES.replaced, 'the same device connected again');
      hooks.replace(previous, now, out);
    }
    let devices = this.#users.get(message.userId);
    if (!devices) this.#users.set(message.userId, (devices = new Map()));
    devices.set(message.deviceId, connection.id);
    connection.userId = message.userId;
    connection.deviceId = message.deviceId;
    // Resume: the token of this device's previous connection carries its established calls over.
    const device = deviceKey(connection)!;
    const session = this.#deviceSessions.get(device);
    const resuming = session !== undefined && message.resume !== undefined && constantTimeEqual(new TextEncoder().encode(message.resume), new TextEncoder().encode(session.token));
    const token = bytesToBase64Url(randomBytes(18));
    const resumed = resuming ? hooks.resume(connection, device) : [];
    const endedWhileAway = resuming ? session.endedWhileAway : [];
    this.#deviceSessions.set(device, { token, connection: connection.id, endedWhileAway: [] });
    const iceServers = this.#options.iceServers?.(message.userId, now) ?? [];
    out.send(connection.id, {
      type: 'welcome', protocol: PROTOCOL_VERSION, userId: message.userId, deviceId: message.deviceId, dhVersion: this.#options.dhVersion,
      ...(iceServers.length > 0 ? { iceServers } : {}), resumeToken: token, ...(resuming ? { resumed } : {}),
      ...(resuming && connection.room ? { resumedRoom: connection.room.roomId } : {}),
    });
    hooks.resumed(connection, resumed, endedWhileAway, message, now, out);
    out.log({ event: 'connected', connection: connection.id, ...who(connection) });
    hooks.admitted(connection, message, out, now);
  }
}

/** The user and device of a connection, for log entries. */
export function who(connection: Connection): { userId?: string; deviceId?: string } {
  const result: { userId?: string; deviceId?: string } = {};
  if (connection.userId !== undefined) result.userId = connection.userId;
  if (connection.deviceId !== undefined) result.deviceId = connection.deviceId;
  return result;
}

/**
 * Call routing, sans-IO: the spec's "S" between caller and callee. It fans a call out to every device of the callee
 * and, once one accepts, discards it on the others and routes only to that one; it relays the three key-agreement
 * messages and the sealed in-call signaling through the relay strategy (honest, or the `--mitm` demonstration);
 * it caps ring bombing (one ring per caller and callee, calls ringing one user, outgoing calls per device) and ends
 * calls past their deadline. A room's pairwise key exchange is a call too — it rings one member's connection and
 * changes nobody's presence — so rooms reuse the handshake, the sealed channel and the relay strategy as they are.
 */

import { base64ToBytes, bytesToHex, constantTimeEqual, randomBytes } from '@mtcall/crypto';
import type { CallEndReason, ClientMessage } from './protocol.js';
import type { KeyExchangeRelay, RelayStrategy } from './relay.js';
import { deviceKey, who, type Connection, type ConnectionTable } from './server-connections.js';
import type { ConnectionId, Outbox } from './server-output.js';

/** Caps against one client tying up others (ring bombing, connection floods). 0 turns a cap off. */
export interface AbuseLimits {
  /** Calls one device may have in progress as the caller (ringing or connected); more get `too-many-calls`. */
  maxOutgoingCallsPerDevice: number;
  /** Calls that may ring one user at once; more end at once with `busy`. One caller rings a callee once. */
  maxRingingPerCallee: number;
  /** Open connections from one remote address; more are closed at once (1008). */
  maxConnectionsPerAddress: number;
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

/** How long a re-join claim waits for the other side of its call (ms). */
const REJOIN_WINDOW_MS = 60_000;

/** How long established calls wait for a dropped device by default (ms). */
export const DEFAULT_RESUME_GRACE_MS = 30_000;

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
  relay: KeyExchangeRelay;
  /** A room's pairwise key exchange: no presence, no busy, no ring caps, never parked. */
  roomId?: string;
  /** Sides whose connection dropped, by role. */
  parked?: { caller?: Parked; callee?: Parked };
}

/** What a room pair request resolves to: the member's connection, or why not. */
export type RoomPairTarget = { ok: true; connection: ConnectionId; callerMemberId: number } | { ok: false; code: 'not-in-room' | 'unknown-member'; message: string };

export interface CallRouterOptions {
  ringTimeoutMs: number;
  confirmTimeoutMs: number;
  /** How long a dropped device's established calls wait for it (ms; 0: end them at once). */
  resumeGraceMs: number;
  limits: AbuseLimits;
  relay: RelayStrategy;
  /** Someone's busy state changed (presence follows). */
  busyChanged(userId: string, out: Outbox): void;
  /** Resolves `requestCall.room` (the rooms part of the core owns membership). */
  roomPair(connection: Connection, room: { roomId: string; memberId: number }): RoomPairTarget;
}

export class CallRouter {
  readonly #options: CallRouterOptions;
  readonly #connections: ConnectionTable;
  readonly #calls = new Map<string, Call>();
  /** Per callee user: the calls ringing them. */
  readonly #ringing = new Map<string, Set<Call>>();
  /** Per user: calls past ringing (accepted or confirmed) — the user is busy while > 0. */
  readonly #busy = new Map<string, number>();
  /** Re-join claims waiting for the other side of their call (after a restart), by call id. */
  readonly #rejoinClaims = new Map<string, { connection: ConnectionId; userId: string; role: 'caller' | 'callee'; proof: Uint8Array; until: number }>();
  readonly stats = { callsStarted: 0, callsEstablished: 0, relayedSignaling: 0, roomExchanges: 0 };

  constructor(connections: ConnectionTable, options: CallRouterOptions) {
    this.#connections = connections;
    this.#options = options;
  }

  get activeCalls(): number {
    return this.#calls.size;
  }

  isBusy(userId: string): boolean {
    return this.#busy.has(userId);
  }

  /** The established (confirmed) calls a connection is part of. */
  confirmedCalls(connection: Connection): string[] {
    return [...connection.calls].filter((id) => this.#calls.get(id)?.state === 'confirmed');
  }

  /** The earliest deadline (a call not yet confirmed, a parked side's grace): when the core must be woken, if ever. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    const consider = (t: number) => void (next === undefined || t < next ? (next = t) : undefined);
    for (const call of this.#calls.values()) {
      if (call.state !== 'confirmed') consider(call.deadline);
      for (const parked of [call.parked?.caller, call.parked?.callee]) if (parked) consider(parked.until);
    }
    return next;
  }

  /** Ends calls past their deadline with `'timeout'`, and calls whose parked side did not come back with `'disconnected'`. */
  expire(now: number, out: Outbox): void {
    for (const [callId, claim] of this.#rejoinClaims) if (claim.until < now) this.#rejoinClaims.delete(callId);
    for (const call of [...this.#calls.values()]) {
      if (call.state !== 'confirmed' && now >= call.deadline) this.#end(call, 'timeout', undefined, out);
      else if (call.parked && [call.parked.caller, call.parked.callee].some((p) => p !== undefined && now >= p.until)) this.#end(call, 'disconnected', undefined, out);
    }
  }

  /** Moves the parked calls of `device` onto its new connection; returns their ids (their queues are flushed by `resumed`). */
  resume(connection: Connection, device: string): string[] {
    const resumed: string[] = [];
    for (const call of this.#calls.values()) {
      for (const role of ['caller', 'callee'] as const) {
        const parked = call.parked?.[role];
        if (!parked || parked.device !== device) continue;
        if (role === 'caller') call.callerConnection = connection.id;
        else call.calleeConnection = connection.id;
        connection.calls.add(call.id);
        resumed.push(call.id);
      }
    }
    return resumed;
  }

  /** After the welcome of a resumed device: the in-call signaling queued for it, then the re-join claims. */
  resumed(connection: Connection, callIds: string[], claims: readonly { callId: string; role: 'caller' | 'callee'; proof: string }[], now: number, out: Outbox): void {
    for (const callId of callIds) {
      const call = this.#calls.get(callId);
      if (!call) continue;
      const role = call.callerConnection === connection.id ? 'caller' : 'callee';
      const queue = call.parked?.[role]?.queue ?? [];
      out.log({ event: 'call-resumed', callId, ...who(connection), detail: `${role}, ${queue.length} queued` });
      if (call.parked) delete call.parked[role];
      if (call.parked && !call.parked.caller && !call.parked.callee) delete call.parked;
      for (const data of queue) out.send(connection.id, { type: 'signalingData', callId, data });
    }
    for (const claim of claims) this.#rejoin(connection, claim, now, out);
  }

  /**
   * A device re-joins an established call this server does not know (it restarted): once the other side presents
   * the same proof (derived from the call key, which the server never sees), the call exists again, confirmed.
   */
  #rejoin(connection: Connection, claim: { callId: string; role: 'caller' | 'callee'; proof: string }, now: number, out: Outbox): void {
    if (this.#calls.has(claim.callId)) return; // known: a resume carries it, not a re-join
    const proof = base64ToBytes(claim.proof)!;
    const other = this.#rejoinClaims.get(claim.callId);
    if (!other || other.until < now || !this.#connections.get(other.connection) || other.role === claim.role || !constantTimeEqual(other.proof, proof)) {
      this.#rejoinClaims.set(claim.callId, { connection: connection.id, userId: connection.userId!, role: claim.role, proof, until: now + REJOIN_WINDOW_MS });
      return;
    }
    this.#rejoinClaims.delete(claim.callId);
    const caller = claim.role === 'caller' ? { id: connection.id, user: connection.userId! } : { id: other.connection, user: other.userId };
    const callee = claim.role === 'caller' ? { id: other.connection, user: other.userId } : { id: connection.id, user: connection.userId! };
    const call: Call = {
      id: claim.callId, callerId: caller.user, callerConnection: caller.id, calleeId: callee.user, calleeConnection: callee.id, ringing: new Set(),
      state: 'confirmed', deadline: Number.POSITIVE_INFINITY, relay: this.#options.relay.exchange({ callId: claim.callId, callerId: caller.user, calleeId: callee.user }),
    };
    this.#calls.set(call.id, call);
    for (const id of [caller.id, callee.id]) {
      this.#connections.get(id)?.calls.add(call.id);
      out.send(id, { type: 'callRejoined', callId: call.id });
    }
    this.#setBusy(call, +1, out);
    out.log({ event: 'call-rejoined', callId: call.id });
  }

  handle(connection: Connection, message: Extract<ClientMessage, { type: 'requestCall' | 'acceptCall' | 'confirmCall' | 'discardCall' | 'signalingData' }>, now: number, out: Outbox): void {
    switch (message.type) {
      case 'requestCall':
        return this.#request(connection, message, now, out);
      case 'acceptCall':
        return this.#accept(connection, message, now, out);
      case 'confirmCall':
        return this.#confirm(connection, message, out);
      case 'discardCall': {
        const call = this.#participantCall(connection, message.callId, out);
        if (call) this.#end(call, message.reason, connection.id, out);
        return;
      }
      case 'signalingData':
        return this.#signaling(connection, message, out);
    }
  }

  /**
   * A connection closed: its established calls wait `resumeGraceMs` for the device to come back (media does not pass
   * through the server) — a room's key exchanges only when its membership was parked too (`parkedRoom`); calls it rang
   * in end when no device is left; other calls it was in end with `'disconnected'`.
   */
  connectionClosed(connection: Connection, now: number, out: Outbox, parkedRoom?: string): void {
    const device = deviceKey(connection);
    const grace = this.#options.resumeGraceMs;
    for (const callId of [...connection.calls]) {
      const call = this.#calls.get(callId);
      if (!call) continue;
      if (call.state === 'confirmed' && (call.roomId === undefined || call.roomId === parkedRoom) && device !== undefined && grace > 0 && (call.callerConnection === connection.id || call.calleeConnection === connection.id)) {
        const role = call.callerConnection === connection.id ? 'caller' : 'callee';
        (call.parked ??= {})[role] = { device, until: now + grace, queue: [] };
        out.log({ event: 'call-parked', callId: call.id, ...who(connection), detail: role });
        continue;
      }
      if (call.state === 'ringing' && call.callerConnection !== connection.id) {
        call.ringing.delete(connection.id);
        if (call.ringing.size === 0) this.#end(call, 'offline', undefined, out);
      } else {
        this.#end(call, 'disconnected', connection.id, out);
      }
    }
  }

  /** A member left a room: its pairwise key exchanges in that room end. */
  leftRoom(connection: Connection, roomId: string, out: Outbox): void {
    for (const callId of [...connection.calls]) {
      const call = this.#calls.get(callId);
      if (call?.roomId === roomId) this.#end(call, 'hangup', connection.id, out);
    }
  }

  #request(connection: Connection, message: Extract<ClientMessage, { type: 'requestCall' }>, now: number, out: Outbox): void {
    const requestId = message.requestId;
    let devices: ConnectionId[];
    let room: { roomId: string; callerMemberId: number; calleeMemberId: number } | undefined;
    if (message.room) {
      const target = this.#options.roomPair(connection, message.room);
      if (!target.ok) return out.error(connection.id, target.code, target.message, { requestId, roomId: message.room.roomId });
      if (target.connection === connection.id) return out.error(connection.id, 'self-call', 'a member cannot exchange keys with itself', { requestId });
      if (this.#connections.get(target.connection)?.userId !== message.calleeId) {
        return out.error(connection.id, 'unknown-member', 'that member is another user', { requestId, roomId: message.room.roomId });
      }
      devices = [target.connection];
      room = { roomId: message.room.roomId, callerMemberId: target.callerMemberId, calleeMemberId: message.room.memberId };
    } else {
      if (message.calleeId === connection.userId) return out.error(connection.id, 'self-call', 'a user cannot call themselves', { requestId });
      devices = this.#connections.devices(message.calleeId);
    }
    const maxOutgoing = this.#options.limits.maxOutgoingCallsPerDevice;
    if (maxOutgoing > 0 && !room) {
      let outgoing = 0;
      for (const id of connection.calls) {
        const other = this.#calls.get(id);
        if (other?.callerConnection === connection.id && other.roomId === undefined) outgoing++;
      }
      if (outgoing >= maxOutgoing) {
        return out.error(connection.id, 'too-many-calls', `this device already has ${outgoing} calls in progress (the limit)`, { requestId });
      }
    }
    const callId = bytesToHex(randomBytes(16));
    const call: Call = {
      id: callId,
      callerId: connection.userId!,
      callerConnection: connection.id,
      calleeId: message.calleeId,
      ringing: new Set(devices),
      state: 'ringing',
      deadline: now + this.#options.ringTimeoutMs,
      relay: undefined as unknown as KeyExchangeRelay,
      ...(room ? { roomId: room.roomId } : {}),
    };
    this.stats.callsStarted++;
    if (room) this.stats.roomExchanges++;
    out.send(connection.id, { type: 'callRequested', requestId, callId, devices: devices.length });
    out.log({ event: room ? 'room-key-exchange' : 'call-requested', callId, userId: call.callerId, ...(room ? { roomId: room.roomId } : {}), detail: `to ${call.calleeId} on ${devices.length} device(s)` });
    if (devices.length === 0) return out.send(connection.id, { type: 'phoneCallDiscarded', callId, reason: 'offline' });
    if (!room && (this.#busy.has(message.calleeId) || !this.#mayRing(call))) {
      return out.send(connection.id, { type: 'phoneCallDiscarded', callId, reason: 'busy' });
    }
    call.relay = this.#options.relay.exchange({ callId, callerId: call.callerId, calleeId: call.calleeId, ...(room ? { room } : {}) });
    this.#calls.set(callId, call);
    connection.calls.add(callId);
    if (!room) {
      let ringing = this.#ringing.get(call.calleeId);
      if (!ringing) this.#ringing.set(call.calleeId, (ringing = new Set()));
      ringing.add(call);
    }
    const gAHash = call.relay.commitment(message.gAHash);
    for (const device of devices) {
      this.#connections.get(device)?.calls.add(callId);
      out.send(device, {
        type: 'phoneCallRequested', callId, callerId: call.callerId, gAHash, video: message.video,
        ...(room ? { room: { roomId: room.roomId, memberId: room.callerMemberId } } : {}),
      });
    }
  }

  #accept(connection: Connection, message: Extract<ClientMessage, { type: 'acceptCall' }>, now: number, out: Outbox): void {
    const call = this.#participantCall(connection, message.callId, out);
    if (!call) return;
    if (!call.ringing.has(connection.id) && call.calleeConnection !== connection.id) {
      return out.error(connection.id, 'not-a-participant', 'only a device of the callee can accept', { callId: message.callId });
    }
    if (call.state !== 'ringing') return out.error(connection.id, 'wrong-state', 'the call was already accepted', { callId: message.callId });
    call.state = 'accepted';
    call.calleeConnection = connection.id;
    call.deadline = now + this.#options.confirmTimeoutMs;
    this.#stopRinging(call);
    this.#setBusy(call, +1, out);
    for (const other of call.ringing) {
      if (other === connection.id) continue;
      out.send(other, { type: 'phoneCallDiscarded', callId: call.id, reason: 'answered-elsewhere' });
      this.#connections.get(other)?.calls.delete(call.id);
    }
    call.ringing.clear();
    out.send(call.callerConnection, { type: 'phoneCallAccepted', callId: call.id, gB: call.relay.accept(message.gB) });
    out.log({ event: 'call-accepted', callId: call.id, ...who(connection) });
  }

  #confirm(connection: Connection, message: Extract<ClientMessage, { type: 'confirmCall' }>, out: Outbox): void {
    const call = this.#participantCall(connection, message.callId, out);
    if (!call) return;
    if (call.callerConnection !== connection.id) return out.error(connection.id, 'not-a-participant', 'only the caller can confirm', { callId: message.callId });
    if (call.state !== 'accepted') {
      return out.error(connection.id, 'wrong-state', call.state === 'ringing' ? 'the call was not accepted yet' : 'the call was already confirmed', { callId: message.callId });
    }
    call.state = 'confirmed';
    this.stats.callsEstablished++;
    out.send(call.calleeConnection!, { type: 'phoneCall', callId: call.id, ...call.relay.confirm(message.gA, message.keyFingerprint) });
    out.log({ event: 'call-confirmed', callId: call.id });
  }

  #signaling(connection: Connection, message: Extract<ClientMessage, { type: 'signalingData' }>, out: Outbox): void {
    const call = this.#participantCall(connection, message.callId, out);
    if (!call) return;
    if (call.state === 'ringing') return out.error(connection.id, 'wrong-state', 'in-call signaling starts once the call is accepted', { callId: message.callId });
    const fromCaller = connection.id === call.callerConnection;
    const to = fromCaller ? call.calleeConnection : connection.id === call.calleeConnection ? call.callerConnection : undefined;
    if (to === undefined) return out.error(connection.id, 'not-a-participant', 'this device is not in the call', { callId: message.callId });
    this.stats.relayedSignaling++;
    const data = call.relay.signaling(message.data, fromCaller);
    if (data === null) return;
    const parked = call.parked?.[fromCaller ? 'callee' : 'caller'];
    if (parked) {
      parked.queue.push(data);
      if (parked.queue.length > PARKED_QUEUE_LIMIT) parked.queue.shift();
      return;
    }
    out.send(to, { type: 'signalingData', callId: call.id, data });
  }

  /** The call, if it exists and this connection is part of it; otherwise an error reply and undefined. */
  #participantCall(connection: Connection, callId: string, out: Outbox): Call | undefined {
    const call = this.#calls.get(callId);
    if (!call) {
      out.error(connection.id, 'unknown-call', 'no such call (it may have ended)', { callId });
      return undefined;
    }
    if (call.callerConnection !== connection.id && call.calleeConnection !== connection.id && !call.ringing.has(connection.id)) {
      out.error(connection.id, 'not-a-participant', 'this device is not part of the call', { callId });
      return undefined;
    }
    return call;
  }

  /** Whether the callee may be rung once more: under the cap, and not already rung by this caller. */
  #mayRing(call: Call): boolean {
    const ringing = this.#ringing.get(call.calleeId);
    if (!ringing) return true;
    const cap = this.#options.limits.maxRingingPerCallee;
    if (cap > 0 && ringing.size >= cap) return false;
    for (const other of ringing) if (other.callerId === call.callerId) return false;
    return true;
  }

  #stopRinging(call: Call): void {
    const ringing = this.#ringing.get(call.calleeId);
    ringing?.delete(call);
    if (ringing?.size === 0) this.#ringing.delete(call.calleeId);
  }

  /** A call left or entered the ringing state: both users' busy counts and presence follow (not for room exchanges). */
  #setBusy(call: Call, delta: 1 | -1, out: Outbox): void {
    if (call.roomId !== undefined) return;
    for (const userId of [call.callerId, call.calleeId]) {
      const count = (this.#busy.get(userId) ?? 0) + delta;
      if (count > 0) this.#busy.set(userId, count);
      else this.#busy.delete(userId);
      this.#options.busyChanged(userId, out);
    }
  }

  /** Ends a call, telling every other participant why. */
  #end(call: Call, reason: CallEndReason, by: ConnectionId | undefined, out: Outbox): void {
    this.#calls.delete(call.id);
    this.#stopRinging(call);
    call.relay.destroy();
    const participants = new Set<ConnectionId>([call.callerConnection, ...call.ringing]);
    if (call.calleeConnection !== undefined) participants.add(call.calleeConnection);
    for (const id of participants) {
      this.#connections.get(id)?.calls.delete(call.id);
      if (id !== by) out.send(id, { type: 'phoneCallDiscarded', callId: call.id, reason });
    }
    // A side that is away hears of it when it resumes.
    for (const parked of [call.parked?.caller, call.parked?.callee]) if (parked) this.#connections.endedWhileAway(parked.device, call.id, reason);
    out.log({ event: 'call-ended', callId: call.id, detail: reason });
    if (call.state !== 'ringing') this.#setBusy(call, -1, out);
  }
}

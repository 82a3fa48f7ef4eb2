/**
 * Rooms, sans-IO: who is in which room (a member number per join, never reused in the room), who distributes the
 * group key (the member who joined first and is still there), the SFU operations members ask for — which the core
 * hands to the adapter as `room-media` outputs and finishes in `mediaDone` — and the relay of the room code's
 * commitments. The server never sees a group key: the distributor sends it to each member over their pairwise
 * sealed channel (a key exchange routed by `server-calls.ts`).
 *
 * A member whose connection drops is parked for the resume grace (its media keeps flowing through the SFU, which does
 * not depend on the WebSocket): the device's next connection that presents its resume token takes the membership
 * over — the same member number, transports and producers — and gets `roomResumed` (the members, the distributor,
 * the producers now) and the room code messages relayed meanwhile. A member not back within the grace leaves.
 *
 * Every request is checked here before the SFU sees it: the connection must be a joined member of that room; one
 * SFU request per member at a time (`room-busy`); the SFU then checks ownership of transports, producers and
 * consumers and its refusals come back under their own names.
 */

import type { ClientMessage, RoomMemberInfo, RoomProducerInfo, ServerErrorCode, ServerMessage } from './protocol.js';
import { deviceKey, type Connection, type ConnectionTable } from './server-connections.js';
import type { ConnectionId, Outbox } from './server-output.js';

/** Limits of rooms. */
export interface RoomOptions {
  /** Members per room (default 20). */
  maxMembers: number;
  /** Rooms per server (default 1000). */
  maxRooms: number;
}

export const DEFAULT_ROOM_OPTIONS: RoomOptions = { maxMembers: 20, maxRooms: 1000 };

/** An SFU operation for one member, run by the adapter (`RoomMedia`). */
export type RoomRequest = { roomId: string; memberId: number } & (
  | { op: 'join' }
  | { op: 'leave' }
  | { op: 'createTransport'; requestId: string; direction: 'send' | 'recv' }
  | { op: 'connectTransport'; requestId: string; transportId: string; dtlsParameters: unknown }
  | { op: 'produce'; requestId: string; transportId: string; kind: 'audio' | 'video'; rtpParameters: unknown; source: string }
  | { op: 'closeProducer'; producerId: string }
  | { op: 'pauseProducer'; producerId: string; paused: boolean }
  | { op: 'consume'; requestId: string; transportId: string; producerId: string; rtpCapabilities: unknown }
  | { op: 'resumeConsumer'; requestId: string; consumerId: string }
  | { op: 'requestKeyFrame'; consumerId: string }
);

/** What an SFU operation returned (`join`: the router's capabilities and the room's producers; …). */
export type RoomMediaOutcome =
  | { ok: true; value?: unknown }
  | { ok: false; code: string; message: string };

/**
 * The SFU as the signaling server drives it. `@mtcall/sfu`'s `Sfu` implements it; tests may pass a fake.
 * Parameters the client sent arrive as validated JSON (`unknown` here): the SFU checks their sense.
 */
export interface RoomMedia {
  routerCapabilities(roomId: string): Promise<unknown>;
  addMember(roomId: string, memberId: number): Promise<void>;
  removeMember(roomId: string, memberId: number): string[];
  createTransport(roomId: string, memberId: number, direction: 'send' | 'recv'): Promise<{ transportId: string; iceParameters: unknown; iceCandidates: unknown[]; dtlsParameters: unknown }>;
  connectTransport(roomId: string, memberId: number, transportId: string, dtlsParameters: never): Promise<void>;
  produce(roomId: string, memberId: number, transportId: string, kind: 'audio' | 'video', rtpParameters: never, source: string): Promise<RoomProducerInfo>;
  closeProducer(roomId: string, memberId: number, producerId: string): void;
  /** Pauses or resumes a member's own producer; resolves with it as the others learn of it. */
  pauseProducer(roomId: string, memberId: number, producerId: string, paused: boolean): Promise<RoomProducerInfo>;
  consume(roomId: string, memberId: number, transportId: string, producerId: string, rtpCapabilities: never): Promise<{ consumerId: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: unknown }>;
  resumeConsumer(roomId: string, memberId: number, consumerId: string): Promise<void>;
  requestKeyFrame(roomId: string, memberId: number, consumerId: string): Promise<void>;
  producers(roomId: string): RoomProducerInfo[];
  memberCount(roomId: string): number;
  closeRoom(roomId: string): void;
}

/** Runs one request on a `RoomMedia`; never rejects (failures become `{ ok: false, code }`). */
export async function runRoomRequest(media: RoomMedia, request: RoomRequest): Promise<RoomMediaOutcome> {
  const { roomId, memberId } = request;
  try {
    switch (request.op) {
      case 'join': {
        await media.addMember(roomId, memberId);
        return { ok: true, value: { rtpCapabilities: await media.routerCapabilities(roomId), producers: media.producers(roomId) } };
      }
      case 'leave': {
        const closed = media.removeMember(roomId, memberId);
        if (media.memberCount(roomId) === 0) media.closeRoom(roomId);
        return { ok: true, value: closed };
      }
      case 'createTransport':
        return { ok: true, value: await media.createTransport(roomId, memberId, request.direction) };
      case 'connectTransport':
        await media.connectTransport(roomId, memberId, request.transportId, request.dtlsParameters as never);
        return { ok: true };
      case 'produce':
        return { ok: true, value: await media.produce(roomId, memberId, request.transportId, request.kind, request.rtpParameters as never, request.source) };
      case 'closeProducer':
        media.closeProducer(roomId, memberId, request.producerId);
        return { ok: true };
      case 'pauseProducer':
        return { ok: true, value: await media.pauseProducer(roomId, memberId, request.producerId, request.paused) };
      case 'consume':
        return { ok: true, value: await media.consume(roomId, memberId, request.transportId, request.producerId, request.rtpCapabilities as never) };
      case 'resumeConsumer':
        await media.resumeConsumer(roomId, memberId, request.consumerId);
        return { ok: true };
      case 'requestKeyFrame':
        await media.requestKeyFrame(roomId, memberId, request.consumerId);
        return { ok: true };
    }
  } catch (error) {
    const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'sfu-error';
    return { ok: false, code, message: error instanceof Error ? error.message.slice(0, 300) : String(error) };
  }
}

interface Member extends RoomMemberInfo {
  connection: ConnectionId;
  /** Joined: the SFU added it and the others know. Until then it only waits. */
  joined: boolean;
  /** A request of this member is with the SFU. */
  busy: boolean;
  joinRequestId: string;
  /** Its connection dropped: parked until `until` for its device to resume; the room code messages meanwhile. */
  away?: { device: string; until: number; connection: Connection; codes: ServerMessage[] };
}

interface Room {
  id: string;
  members: Map<number, Member>;
  nextMemberId: number;
  /** The producers now (what a resuming member is told). */
  producers: Map<string, RoomProducerInfo>;
}

/** Room code messages kept for a parked member; more are dropped (the code of that epoch then does not complete). */
const PARKED_CODE_LIMIT = 64;

type RoomClientMessage = Extract<
  ClientMessage,
  { type: 'joinRoom' | 'leaveRoom' | 'createTransport' | 'connectTransport' | 'produce' | 'closeProducer' | 'pauseProducer' | 'consume' | 'resumeConsumer' | 'requestKeyFrame' | 'roomCode' }
>;

/** The SFU codes passed on to clients as they are; anything else becomes `sfu-error`. */
const PASSED_ON: ReadonlySet<string> = new Set<ServerErrorCode>([
  'unknown-transport', 'unknown-producer', 'unknown-consumer', 'wrong-direction', 'own-producer', 'cannot-consume', 'bad-parameters',
  'too-many-transports', 'too-many-producers', 'too-many-consumers',
]);

export class RoomRegistry {
  readonly #options: RoomOptions | undefined;
  readonly #connections: ConnectionTable;
  readonly #rooms = new Map<string, Room>();
  /** Parked members by device. */
  readonly #parked = new Map<string, { roomId: string; memberId: number }>();
  /** A member left (its pairwise key exchanges end). */
  readonly #left: (connection: Connection, roomId: string, out: Outbox) => void;
  readonly stats = { roomsCreated: 0, joins: 0, mediaRequests: 0, codeMessages: 0 };

  constructor(connections: ConnectionTable, options: RoomOptions | undefined, left: (connection: Connection, roomId: string, out: Outbox) => void) {
    this.#connections = connections;
    this.#options = options;
    this.#left = left;
  }

  get roomCount(): number {
    return this.#rooms.size;
  }

  /** Whether this registry holds the room (members joined, joining or parked). */
  has(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  /**
   * The room is gone from this server (cluster: another instance took it over): every member is told `room-lost`
   * (parked ones are simply forgotten), their pairwise key exchanges end and the SFU drops their media.
   */
  drop(roomId: string, out: Outbox): void {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    this.#rooms.delete(roomId);
    for (const member of room.members.values()) {
      const connection = member.away?.connection ?? this.#connections.get(member.connection);
      if (member.away) this.#parked.delete(member.away.device);
      if (connection) {
        if (connection.room?.roomId === roomId) delete connection.room;
        this.#left(connection, roomId, out);
      }
      if (!member.away) out.error(member.connection, 'room-lost', 'the server that held this room handed it over: join it again', { roomId });
      if (member.joined) out.push({ kind: 'room-media', to: member.connection, request: { roomId, memberId: member.memberId, op: 'leave' } });
    }
    out.log({ event: 'room-dropped', roomId, detail: `${room.members.size} members told room-lost` });
  }

  /** Members (joined) of a room, in join order. */
  members(roomId: string): RoomMemberInfo[] {
    const room = this.#rooms.get(roomId);
    return room ? this.#list(room) : [];
  }

  handle(connection: Connection, message: RoomClientMessage, out: Outbox): void {
    if (!this.#options) {
      return out.error(connection.id, 'rooms-disabled', 'this server has no rooms (start it with --rooms)', { ...requestIdOf(message), roomId: message.roomId });
    }
    if (message.type === 'joinRoom') return this.#join(connection, message, out);
    const member = this.#memberOf(connection, message.roomId);
    if (!member) {
      if (message.type === 'leaveRoom') return; // leaving twice is not an error
      return out.error(connection.id, 'not-in-room', 'join the room first (and wait for roomJoined)', { ...requestIdOf(message), roomId: message.roomId });
    }
    const { roomId } = message;
    const { memberId } = member;
    switch (message.type) {
      case 'leaveRoom':
        return this.leave(connection, out);
      case 'roomCode': {
        // Relayed as it came: the commitments bind each member's nonce before anyone reveals (docs/GROUP-CALLS.md).
        this.stats.codeMessages++;
        const relayed = { type: 'roomCode' as const, roomId, from: memberId, epoch: message.epoch, step: message.step, value: message.value };
        for (const other of this.#rooms.get(roomId)!.members.values()) {
          if (!other.joined || other.memberId === memberId) continue;
          if (!other.away) out.send(other.connection, relayed);
          else if (other.away.codes.length < PARKED_CODE_LIMIT) other.away.codes.push(relayed);
        }
        return;
      }
      case 'requestKeyFrame':
        return this.#media(member, out, { roomId, memberId, op: 'requestKeyFrame', consumerId: message.consumerId }, false);
      case 'closeProducer':
        return this.#media(member, out, { roomId, memberId, op: 'closeProducer', producerId: message.producerId }, false);
      case 'pauseProducer':
        return this.#media(member, out, { roomId, memberId, op: 'pauseProducer', producerId: message.producerId, paused: message.paused }, false);
      case 'createTransport':
        return this.#media(member, out, { roomId, memberId, op: 'createTransport', requestId: message.requestId, direction: message.direction });
      case 'connectTransport':
        return this.#media(member, out, { roomId, memberId, op: 'connectTransport', requestId: message.requestId, transportId: message.transportId, dtlsParameters: message.dtlsParameters });
      case 'produce':
        return this.#media(member, out, {
          roomId, memberId, op: 'produce', requestId: message.requestId, transportId: message.transportId, kind: message.kind, rtpParameters: message.rtpParameters, source: message.source,
        });
      case 'consume':
        return this.#media(member, out, {
          roomId, memberId, op: 'consume', requestId: message.requestId, transportId: message.transportId, producerId: message.producerId, rtpCapabilities: message.rtpCapabilities,
        });
      case 'resumeConsumer':
        return this.#media(member, out, { roomId, memberId, op: 'resumeConsumer', requestId: message.requestId, consumerId: message.consumerId });
    }
  }

  /** Resolves a pairwise key exchange request: both must be joined members of the room. */
  pairTarget(connection: Connection, room: { roomId: string; memberId: number }): { ok: true; connection: ConnectionId; callerMemberId: number } | { ok: false; code: 'not-in-room' | 'unknown-member'; message: string } {
    const self = this.#memberOf(connection, room.roomId);
    if (!self) return { ok: false, code: 'not-in-room', message: 'join the room before exchanging keys in it' };
    const target = this.#rooms.get(room.roomId)!.members.get(room.memberId);
    if (!target?.joined) return { ok: false, code: 'unknown-member', message: 'no such member in the room' };
    return { ok: true, connection: target.connection, callerMemberId: self.memberId };
  }

  /** The connection leaves its room (leaveRoom, or it closed): the others learn it, the SFU drops its media. */
  leave(connection: Connection, out: Outbox): void {
    const place = connection.room;
    if (!place) return;
    delete connection.room;
    const room = this.#rooms.get(place.roomId);
    const member = room?.members.get(place.memberId);
    if (!room || !member) return;
    this.#remove(room, member, connection, out);
  }

  /**
   * A connection closed: a joined member of a device that may resume (`graceMs` > 0) is parked; otherwise it leaves.
   * Returns the room it was parked in (its pairwise key exchanges are parked with it).
   */
  connectionClosed(connection: Connection, now: number, graceMs: number, out: Outbox): string | undefined {
    const place = connection.room;
    const member = place && this.#rooms.get(place.roomId)?.members.get(place.memberId);
    const device = deviceKey(connection);
    if (!place || !member?.joined || device === undefined || graceMs <= 0) {
      this.leave(connection, out);
      return undefined;
    }
    delete connection.room;
    member.away = { device, until: now + graceMs, connection, codes: [] };
    this.#parked.set(device, place);
    out.log({ event: 'room-parked', connection: connection.id, roomId: place.roomId, detail: `member ${member.memberId}` });
    return place.roomId;
  }

  /** The device resumed on `connection` (its resume token matched): it takes its parked membership over. */
  resume(connection: Connection, device: string): void {
    const place = this.#parked.get(device);
    if (!place) return;
    this.#parked.delete(device);
    const member = this.#rooms.get(place.roomId)?.members.get(place.memberId);
    if (!member?.away || connection.room) return;
    member.connection = connection.id;
    connection.room = { ...place };
  }

  /**
   * Cluster: a member's device reconnected to another instance while its stand-in here stayed open (the drop was
   * never seen here): `roomResumed` with the room as it is, as after a parked resume. False if it is in no room here.
   */
  snapshot(connection: Connection, out: Outbox): boolean {
    const place = connection.room;
    const room = place && this.#rooms.get(place.roomId);
    const member = place && room?.members.get(place.memberId);
    if (!room || !member?.joined || member.away || member.connection !== connection.id) return false;
    out.send(connection.id, {
      type: 'roomResumed', roomId: room.id, memberId: member.memberId, members: this.#list(room), distributor: this.#distributor(room), producers: [...room.producers.values()],
    });
    return true;
  }

  /** After the welcome of a resumed device: `roomResumed`, then the room code messages it missed. */
  resumed(connection: Connection, out: Outbox): void {
    const place = connection.room;
    const room = place && this.#rooms.get(place.roomId);
    const member = place && room?.members.get(place.memberId);
    if (!room || !member?.away || member.connection !== connection.id) return;
    const codes = member.away.codes;
    delete member.away;
    out.send(connection.id, {
      type: 'roomResumed', roomId: room.id, memberId: member.memberId, members: this.#list(room), distributor: this.#distributor(room), producers: [...room.producers.values()],
    });
    for (const message of codes) out.send(connection.id, message);
    out.log({ event: 'room-resumed', connection: connection.id, roomId: room.id, detail: `member ${member.memberId}, ${codes.length} code messages` });
  }

  /** The earliest end of a parked member's grace. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const place of this.#parked.values()) {
      const until = this.#rooms.get(place.roomId)?.members.get(place.memberId)?.away?.until;
      if (until !== undefined && (next === undefined || until < next)) next = until;
    }
    return next;
  }

  /** Parked members whose grace ended leave. */
  expire(now: number, out: Outbox): void {
    for (const [device, place] of [...this.#parked]) {
      const room = this.#rooms.get(place.roomId);
      const member = room?.members.get(place.memberId);
      if (!room || !member?.away) {
        this.#parked.delete(device);
      } else if (now >= member.away.until) {
        this.#parked.delete(device);
        this.#remove(room, member, member.away.connection, out);
      }
    }
  }

  #remove(room: Room, member: Member, connection: Connection, out: Outbox): void {
    room.members.delete(member.memberId);
    this.#left(connection, room.id, out);
    out.log({ event: 'room-left', connection: connection.id, roomId: room.id, detail: `member ${member.memberId}` });
    if (member.joined) {
      out.push({ kind: 'room-media', to: connection.id, request: { roomId: room.id, memberId: member.memberId, op: 'leave' } });
      this.#announce(room, out, { left: member.memberId });
    }
    if (room.members.size === 0) this.#rooms.delete(room.id);
  }

  /** The adapter finished an SFU request: answer the member, tell the room. */
  mediaDone(to: ConnectionId, request: RoomRequest, outcome: RoomMediaOutcome, out: Outbox): void {
    const room = this.#rooms.get(request.roomId);
    const member = room?.members.get(request.memberId);
    if (request.op === 'leave') {
      // The member's producers closed with its transports: the others stop consuming them.
      if (outcome.ok && room) {
        for (const producerId of outcome.value as string[]) {
          room.producers.delete(producerId);
          this.#toJoined(room, out, { type: 'producerRemoved', roomId: room.id, producerId });
        }
      }
      return;
    }
    if (!room || !member || member.connection !== to) {
      // It left while the SFU worked: undo a join that completed after the leave.
      if (request.op === 'join' && outcome.ok) out.push({ kind: 'room-media', to, request: { roomId: request.roomId, memberId: request.memberId, op: 'leave' } });
      return;
    }
    member.busy = false;
    const ids = { roomId: room.id, ...('requestId' in request ? { requestId: request.requestId } : {}) };
    if (!outcome.ok) {
      if (request.op === 'join') {
        room.members.delete(member.memberId);
        delete this.#connections.get(to)?.room;
        if (room.members.size === 0) this.#rooms.delete(room.id);
        ids.requestId = member.joinRequestId;
      }
      out.error(to, (PASSED_ON.has(outcome.code) ? outcome.code : 'sfu-error') as ServerErrorCode, outcome.message, ids);
      return;
    }
    const value = outcome.value as Record<string, unknown> | undefined;
    switch (request.op) {
      case 'join': {
        member.joined = true;
        const { rtpCapabilities, producers } = value as { rtpCapabilities: unknown; producers: RoomProducerInfo[] };
        for (const p of producers) if (room.members.get(p.memberId)?.joined) room.producers.set(p.producerId, p);
        out.send(to, {
          type: 'roomJoined', requestId: member.joinRequestId, roomId: room.id, memberId: member.memberId, members: this.#list(room),
          distributor: this.#distributor(room), rtpCapabilities, producers: producers.filter((p) => room.members.get(p.memberId)?.joined),
        });
        this.#announce(room, out, { joined: member.memberId }, member.memberId);
        out.log({ event: 'room-joined', connection: to, roomId: room.id, detail: `member ${member.memberId} of ${room.members.size}` });
        return;
      }
      case 'createTransport':
        out.send(to, { type: 'transportCreated', requestId: request.requestId, roomId: room.id, ...(value as { transportId: string; iceParameters: unknown; iceCandidates: unknown[]; dtlsParameters: unknown }) });
        return;
      case 'connectTransport':
        out.send(to, { type: 'transportConnected', requestId: request.requestId, roomId: room.id });
        return;
      case 'produce': {
        const producer = value as unknown as RoomProducerInfo;
        room.producers.set(producer.producerId, producer);
        out.send(to, { type: 'produced', requestId: request.requestId, roomId: room.id, producerId: producer.producerId });
        this.#toJoined(room, out, { type: 'producerAdded', roomId: room.id, ...producer }, member.memberId);
        return;
      }
      case 'closeProducer':
        room.producers.delete(request.producerId);
        this.#toJoined(room, out, { type: 'producerRemoved', roomId: room.id, producerId: request.producerId });
        return;
      case 'pauseProducer': {
        // What the SFU now holds (the last of two quick toggles wins): the others show the member's state from it.
        const producer = value as unknown as RoomProducerInfo;
        room.producers.set(producer.producerId, producer);
        this.#toJoined(room, out, { type: 'producerPaused', roomId: room.id, producerId: producer.producerId, memberId: member.memberId, paused: producer.paused === true }, member.memberId);
        return;
      }
      case 'consume':
        out.send(to, { type: 'consumed', requestId: request.requestId, roomId: room.id, ...(value as { consumerId: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: unknown }) });
        return;
      case 'resumeConsumer':
        out.send(to, { type: 'consumerResumed', requestId: request.requestId, roomId: room.id, consumerId: request.consumerId });
        return;
      case 'requestKeyFrame':
        return;
    }
  }

  #join(connection: Connection, message: Extract<ClientMessage, { type: 'joinRoom' }>, out: Outbox): void {
    const options = this.#options!;
    const ids = { requestId: message.requestId, roomId: message.roomId };
    if (connection.room) return out.error(connection.id, 'already-in-room', `this connection is in room ${connection.room.roomId}; leave it first`, ids);
    let room = this.#rooms.get(message.roomId);
    if (!room) {
      if (this.#rooms.size >= options.maxRooms) return out.error(connection.id, 'too-many-rooms', `this server holds at most ${options.maxRooms} rooms`, ids);
      room = { id: message.roomId, members: new Map(), nextMemberId: 1, producers: new Map() };
      this.#rooms.set(room.id, room);
      this.stats.roomsCreated++;
    }
    if (room.members.size >= options.maxMembers) return out.error(connection.id, 'room-full', `a room holds at most ${options.maxMembers} members`, ids);
    const memberId = room.nextMemberId++;
    room.members.set(memberId, {
      memberId, userId: connection.userId!, deviceId: connection.deviceId!, connection: connection.id, joined: false, busy: true, joinRequestId: message.requestId,
    });
    connection.room = { roomId: room.id, memberId };
    this.stats.joins++;
    out.push({ kind: 'room-media', to: connection.id, request: { roomId: room.id, memberId, op: 'join' } });
  }

  /** Hands a request to the SFU; `exclusive` requests wait for none other of the member (`room-busy` otherwise). */
  #media(member: Member, out: Outbox, request: RoomRequest, exclusive = true): void {
    if (exclusive) {
      if (member.busy) {
        return out.error(member.connection, 'room-busy', 'wait for the answer to your previous request', { roomId: request.roomId, ...('requestId' in request ? { requestId: request.requestId } : {}) });
      }
      member.busy = true;
    }
    this.stats.mediaRequests++;
    out.push({ kind: 'room-media', to: member.connection, request });
  }

  #memberOf(connection: Connection, roomId: string): Member | undefined {
    if (connection.room?.roomId !== roomId) return undefined;
    const member = this.#rooms.get(roomId)?.members.get(connection.room.memberId);
    return member?.joined ? member : undefined;
  }

  #list(room: Room): RoomMemberInfo[] {
    return [...room.members.values()].filter((m) => m.joined).map((m) => ({ memberId: m.memberId, userId: m.userId, deviceId: m.deviceId }));
  }

  /** The distributor: the joined member who joined first (the lowest member number). */
  #distributor(room: Room): number {
    let first = 0;
    for (const m of room.members.values()) if (m.joined && (first === 0 || m.memberId < first)) first = m.memberId;
    return first;
  }

  #announce(room: Room, out: Outbox, change: { joined?: number; left?: number }, except?: number): void {
    if (![...room.members.values()].some((m) => m.joined)) return;
    this.#toJoined(room, out, { type: 'roomMembers', roomId: room.id, members: this.#list(room), distributor: this.#distributor(room), ...change }, except);
  }

  /** One message object to every joined member (but `except`): serialised once by the adapter. */
  #toJoined(room: Room, out: Outbox, message: Parameters<Outbox['send']>[1], except?: number): void {
    // A parked member learns the state in `roomResumed` instead.
    for (const m of room.members.values()) if (m.joined && !m.away && m.memberId !== except) out.send(m.connection, message);
  }
}

function requestIdOf(message: RoomClientMessage): { requestId?: string } {
  return 'requestId' in message ? { requestId: message.requestId } : {};
}

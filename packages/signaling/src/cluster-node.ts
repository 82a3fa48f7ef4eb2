/**
 * One signaling instance of a cluster, sans-IO: a `SignalingServerCore` plus what makes N of them behave as one
 * server. Each instance keeps its own connections; every device connected elsewhere appears here as a *stand-in*
 * connection (a negative id) in the core, so calling, ringing every device and presence need no new logic.
 *
 * - **One writer per call.** A call lives in the core of its caller's home instance, which decides everything about
 *   it: "first accept wins" and "answered elsewhere" are decided in one place, serially, never in two. A callee's
 *   frames for that call (accept, confirm, discard, in-call signaling) are forwarded to the owner (`frame`), and
 *   what the owner's core says to a stand-in is delivered by the device's home instance (`deliver`).
 * - **Directory** of (user, device) → instance, in the bus (Redis: a hash changed only by Lua scripts, so a
 *   registration and its delta are one atomic step, and an instance unregisters a device only while it still owns
 *   it). Every change is published once as a delta to every instance (pub/sub), which updates its stand-ins and tells
 *   its own presence subscribers: O(1) messages per change per subscriber, whatever the cluster size.
 * - **Heartbeat**: an instance refreshes a key with a TTL; the devices of an instance whose key expired are removed
 *   (and their deltas published) by whichever instance notices first. Their calls park on the owners as for any
 *   dropped connection, and resume when the device reconnects to another instance.
 * - **Resume across instances**: each registration publishes the SHA-256 of the device's resume token; the instance
 *   the device reconnects to checks the token against it, and the owners of its established calls tell it
 *   `callRejoined` for each (the client then resumes them).
 *
 * - **One owner per room.** A room lives in the core (and the SFU) of the instance that claimed it in Redis (a Lua
 *   script: the claim is taken when nobody holds it or its holder's heartbeat expired — a takeover — and every new
 *   holder gets a new generation; the adapter compares holders by incarnation, so a process restarted under the
 *   same id is a new holder, and it frees its predecessor's rooms at start). A device on another instance joins
 *   through its stand-in there: its room frames (and its pairwise key exchanges in the room) are forwarded to the
 *   owner, the owner's answers come back as for calls; its media goes to the owner's SFU directly. An owner releases
 *   the claim when the room empties; an owner that finds its claim gone (it missed heartbeats and another instance
 *   took over) drops the room, and the members whose owner died are told `room-lost` by their own instance: they
 *   join again, on a new owner.
 *
 * Limits: busy state in presence and calls still ringing are per instance (a ringing call dies with its owner;
 * established calls survive a non-owner's death, their media never passing through any server); a room's media
 * dies with its owner's SFU (its members join again elsewhere).
 */

import { bytesToHex, sha256 } from '@mtcall/crypto';
import { parseClientMessage, type ServerMessage } from './protocol.js';
import { CHAT_CLIENT_MESSAGE_TYPES } from './server-chats.js';
import { CLOSE_CODES, type ConnectionId, type ServerOutput, type SignalingServerCore } from './server-core.js';

/** A device, as the directory names it. */
export interface DeviceRef {
  userId: string;
  deviceId: string;
}

/** A message from one instance to another (over the recipient's own channel). */
export type ClusterMessage =
  /** Owner of a call → home of a device: send this to the device. */
  | { kind: 'deliver'; from: string; device: DeviceRef; message: ServerMessage }
  /** Home of a device → owner of a call: a frame of the device for that call. */
  | { kind: 'frame'; from: string; device: DeviceRef; text: string; bytes: number }
  /** Owner → home: close the device's connection (it abused the rate limit of the owner). */
  | { kind: 'close'; from: string; device: DeviceRef; code: number; reason: string };

/** A change of the directory, published to every instance. */
export type DirectoryDelta =
  | {
      op: 'up'; userId: string; deviceId: string; instance: string;
      /** SHA-256 (hex) of the resume token the device was given: another instance checks a resume against it. */
      tokenHash: string;
      /** The device proved it is the same session (its resume token): its calls carry over. */
      resumed: boolean;
      /** The room the device is a member of, and the instance holding it: where it resumes if it moves. */
      room?: DeviceRoom;
    }
  | { op: 'down'; userId: string; deviceId: string; instance: string };

/** A device's room, as its directory entry names it. */
export interface DeviceRoom {
  roomId: string;
  owner: string;
}

/** What the adapter must do: the core's outputs for local connections, and the cluster's. */
export type ClusterOutput =
  | ServerOutput
  | { kind: 'route'; instance: string; message: ClusterMessage }
  /** Set directory[device] = this instance and publish the delta (atomically). */
  | { kind: 'register'; delta: Extract<DirectoryDelta, { op: 'up' }> }
  /** Remove directory[device] if this instance still owns it, and publish the delta (atomically). */
  | { kind: 'unregister'; device: DeviceRef }
  /**
   * Refresh this instance's TTL key; remove (with deltas) the devices of instances whose key expired and free their
   * rooms; report (`roomsLost`) the rooms this instance claimed that another instance has taken over meanwhile.
   */
  | { kind: 'heartbeat' }
  /**
   * Claim the room for this instance unless a live instance holds it (atomically), then report the holder and the
   * claim's generation with `roomClaimed(claim, owner, now, generation)`: the frame that asked (a `joinRoom`) then
   * goes to it.
   */
  | { kind: 'claim-room'; claim: RoomClaim }
  /** The room emptied here: remove this instance's claim on it (only while it still holds it). */
  | { kind: 'release-room'; roomId: string };

/** A `joinRoom` waiting for the room's owner (`claim-room`). */
export interface RoomClaim {
  roomId: string;
  /** The connection (local, or a stand-in) whose frame it is. */
  connection: ConnectionId;
  text: string;
  bytes: number;
}

/** A local device's room that another instance owns. */
interface RemoteRoom {
  roomId: string;
  owner: string;
  /** The owner answered the join (`roomJoined`): a later failed request no longer means the join failed. */
  joined: boolean;
  joinRequestId: string;
}

/** Options of a cluster node. */
export interface ClusterNodeOptions {
  /** This instance's id: letters, digits, `.`, `_`, `-` (1..64). */
  instanceId: string;
  /** How long this instance's devices outlive its last heartbeat (ms); it beats every third of it. */
  instanceTtlMs: number;
  /**
   * The instance that keeps secret chats (its store in Redis, `chat-redis.ts`); every instance names the same one.
   * The others forward their devices' chat frames to it, as a call's frames go to the call's owner. Absent: each
   * instance keeps its own devices' chats in memory.
   */
  chatInstance?: string;
  /**
   * How many room joins a device may make per minute on this instance (default `DEFAULT_ROOM_JOINS_PER_MINUTE`); the
   * next ones get `room-join-limit`. Each join costs a Redis claim (and a new room id a key while the room lives).
   */
  roomJoinsPerMinute?: number;
}

/** Default of `ClusterNodeOptions.roomJoinsPerMinute`. */
export const DEFAULT_ROOM_JOINS_PER_MINUTE = 30;

/** Instance ids: also used in Redis keys and channel names. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Thrown for a cluster option that cannot work (typed, before anything starts). */
export class ClusterConfigError extends Error {
  override readonly name = 'ClusterConfigError';
}

/** Checks cluster options; throws `ClusterConfigError` with the reason. */
export function checkClusterOptions(options: ClusterNodeOptions): void {
  if (!INSTANCE_ID_PATTERN.test(options.instanceId)) throw new ClusterConfigError(`instance id ${JSON.stringify(options.instanceId)}: use 1 to 64 of A-Z a-z 0-9 . _ -`);
  if (options.chatInstance !== undefined && !INSTANCE_ID_PATTERN.test(options.chatInstance)) throw new ClusterConfigError(`chat instance id ${JSON.stringify(options.chatInstance)}: use 1 to 64 of A-Z a-z 0-9 . _ -`);
  if (options.roomJoinsPerMinute !== undefined && (!Number.isInteger(options.roomJoinsPerMinute) || options.roomJoinsPerMinute < 1)) throw new ClusterConfigError(`room joins per minute ${options.roomJoinsPerMinute}: use an integer of at least 1`);
  if (!Number.isInteger(options.instanceTtlMs) || options.instanceTtlMs < 300) throw new ClusterConfigError(`instance TTL ${options.instanceTtlMs} ms: use an integer of at least 300`);
}

/** `user\0device`: the directory's field for a device. */
export function directoryField(device: DeviceRef): string {
  return `${device.userId}\u0000${device.deviceId}`;
}

/** SHA-256 (hex) of a resume token, as the directory holds it. */
export function tokenHash(token: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(token)));
}

const FORWARDED = new Set(['acceptCall', 'confirmCall', 'discardCall', 'signalingData']);
/** A member's room frames, forwarded to the room's owner (`joinRoom` goes through a claim first). */
const ROOM_FRAMES: ReadonlySet<string> = new Set([
  'leaveRoom', 'createTransport', 'connectTransport', 'produce', 'closeProducer', 'pauseProducer', 'consume', 'resumeConsumer', 'requestKeyFrame', 'roomCode',
]);
const CHAT_TYPES: ReadonlySet<string> = new Set(CHAT_CLIENT_MESSAGE_TYPES);
/** Remembered resume-token hashes of devices that went down (a later reconnect elsewhere checks against them). */
const MAX_REMEMBERED_SESSIONS = 200_000;

interface StandIn {
  id: ConnectionId;
  device: DeviceRef;
  instance: string;
  tokenHash: string;
}

/** Counters of the cluster part (the core keeps its own). */
export interface ClusterStats {
  standIns: number;
  routed: number;
  deltas: number;
  remoteCalls: number;
  /** Rooms this instance holds the claim on. */
  ownedRooms: number;
  /** Local devices in a room another instance owns. */
  remoteRooms: number;
}

/** One instance of a signaling cluster; see the module doc. */
export class ClusterNode {
  readonly core: SignalingServerCore;
  readonly instanceId: string;
  readonly #ttl: number;
  /** Where this instance's devices' chat frames go (undefined: handled here; null: no writer now, refused). */
  #chatOwner: string | undefined | null;
  /** Local devices (field) → their current connection, and back. */
  readonly #local = new Map<string, ConnectionId>();
  readonly #localDevice = new Map<ConnectionId, DeviceRef>();
  /** Local connections whose `hello` presented a resume token matching the directory's hash. */
  readonly #resuming = new Set<ConnectionId>();
  readonly #standIns = new Map<string, StandIn>();
  readonly #standInById = new Map<ConnectionId, StandIn>();
  /** Last published resume-token hash per device (kept after it goes down, bounded). */
  readonly #sessions = new Map<string, string>();
  /** The resume token this core last issued per device (local or stand-in): presented again to resume here. */
  readonly #tokens = new Map<string, string>();
  /** Calls a local device is in that another instance owns. */
  readonly #remoteCalls = new Map<string, string>();
  /** Rooms this instance claimed (and has not released) → the generation of its claim (undefined: not told). */
  readonly #owned = new Map<string, number | undefined>();
  /** Local devices (field) in a room another instance owns. */
  readonly #remoteRooms = new Map<string, RemoteRoom>();
  /** Every device's room as its last directory delta named it (kept after it goes down, like its session). */
  readonly #deviceRooms = new Map<string, DeviceRoom>();
  /** Local connections resuming a device whose directory entry names a room. */
  readonly #resumingRoom = new Map<ConnectionId, DeviceRoom>();
  /** Local connections whose join waits for its claim (`claim-room` → `roomClaimed`): the room asked for. */
  readonly #claiming = new Map<ConnectionId, string>();
  readonly #joinsPerMinute: number;
  /** Room joins per local device (field) in the current minute (`#joinWindow` started it); cleared every minute. */
  readonly #joins = new Map<string, number>();
  #joinWindow = -Infinity;
  #nextStandIn = -1;
  #nextHeartbeat: number;
  #routed = 0;
  #deltas = 0;

  /** @throws ClusterConfigError for a bad instance id or TTL. */
  constructor(core: SignalingServerCore, options: ClusterNodeOptions, now: number) {
    checkClusterOptions(options);
    this.core = core;
    this.instanceId = options.instanceId;
    this.#ttl = options.instanceTtlMs;
    this.#joinsPerMinute = options.roomJoinsPerMinute ?? DEFAULT_ROOM_JOINS_PER_MINUTE;
    this.#chatOwner = options.chatInstance === this.instanceId ? undefined : options.chatInstance;
    this.#nextHeartbeat = now;
  }

  get stats(): ClusterStats {
    return { standIns: this.#standIns.size, routed: this.#routed, deltas: this.#deltas, remoteCalls: this.#remoteCalls.size, ownedRooms: this.#owned.size, remoteRooms: this.#remoteRooms.size };
  }

  /** When `tick` is next needed: the core's next deadline or the next heartbeat. */
  nextWakeAt(): number {
    const core = this.core.nextWakeAt();
    return core === undefined ? this.#nextHeartbeat : Math.min(core, this.#nextHeartbeat);
  }

  /** Advances the clock: the core's deadlines, and the heartbeat when due. */
  tick(now: number): ClusterOutput[] {
    const out = this.#fromCore(this.core.tick(now), now);
    if (now >= this.#nextHeartbeat) {
      this.#nextHeartbeat = now + Math.max(100, Math.floor(this.#ttl / 3));
      out.push({ kind: 'heartbeat' });
    }
    return out;
  }

  /** The directory as found at start (after subscribing to deltas): stand-ins for every remote device. */
  load(entries: readonly Extract<DirectoryDelta, { op: 'up' }>[], now: number): ClusterOutput[] {
    const out: ClusterOutput[] = [];
    for (const entry of entries) out.push(...this.delta({ ...entry, resumed: false }, now));
    return out;
  }

  open(id: ConnectionId, now: number, address?: string): ClusterOutput[] {
    return this.#fromCore(this.core.open(id, now, address), now);
  }

  receive(id: ConnectionId, text: string, byteLength: number, now: number): ClusterOutput[] {
    const device = this.#localDevice.get(id);
    if (device === undefined) {
      // Not admitted yet: a hello resuming a session another instance (or this one, as a stand-in) knew.
      return this.#fromCore(this.core.receive(id, this.#hello(id, text), byteLength, now), now);
    }
    const chat = this.#chatOwner !== undefined && mayName(text, '"chat');
    const room = this.core.roomsEnabled && mayName(text, '"roomId"');
    const call = this.#remoteCalls.size > 0 && mayName(text, '"callId"');
    if (!chat && !room && !call) return this.#fromCore(this.core.receive(id, text, byteLength, now), now);
    // Charged to the device's rate limit and size cap before this node parses it (as the core does): a flood or an
    // oversized frame costs no parse, no route and no Redis claim; the core does not charge it again.
    const refused = this.core.admit(id, text, byteLength, now);
    if (refused !== undefined) return this.#fromCore(refused, now);
    const chatOwner = this.#chatOwner;
    if (chat && chatOwner !== undefined) {
      const parsed = parseClientMessage(text);
      if (parsed.ok && CHAT_TYPES.has(parsed.message.type)) {
        if (chatOwner === null) return [{ kind: 'send', to: id, message: chatsUnavailable(parsed.message, 'no instance holds the secret-chat writer lease now') }];
        this.#routed++;
        return [{ kind: 'route', instance: chatOwner, message: { kind: 'frame', from: this.instanceId, device, text, bytes: byteLength } }];
      }
    }
    if (room) {
      const routed = this.#roomFrame(id, device, text, byteLength, now);
      if (routed !== undefined) return routed;
    }
    if (call) {
      const parsed = parseClientMessage(text);
      if (parsed.ok && FORWARDED.has(parsed.message.type)) {
        const callId = (parsed.message as { callId: string }).callId;
        const owner = this.#remoteCalls.get(callId);
        if (owner !== undefined) {
          if (parsed.message.type === 'discardCall') this.#remoteCalls.delete(callId);
          this.#routed++;
          return [{ kind: 'route', instance: owner, message: { kind: 'frame', from: this.instanceId, device, text, bytes: byteLength } }];
        }
      }
    }
    return this.#fromCore(this.core.receive(id, text, byteLength, now, true), now);
  }

  close(id: ConnectionId, now: number): ClusterOutput[] {
    const out: ClusterOutput[] = [];
    this.#resuming.delete(id);
    this.#resumingRoom.delete(id);
    this.#claiming.delete(id);
    const device = this.#localDevice.get(id);
    if (device !== undefined) {
      this.#localDevice.delete(id);
      const field = directoryField(device);
      if (this.#local.get(field) === id) {
        this.#local.delete(field);
        this.#remoteRooms.delete(field);
        out.push({ kind: 'unregister', device });
      }
    }
    out.push(...this.#fromCore(this.core.close(id, now), now));
    return out;
  }

  tokenVerified(...args: Parameters<SignalingServerCore['tokenVerified']>): ClusterOutput[] {
    return this.#fromCore(this.core.tokenVerified(...args), args[2]);
  }

  roomMediaDone(...args: Parameters<SignalingServerCore['roomMediaDone']>): ClusterOutput[] {
    return this.#fromCore(this.core.roomMediaDone(...args), args[3]);
  }

  /** A message on this instance's channel. */
  message(message: ClusterMessage, now: number): ClusterOutput[] {
    switch (message.kind) {
      case 'deliver': {
        const m = message.message;
        // Forgotten even when the device is gone meanwhile: the call ended for it.
        if (m.type === 'phoneCallDiscarded') this.#remoteCalls.delete(m.callId);
        const field = directoryField(message.device);
        const joined = 'roomId' in m && this.#roomDelivered(field, message.from, m);
        const id = this.#local.get(field);
        if (id === undefined) return [];
        if (joined) return [{ kind: 'send', to: id, message: m }, ...this.#reregister(field, message.device)];
        if ('callId' in m && m.type !== 'error' && m.type !== 'phoneCallDiscarded') this.#remoteCalls.set(m.callId, message.from);
        return [{ kind: 'send', to: id, message: m }];
      }
      case 'frame': {
        const standIn = this.#standIns.get(directoryField(message.device));
        if (standIn === undefined) return [];
        if (this.#chatOwner !== undefined && mayName(message.text, '"chat')) {
          // A chat frame forwarded by an instance that still takes this one for the writer (its lease was lost, or
          // another took over): refused, never handled by a core whose chats are no longer the truth.
          const parsed = parseClientMessage(message.text);
          if (parsed.ok && CHAT_TYPES.has(parsed.message.type)) return [this.#route(standIn, chatsUnavailable(parsed.message, 'this instance does not keep the secret chats (the writer changed)'))];
        }
        // A join for a room this instance does not hold (it released it meanwhile): claim it, or pass the frame on.
        if (this.core.roomsEnabled && mayName(message.text, '"joinRoom"')) {
          const parsed = parseClientMessage(message.text);
          if (parsed.ok && parsed.message.type === 'joinRoom' && !this.#owned.has(parsed.message.roomId)) {
            return [{ kind: 'claim-room', claim: { roomId: parsed.message.roomId, connection: standIn.id, text: message.text, bytes: message.bytes } }];
          }
        }
        return this.#fromCore(this.core.receive(standIn.id, message.text, message.bytes, now), now);
      }
      case 'close': {
        const id = this.#local.get(directoryField(message.device));
        return id === undefined ? [] : [{ kind: 'close', to: id, code: message.code, reason: message.reason }];
      }
    }
  }

  /**
   * A message this instance routed reached no instance (nobody listens on its channel: the instance is down). For a
   * local device's chat frame sent to the chat instance, the device is told `chats-unavailable` (nothing stored);
   * other messages are dropped as before (calls have their own timeouts).
   */
  unrouted(instance: string, message: ClusterMessage): ClusterOutput[] {
    if (message.kind !== 'frame' || instance !== this.#chatOwner) return [];
    const id = this.#local.get(directoryField(message.device));
    const parsed = parseClientMessage(message.text);
    if (id === undefined || !parsed.ok || !CHAT_TYPES.has(parsed.message.type)) return [];
    return [{ kind: 'send', to: id, message: chatsUnavailable(parsed.message, `the secret-chat instance ${instance} is not running`) }];
  }

  /**
   * Who keeps the secret chats now (elected through the Redis lease): another instance's id (frames are forwarded
   * there), this instance's own id (handled here) or null (nobody: frames get `chats-unavailable`).
   */
  setChatOwner(owner: string | null): void {
    this.#chatOwner = owner === this.instanceId ? undefined : owner;
  }

  /**
   * This instance was elected the secret chats' writer (its core already uses the store it loaded): chat frames are
   * handled here from now on, and every device it knows, local or a stand-in, gets its queue again.
   */
  takeChats(now: number): ClusterOutput[] {
    this.#chatOwner = undefined;
    return [...this.#localDevice.keys(), ...this.#standInById.keys()].flatMap((id) => this.#fromCore(this.core.redeliverChats(id, now), now));
  }

  /**
   * The room's owner as Redis decided it (`claim-room`): this instance (its core takes the join) or another one (the
   * frame goes there; a local device's later room frames follow it). `generation` is the claim's (every new holder
   * gets a new one): a room held here under another generation was freed meanwhile (this instance was swept while
   * stalled) and its members elsewhere told `room-lost` — the old session is dropped first (its members here told
   * `room-lost` too), and the join starts a new one.
   */
  roomClaimed(claim: RoomClaim, owner: string, now: number, generation?: number): ClusterOutput[] {
    const { roomId, connection } = claim;
    this.#claiming.delete(connection);
    if (owner === this.instanceId) {
      const out: ClusterOutput[] = [];
      const held = this.#owned.get(roomId);
      if (this.#owned.has(roomId) && held !== undefined && generation !== undefined && held !== generation) {
        this.#owned.delete(roomId); // before the drop: an emptied room is not released (the new claim is ours)
        out.push(...this.#fromCore(this.core.dropRoom(roomId, now), now));
      }
      this.#owned.set(roomId, generation);
      // A local device's join was charged to its rate limit before the claim; a forwarded one is charged now.
      out.push(...this.#fromCore(this.core.receive(connection, claim.text, claim.bytes, now, connection > 0), now));
      // The connection left meanwhile (or the join was refused): nobody keeps the room here.
      if (!this.core.hasRoom(roomId) && this.#owned.delete(roomId)) out.push({ kind: 'release-room', roomId });
      return out;
    }
    const device = this.#localDevice.get(connection) ?? this.#standInById.get(connection)?.device;
    if (device === undefined) return [];
    if (connection > 0) {
      const parsed = parseClientMessage(claim.text);
      const joinRequestId = parsed.ok && parsed.message.type === 'joinRoom' ? parsed.message.requestId : '';
      const field = directoryField(device);
      if (!this.#remoteRooms.get(field)?.joined) this.#remoteRooms.set(field, { roomId, owner, joined: false, joinRequestId });
    }
    this.#routed++;
    return [{ kind: 'route', instance: owner, message: { kind: 'frame', from: this.instanceId, device, text: claim.text, bytes: claim.bytes } }];
  }

  /** Redis could not say who holds the room (it is unreachable): the join is refused, nothing changed. */
  roomUnclaimed(claim: RoomClaim): ClusterOutput[] {
    this.#claiming.delete(claim.connection);
    const parsed = parseClientMessage(claim.text);
    const requestId = parsed.ok && parsed.message.type === 'joinRoom' ? parsed.message.requestId : undefined;
    const error: ServerMessage = { type: 'error', code: 'room-lost', message: 'the cluster cannot tell which instance holds this room now (Redis unreachable): join again later', roomId: claim.roomId };
    if (requestId !== undefined) error.requestId = requestId;
    return this.#fromCore([{ kind: 'send', to: claim.connection, message: error }], 0);
  }

  /**
   * Rooms this instance claimed that another instance took over (it missed its heartbeats): dropped here, their
   * members told `room-lost`.
   */
  roomsLost(roomIds: readonly string[], now: number): ClusterOutput[] {
    const out: ClusterOutput[] = [];
    for (const roomId of roomIds) {
      if (!this.#owned.delete(roomId)) continue;
      out.push(...this.#fromCore(this.core.dropRoom(roomId, now), now));
    }
    return out;
  }

  /**
   * An instance was declared dead (its heartbeat expired; its devices and room claims are gone): the local devices
   * in its rooms are told `room-lost` (their media went with its SFU); they join again.
   */
  instanceGone(instance: string): ClusterOutput[] {
    if (instance === this.instanceId) return [];
    const out: ClusterOutput[] = [];
    // Its rooms are gone for good (if it was only late, its heartbeat finds them taken): nobody resumes into them.
    for (const [field, room] of [...this.#deviceRooms]) if (room.owner === instance) this.#deviceRooms.delete(field);
    for (const [field, room] of [...this.#remoteRooms]) {
      if (room.owner !== instance) continue;
      this.#remoteRooms.delete(field);
      const id = this.#local.get(field);
      if (id !== undefined) out.push({ kind: 'send', to: id, message: { type: 'error', code: 'room-lost', message: `the instance that held the room (${instance}) stopped: join it again`, roomId: room.roomId } });
    }
    return out;
  }

  /** A directory change (every instance gets every change, its own included). */
  delta(delta: DirectoryDelta, now: number): ClusterOutput[] {
    this.#deltas++;
    const device = { userId: delta.userId, deviceId: delta.deviceId };
    const field = directoryField(device);
    const out: ClusterOutput[] = [];
    if (delta.op === 'down') {
      if (delta.instance === this.instanceId) {
        // Our own device declared gone (we missed heartbeats) while still connected here: claim it again.
        const id = this.#local.get(field);
        const token = this.#tokens.get(field);
        const room = this.#roomOfLocal(field);
        if (id !== undefined && token !== undefined) out.push({ kind: 'register', delta: { op: 'up', ...device, instance: this.instanceId, tokenHash: tokenHash(token), resumed: true, ...(room ? { room } : {}) } });
        return out;
      }
      const standIn = this.#standIns.get(field);
      if (standIn?.instance === delta.instance) out.push(...this.#closeStandIn(standIn, now));
      return out;
    }
    this.#remember(field, delta.tokenHash);
    const room = isDeviceRoom(delta.room) ? delta.room : undefined;
    if (room) this.#deviceRooms.set(field, room);
    else this.#deviceRooms.delete(field);
    if (delta.instance === this.instanceId) return out;
    const local = this.#local.get(field);
    if (local !== undefined) {
      // The device connected to another instance: this connection is stale.
      out.push({ kind: 'close', to: local, code: CLOSE_CODES.replaced, reason: 'the same device connected again' });
      out.push(...this.close(local, now).filter((o) => o.kind !== 'unregister'));
    }
    const standIn = this.#standIns.get(field);
    if (standIn !== undefined && standIn.instance === delta.instance && standIn.tokenHash === delta.tokenHash) return out; // a repeat
    if (standIn !== undefined && delta.resumed) {
      standIn.instance = delta.instance;
      standIn.tokenHash = delta.tokenHash;
      for (const callId of this.core.confirmedCalls(standIn.id)) out.push(this.#route(standIn, { type: 'callRejoined', callId }));
      // Its room membership here carried over too (its new home told it resumedRoom): the room as it is now.
      if (room?.owner === this.instanceId) {
        const snapshot = this.core.roomSnapshot(standIn.id, now);
        if (snapshot?.roomId === room.roomId) out.push(...this.#fromCore(snapshot.outputs, now));
        else out.push(this.#roomLost(standIn, room.roomId));
      }
      // Its chat queue, again, to the instance it is on now (updates in flight to the old one may be lost).
      out.push(...this.#fromCore(this.core.redeliverChats(standIn.id, now), now));
      return out;
    }
    if (standIn !== undefined) out.push(...this.#closeStandIn(standIn, now));
    const created: StandIn = { id: this.#nextStandIn--, device, instance: delta.instance, tokenHash: delta.tokenHash };
    this.#standIns.set(field, created);
    this.#standInById.set(created.id, created);
    const opened = this.core.openStandIn(created.id, device, delta.resumed ? this.#tokens.get(field) : undefined, now);
    out.push(...this.#fromCore(opened, now));
    // A device resuming a membership of a room held here (its new home told it resumedRoom) that ended meanwhile.
    if (delta.resumed && room?.owner === this.instanceId) {
      const resumedRoom = opened.some((o) => o.kind === 'send' && o.message.type === 'welcome' && o.message.resumedRoom === room.roomId);
      if (!resumedRoom) out.push(this.#roomLost(created, room.roomId));
    }
    return out;
  }

  #roomLost(standIn: StandIn, roomId: string): ClusterOutput {
    return this.#route(standIn, { type: 'error', code: 'room-lost', message: 'the room no longer holds this member (it was away too long, or the room ended): join it again', roomId });
  }

  #closeStandIn(standIn: StandIn, now: number): ClusterOutput[] {
    const field = directoryField(standIn.device);
    this.#standIns.delete(field);
    this.#standInById.delete(standIn.id);
    return this.#fromCore(this.core.close(standIn.id, now), now);
  }

  #remember(field: string, hash: string): void {
    this.#sessions.delete(field);
    this.#sessions.set(field, hash);
    if (this.#sessions.size > MAX_REMEMBERED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value!;
      this.#sessions.delete(oldest);
      this.#deviceRooms.delete(oldest);
    }
  }

  /**
   * A local `hello` with a resume token whose hash the directory published: the device resumes its session here.
   * When this core knew the device (as a stand-in, or locally before), the token it issued is presented instead.
   */
  #hello(id: ConnectionId, text: string): string {
    if (!text.includes('"resume"')) return text;
    const parsed = parseClientMessage(text);
    if (!parsed.ok || parsed.message.type !== 'hello' || parsed.message.resume === undefined) return text;
    const hello = parsed.message;
    const field = directoryField(hello);
    if (this.#sessions.get(field) !== tokenHash(hello.resume!)) return text;
    this.#resuming.add(id);
    const room = this.#deviceRooms.get(field);
    if (room !== undefined && room.owner !== this.instanceId && this.core.roomsEnabled) this.#resumingRoom.set(id, room);
    const mine = this.#tokens.get(field);
    return mine === undefined || mine === hello.resume ? text : JSON.stringify({ ...hello, resume: mine });
  }

  /**
   * A local member's room frame: a join asks Redis who owns the room; a frame for a room another instance owns goes
   * there. Undefined: the local core handles it (its own rooms, or the errors for a room the device is not in).
   */
  #roomFrame(id: ConnectionId, device: DeviceRef, text: string, bytes: number, now: number): ClusterOutput[] | undefined {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return undefined;
    const message = parsed.message;
    const field = directoryField(device);
    const remote = this.#remoteRooms.get(field);
    if (message.type === 'joinRoom') {
      if (this.core.roomOf(id) !== undefined) return undefined;
      // Already charged to the device's rate limit (`receive`): the claim costs a Redis round trip.
      const inRoom = remote?.roomId ?? this.#claiming.get(id);
      if (inRoom !== undefined) {
        return [{ kind: 'send', to: id, message: { type: 'error', code: 'already-in-room', message: `this connection is in room ${inRoom} (or joining it); leave it first`, requestId: message.requestId, roomId: message.roomId } }];
      }
      if (!this.#countJoin(field, now)) {
        return [{ kind: 'send', to: id, message: { type: 'error', code: 'room-join-limit', message: `more than ${this.#joinsPerMinute} room joins in a minute from this device: wait a minute`, requestId: message.requestId, roomId: message.roomId } }];
      }
      this.#claiming.set(id, message.roomId);
      return [{ kind: 'claim-room', claim: { roomId: message.roomId, connection: id, text, bytes } }];
    }
    const roomId = message.type === 'requestCall' ? message.room?.roomId : ROOM_FRAMES.has(message.type) ? (message as { roomId: string }).roomId : undefined;
    if (remote === undefined || roomId !== remote.roomId) return undefined;
    this.#routed++;
    const routed: ClusterOutput = { kind: 'route', instance: remote.owner, message: { kind: 'frame', from: this.instanceId, device, text, bytes } };
    if (message.type !== 'leaveRoom') return [routed];
    this.#remoteRooms.delete(field);
    return [routed, ...this.#reregister(field, device)];
  }

  /** Counts a local device's room join; false past the per-minute limit. */
  #countJoin(field: string, now: number): boolean {
    if (now >= this.#joinWindow + 60_000) {
      this.#joins.clear();
      this.#joinWindow = now;
    }
    const count = (this.#joins.get(field) ?? 0) + 1;
    this.#joins.set(field, count);
    return count <= this.#joinsPerMinute;
  }

  /** A room message from an owner to a local device: who owns the room, and whether the join failed. */
  #roomDelivered(field: string, from: string, m: ServerMessage & { roomId?: string }): boolean {
    const room = this.#remoteRooms.get(field);
    if (m.type === 'roomJoined' || m.type === 'roomResumed') {
      if (room === undefined || room.roomId !== m.roomId || !room.joined) this.#remoteRooms.set(field, { roomId: m.roomId, owner: from, joined: true, joinRequestId: '' });
      else room.owner = from;
      return m.type === 'roomJoined';
    }
    if (m.type !== 'error' || room === undefined || room.roomId !== m.roomId) return false;
    if (m.code === 'room-lost' || (!room.joined && m.requestId === room.joinRequestId)) this.#remoteRooms.delete(field);
    return false;
  }

  /** The room a local device is in (held here or elsewhere), for its directory entry. */
  #roomOfLocal(field: string): DeviceRoom | undefined {
    const remote = this.#remoteRooms.get(field);
    if (remote !== undefined) return { roomId: remote.roomId, owner: remote.owner };
    const id = this.#local.get(field);
    const roomId = id === undefined ? undefined : this.core.roomOf(id);
    return roomId === undefined ? undefined : { roomId, owner: this.instanceId };
  }

  /** Publishes a local device's entry again: its room changed (every instance learns where it would resume). */
  #reregister(field: string, device: DeviceRef): ClusterOutput[] {
    const token = this.#tokens.get(field);
    if (token === undefined || !this.#local.has(field)) return [];
    const room = this.#roomOfLocal(field);
    return [{ kind: 'register', delta: { op: 'up', ...device, instance: this.instanceId, tokenHash: tokenHash(token), resumed: false, ...(room ? { room } : {}) } }];
  }

  #route(standIn: StandIn, message: ServerMessage): ClusterOutput {
    this.#routed++;
    return { kind: 'route', instance: standIn.instance, message: { kind: 'deliver', from: this.instanceId, device: standIn.device, message } };
  }

  /** The core's outputs: those for stand-ins go to their device's instance; welcomes register local devices. */
  #fromCore(outputs: ServerOutput[], now: number): ClusterOutput[] {
    const out: ClusterOutput[] = [];
    let touched: Set<string> | undefined;
    for (const output of outputs) {
      if (output.kind === 'room-media') {
        // The SFU of this instance serves every member, local or a stand-in (even one closed meanwhile: a leave).
        (touched ??= new Set()).add(output.request.roomId);
        out.push(output);
        // A local device left a room held here: its directory entry no longer names it.
        const device = output.request.op === 'leave' && output.to > 0 ? this.#localDevice.get(output.to) : undefined;
        if (device !== undefined && this.core.roomOf(output.to) === undefined) out.push(...this.#reregister(directoryField(device), device));
        continue;
      }
      if (output.kind === 'send' && output.message.type === 'error' && output.message.roomId !== undefined) (touched ??= new Set()).add(output.message.roomId);
      const standIn = output.to < 0 ? this.#standInById.get(output.to) : undefined;
      if (output.to < 0) {
        if (standIn === undefined) continue; // closed meanwhile
        if (output.kind === 'send') {
          const m = output.message;
          if (m.type === 'welcome') {
            if (m.resumeToken !== undefined) this.#tokens.set(directoryField(standIn.device), m.resumeToken);
            for (const callId of m.resumed ?? []) out.push(this.#route(standIn, { type: 'callRejoined', callId }));
          } else out.push(this.#route(standIn, m));
        } else if (output.kind === 'close' && output.code === CLOSE_CODES.abusive) {
          this.#routed++;
          out.push({ kind: 'route', instance: standIn.instance, message: { kind: 'close', from: this.instanceId, device: standIn.device, code: output.code, reason: output.reason } });
        }
        continue;
      }
      if (output.kind === 'send' && output.message.type === 'welcome' && output.message.resumeToken !== undefined) {
        const m = output.message;
        const device = { userId: m.userId, deviceId: m.deviceId };
        const field = directoryField(device);
        // Resuming a membership of a room another instance holds: the owner carries it over (`roomResumed` follows).
        const room = this.#resumingRoom.get(output.to);
        this.#resumingRoom.delete(output.to);
        if (room !== undefined && m.resumedRoom === undefined) {
          this.#remoteRooms.set(field, { roomId: room.roomId, owner: room.owner, joined: true, joinRequestId: '' });
          out.push({ ...output, message: { ...m, resumedRoom: room.roomId } });
        } else out.push(output);
        // Admitted here: a stand-in of the same device was replaced by the core (its calls resumed if the token matched).
        const standIn2 = this.#standIns.get(field);
        if (standIn2) {
          this.#standIns.delete(field);
          this.#standInById.delete(standIn2.id);
        }
        this.#local.set(field, output.to);
        this.#localDevice.set(output.to, device);
        this.#tokens.set(field, m.resumeToken!);
        const hash = tokenHash(m.resumeToken!);
        this.#remember(field, hash);
        const resumed = this.#resuming.delete(output.to) || m.resumed !== undefined;
        const held = this.#roomOfLocal(field);
        out.push({ kind: 'register', delta: { op: 'up', ...device, instance: this.instanceId, tokenHash: hash, resumed, ...(held ? { room: held } : {}) } });
        continue;
      }
      out.push(output);
      // A local device joined a room held here: its directory entry names it (where it resumes if it moves).
      if (output.kind === 'send' && output.message.type === 'roomJoined') {
        const device = this.#localDevice.get(output.to);
        if (device !== undefined) out.push(...this.#reregister(directoryField(device), device));
      }
    }
    // A room that emptied here is released, so that the next join may claim it anywhere.
    for (const roomId of touched ?? []) {
      if (this.#owned.has(roomId) && !this.core.hasRoom(roomId)) {
        this.#owned.delete(roomId);
        out.push({ kind: 'release-room', roomId });
      }
    }
    void now;
    return out;
  }
}

function isDeviceRoom(value: unknown): value is DeviceRoom {
  const r = value as Partial<Record<string, unknown>> | null | undefined;
  return typeof r === 'object' && r !== null && typeof r.roomId === 'string' && typeof r.owner === 'string' && INSTANCE_ID_PATTERN.test(r.owner);
}

/** The error told to a device whose chat frame no writer took: nothing was stored. */
/**
 * Whether a client's frame may name `token` (e.g. `"chat`, the start of every chat message type): the substring, or
 * any backslash — a JSON escape can spell any name without the substring (`"\u0063hatRequest"`). A cheap filter in
 * front of the parse; the routing decision is always the parsed type, never the substring.
 */
function mayName(text: string, token: string): boolean {
  return text.includes(token) || text.includes('\\');
}

function chatsUnavailable(message: object, why: string): ServerMessage {
  const m = message as { requestId?: string; chatId?: string };
  const error: ServerMessage = { type: 'error', code: 'chats-unavailable', message: `${why}: nothing was stored, send again later` };
  if (m.requestId !== undefined) error.requestId = m.requestId;
  if (m.chatId !== undefined) error.chatId = m.chatId;
  return error;
}

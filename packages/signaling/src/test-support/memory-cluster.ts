/**
 * An in-memory stand-in for Redis, for `ClusterNode` unit tests: the directory, instance liveness, pub/sub deltas
 * and per-instance channels, with deliveries queued so a test decides their order (forced races). It follows the
 * Redis adapter's semantics: register/unregister are atomic with their delta; unregister only while owning.
 */

import { ClusterNode, directoryField, type ClusterMessage, type ClusterOutput, type DirectoryDelta, type RoomClaim } from '../cluster-node.js';
import type { RoomMediaOutcome, RoomRequest } from '../server-rooms.js';
import { DEFAULT_DH_CONFIG, DEFAULT_SERVER_LIMITS, SignalingServerCore } from '../server.js';
import type { ServerMessage } from '../protocol.js';

type Pending =
  | { to: string; kind: 'delta'; delta: DirectoryDelta }
  | { to: string; kind: 'message'; message: ClusterMessage }
  /** A room claim sent to Redis by `to` (answered when delivered: the order of claims is the test's). */
  | { to: string; kind: 'claim'; claim: RoomClaim }
  /** The sweep's notice that an instance is dead. */
  | { to: string; kind: 'gone'; instance: string };

/** The SFU as these tests see it: every request succeeds at once (a join: no producers yet). */
function fakeMedia(request: RoomRequest): RoomMediaOutcome {
  if (request.op === 'join') return { ok: true, value: { rtpCapabilities: { codecs: [] }, producers: [] } };
  if (request.op === 'leave') return { ok: true, value: [] };
  return { ok: true, value: {} };
}

/** What one local connection of an instance received. */
export interface MemoryConnection {
  messages: ServerMessage[];
  closed?: { code: number; reason: string };
}

export class MemoryCluster {
  readonly nodes = new Map<string, ClusterNode>();
  readonly directory = new Map<string, { instance: string; tokenHash: string }>();
  /** `alive:<instance>`: until when, and the incarnation that beat. */
  readonly alive = new Map<string, { until: number; incarnation: string }>();
  /** Each instance's current process (`<instance>/<boot>`, as the Redis adapter's incarnation). */
  readonly incarnations = new Map<string, string>();
  /**
   * Room claims as the Lua scripts keep them: holder incarnation and generation (from one counter, `roomgen`); a
   * released or swept room has no entry. Each instance's claimed set.
   */
  readonly rooms = new Map<string, { owner: string; gen: number }>();
  roomGen = 0;
  readonly roomsOf = new Map<string, Set<string>>();
  readonly pending: Pending[] = [];
  readonly connections = new Map<string, Map<number, MemoryConnection>>();
  now = 1_000;
  readonly ttlMs: number;
  #nextId = 1;
  #boot = 0;

  constructor(ttlMs = 3_000) {
    this.ttlMs = ttlMs;
  }

  add(instanceId: string, options: { resumeGraceMs?: number; chatInstance?: string; rooms?: boolean } = {}): ClusterNode {
    const core = new SignalingServerCore({
      dhConfig: DEFAULT_DH_CONFIG, ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit }, resumeGraceMs: options.resumeGraceMs ?? 30_000,
      ...(options.rooms ? { rooms: { maxMembers: 20, maxRooms: 100 } } : {}),
    });
    const node = new ClusterNode(core, { instanceId, instanceTtlMs: this.ttlMs, ...(options.chatInstance !== undefined ? { chatInstance: options.chatInstance } : {}) }, this.now);
    // INCARNATION_START: what a previous process under this id left is freed, `gone` told (before it subscribes).
    const was = this.alive.has(instanceId);
    const [removed, freed] = this.#sweep(instanceId);
    this.roomsOf.delete(instanceId);
    this.alive.delete(instanceId);
    if (was || removed > 0 || freed > 0) for (const to of this.nodes.keys()) if (to !== instanceId) this.pending.push({ to, kind: 'gone', instance: instanceId });
    this.incarnations.set(instanceId, `${instanceId}/${++this.#boot}`);
    this.nodes.set(instanceId, node);
    this.connections.set(instanceId, new Map());
    const entries = [...this.directory].map(([field, e]) => {
      const [userId, deviceId] = field.split('\u0000') as [string, string];
      return { op: 'up' as const, userId, deviceId, instance: e.instance, tokenHash: e.tokenHash, resumed: false };
    });
    this.apply(instanceId, node.load(entries, this.now));
    this.apply(instanceId, node.tick(this.now));
    return node;
  }

  /** Opens a local connection on an instance and sends its hello; returns the connection id. */
  connect(instanceId: string, userId: string, deviceId: string, extra: Record<string, unknown> = {}): number {
    const id = this.#nextId++;
    const node = this.nodes.get(instanceId)!;
    this.connections.get(instanceId)!.set(id, { messages: [] });
    this.apply(instanceId, node.open(id, this.now));
    this.send(instanceId, id, { type: 'hello', protocol: 1, userId, deviceId, ...extra });
    return id;
  }

  send(instanceId: string, id: number, message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    this.apply(instanceId, this.nodes.get(instanceId)!.receive(id, text, text.length, this.now));
  }

  disconnect(instanceId: string, id: number): void {
    this.apply(instanceId, this.nodes.get(instanceId)!.close(id, this.now));
  }

  /** The instance dies: no more heartbeats, deliveries to it are lost. */
  kill(instanceId: string): void {
    this.nodes.delete(instanceId);
  }

  received(instanceId: string, id: number): ServerMessage[] {
    return this.connections.get(instanceId)!.get(id)!.messages;
  }

  /** Messages of a type a connection got. */
  got<T extends ServerMessage['type']>(instanceId: string, id: number, type: T): Extract<ServerMessage, { type: T }>[] {
    return this.received(instanceId, id).filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }

  /** Delivers everything queued (and what that queues), in order. */
  run(): void {
    for (let guard = 0; this.pending.length > 0; guard++) {
      if (guard > 100_000) throw new Error('memory cluster: runaway');
      this.deliver(this.pending.shift()!);
    }
  }

  deliver(p: Pending): void {
    const node = this.nodes.get(p.to);
    if (!node) {
      // Nobody listens on a dead instance's channel: the sender learns it (Redis: PUBLISH returns 0).
      const from = p.kind === 'message' ? this.nodes.get(p.message.from) : undefined;
      if (from && p.kind === 'message') this.apply(p.message.from, from.unrouted(p.to, p.message));
      return;
    }
    switch (p.kind) {
      case 'delta':
        return this.apply(p.to, node.delta(p.delta, this.now));
      case 'message':
        return this.apply(p.to, node.message(p.message, this.now));
      case 'gone':
        return this.apply(p.to, node.instanceGone(p.instance));
      case 'claim': {
        const holder = this.#claim(p.to, p.claim.roomId);
        return this.apply(p.to, node.roomClaimed(p.claim, instanceOf(holder.owner), this.now, holder.gen));
      }
    }
  }

  /** The holder of a room, by instance id (undefined: free). */
  holder(roomId: string): { owner: string; gen: number } | undefined {
    const room = this.rooms.get(roomId);
    return room && { owner: instanceOf(room.owner), gen: room.gen };
  }

  /**
   * ROOM_CLAIM: the holder stays while its incarnation is the one alive under its id; otherwise this instance's
   * incarnation takes the room, with a new generation.
   */
  #claim(instance: string, roomId: string): { owner: string; gen: number } {
    const me = this.incarnations.get(instance)!;
    const room = this.rooms.get(roomId);
    if (room !== undefined && room.owner !== me) {
      const alive = this.alive.get(instanceOf(room.owner));
      if (alive !== undefined && alive.until > this.now && alive.incarnation === room.owner) return room;
    }
    if (room?.owner === me) return room;
    const claimed = { owner: me, gen: ++this.roomGen };
    this.rooms.set(roomId, claimed);
    this.#roomsOf(instance).add(roomId);
    return claimed;
  }

  /** The sweep of a dead instance (or a previous process under a restarting id): its devices and room claims. */
  #sweep(dead: string): [number, number] {
    let removed = 0;
    let freed = 0;
    for (const [field, e] of [...this.directory]) {
      if (e.instance !== dead) continue;
      this.directory.delete(field);
      const [userId, deviceId] = field.split('\u0000') as [string, string];
      this.#publish({ op: 'down', userId, deviceId, instance: dead });
      removed++;
    }
    for (const roomId of this.roomsOf.get(dead) ?? []) {
      const room = this.rooms.get(roomId);
      if (room !== undefined && instanceOf(room.owner) === dead) {
        this.rooms.delete(roomId);
        freed++;
      }
    }
    return [removed, freed];
  }

  #roomsOf(instance: string): Set<string> {
    let set = this.roomsOf.get(instance);
    if (!set) this.roomsOf.set(instance, (set = new Set()));
    return set;
  }

  /** Advances time for every live instance (heartbeats, expiry sweeps, the cores' deadlines). */
  advance(ms: number): void {
    this.now += ms;
    for (const [id, node] of this.nodes) this.apply(id, node.tick(this.now));
    this.run();
  }

  apply(instanceId: string, outputs: ClusterOutput[]): void {
    for (const output of outputs) {
      switch (output.kind) {
        case 'send':
          this.connections.get(instanceId)?.get(output.to)?.messages.push(output.message);
          break;
        case 'close': {
          const c = this.connections.get(instanceId)?.get(output.to);
          if (c && !c.closed) {
            c.closed = { code: output.code, reason: output.reason };
            this.apply(instanceId, this.nodes.get(instanceId)?.close(output.to, this.now) ?? []);
          }
          break;
        }
        case 'route':
          this.pending.push({ to: output.instance, kind: 'message', message: output.message });
          break;
        case 'register': {
          const field = directoryField(output.delta);
          this.directory.set(field, { instance: output.delta.instance, tokenHash: output.delta.tokenHash });
          this.#publish(output.delta);
          break;
        }
        case 'unregister': {
          const field = directoryField(output.device);
          if (this.directory.get(field)?.instance !== instanceId) break;
          this.directory.delete(field);
          this.#publish({ op: 'down', ...output.device, instance: instanceId });
          break;
        }
        case 'claim-room':
          this.pending.push({ to: instanceId, kind: 'claim', claim: output.claim });
          break;
        case 'release-room': {
          if (this.rooms.get(output.roomId)?.owner !== this.incarnations.get(instanceId)) break;
          this.rooms.delete(output.roomId);
          this.roomsOf.get(instanceId)?.delete(output.roomId);
          break;
        }
        case 'room-media':
          this.apply(instanceId, this.nodes.get(instanceId)?.roomMediaDone(output.to, output.request, fakeMedia(output.request), this.now) ?? []);
          break;
        case 'heartbeat': {
          const me = this.incarnations.get(instanceId)!;
          this.alive.set(instanceId, { until: this.now + this.ttlMs, incarnation: me });
          const mine = this.#roomsOf(instanceId);
          const lost = [...mine].filter((roomId) => this.rooms.get(roomId)?.owner !== me);
          for (const roomId of lost) mine.delete(roomId);
          if (lost.length > 0) this.apply(instanceId, this.nodes.get(instanceId)?.roomsLost(lost, this.now) ?? []);
          for (const [dead, { until }] of [...this.alive]) {
            if (until > this.now) continue;
            this.alive.delete(dead);
            this.#sweep(dead);
            for (const to of this.nodes.keys()) this.pending.push({ to, kind: 'gone', instance: dead });
          }
          break;
        }
        default:
          break;
      }
    }
  }

  #publish(delta: DirectoryDelta): void {
    for (const to of this.nodes.keys()) this.pending.push({ to, kind: 'delta', delta });
  }
}

/** The instance id of an incarnation (`<instance>/<boot>`). */
function instanceOf(incarnation: string): string {
  return incarnation.split('/')[0]!;
}

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
  readonly alive = new Map<string, number>();
  /** Room claims as the Lua scripts keep them: holder (absent: free) and generation; each instance's claimed set. */
  readonly rooms = new Map<string, { owner?: string; gen: number }>();
  readonly roomsOf = new Map<string, Set<string>>();
  readonly pending: Pending[] = [];
  readonly connections = new Map<string, Map<number, MemoryConnection>>();
  now = 1_000;
  readonly ttlMs: number;
  #nextId = 1;

  constructor(ttlMs = 3_000) {
    this.ttlMs = ttlMs;
  }

  add(instanceId: string, options: { resumeGraceMs?: number; chatInstance?: string; rooms?: boolean } = {}): ClusterNode {
    const core = new SignalingServerCore({
      dhConfig: DEFAULT_DH_CONFIG, ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit }, resumeGraceMs: options.resumeGraceMs ?? 30_000,
      ...(options.rooms ? { rooms: { maxMembers: 20, maxRooms: 100 } } : {}),
    });
    const node = new ClusterNode(core, { instanceId, instanceTtlMs: this.ttlMs, ...(options.chatInstance !== undefined ? { chatInstance: options.chatInstance } : {}) }, this.now);
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
      case 'claim':
        return this.apply(p.to, node.roomClaimed(p.claim, this.#claim(p.to, p.claim.roomId), this.now));
    }
  }

  /** ROOM_CLAIM: the holder stays while alive; otherwise this instance takes the room, one generation on. */
  #claim(instance: string, roomId: string): string {
    const room = this.rooms.get(roomId) ?? { gen: 0 };
    this.rooms.set(roomId, room);
    if (room.owner !== undefined && room.owner !== instance && (this.alive.get(room.owner) ?? 0) > this.now) return room.owner;
    if (room.owner !== instance) {
      room.owner = instance;
      room.gen++;
      this.#roomsOf(instance).add(roomId);
    }
    return instance;
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
          const room = this.rooms.get(output.roomId);
          if (room?.owner !== instanceId) break;
          delete room.owner;
          this.roomsOf.get(instanceId)?.delete(output.roomId);
          break;
        }
        case 'room-media':
          this.apply(instanceId, this.nodes.get(instanceId)?.roomMediaDone(output.to, output.request, fakeMedia(output.request), this.now) ?? []);
          break;
        case 'heartbeat': {
          this.alive.set(instanceId, this.now + this.ttlMs);
          const mine = this.#roomsOf(instanceId);
          const lost = [...mine].filter((roomId) => this.rooms.get(roomId)?.owner !== instanceId);
          for (const roomId of lost) mine.delete(roomId);
          if (lost.length > 0) this.apply(instanceId, this.nodes.get(instanceId)?.roomsLost(lost, this.now) ?? []);
          for (const [dead, until] of [...this.alive]) {
            if (until > this.now) continue;
            this.alive.delete(dead);
            for (const [field, e] of [...this.directory]) {
              if (e.instance !== dead) continue;
              this.directory.delete(field);
              const [userId, deviceId] = field.split('\u0000') as [string, string];
              this.#publish({ op: 'down', userId, deviceId, instance: dead });
            }
            for (const roomId of this.roomsOf.get(dead) ?? []) {
              const room = this.rooms.get(roomId);
              if (room?.owner === dead) delete room.owner;
            }
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

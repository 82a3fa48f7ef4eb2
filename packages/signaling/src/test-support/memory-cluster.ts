/**
 * An in-memory stand-in for Redis, for `ClusterNode` unit tests: the directory, instance liveness, pub/sub deltas
 * and per-instance channels, with deliveries queued so a test decides their order (forced races). It follows the
 * Redis adapter's semantics: register/unregister are atomic with their delta; unregister only while owning.
 */

import { ClusterNode, directoryField, type ClusterMessage, type ClusterOutput, type DirectoryDelta } from '../cluster-node.js';
import { DEFAULT_DH_CONFIG, DEFAULT_SERVER_LIMITS, SignalingServerCore } from '../server.js';
import type { ServerMessage } from '../protocol.js';

type Pending = { to: string; kind: 'delta'; delta: DirectoryDelta } | { to: string; kind: 'message'; message: ClusterMessage };

/** What one local connection of an instance received. */
export interface MemoryConnection {
  messages: ServerMessage[];
  closed?: { code: number; reason: string };
}

export class MemoryCluster {
  readonly nodes = new Map<string, ClusterNode>();
  readonly directory = new Map<string, { instance: string; tokenHash: string }>();
  readonly alive = new Map<string, number>();
  readonly pending: Pending[] = [];
  readonly connections = new Map<string, Map<number, MemoryConnection>>();
  now = 1_000;
  readonly ttlMs: number;
  #nextId = 1;

  constructor(ttlMs = 3_000) {
    this.ttlMs = ttlMs;
  }

  add(instanceId: string, options: { resumeGraceMs?: number; chatInstance?: string } = {}): ClusterNode {
    const core = new SignalingServerCore({ dhConfig: DEFAULT_DH_CONFIG, ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit }, resumeGraceMs: options.resumeGraceMs ?? 30_000 });
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
    this.apply(p.to, p.kind === 'delta' ? node.delta(p.delta, this.now) : node.message(p.message, this.now));
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
        case 'heartbeat':
          this.alive.set(instanceId, this.now + this.ttlMs);
          for (const [dead, until] of [...this.alive]) {
            if (until > this.now) continue;
            this.alive.delete(dead);
            for (const [field, e] of [...this.directory]) {
              if (e.instance !== dead) continue;
              this.directory.delete(field);
              const [userId, deviceId] = field.split('\u0000') as [string, string];
              this.#publish({ op: 'down', userId, deviceId, instance: dead });
            }
          }
          break;
        default:
          break;
      }
    }
  }

  #publish(delta: DirectoryDelta): void {
    for (const to of this.nodes.keys()) this.pending.push({ to, kind: 'delta', delta });
  }
}

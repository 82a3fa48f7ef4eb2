/**
 * Several `Sfu` nodes serving rooms together, joined pairwise by peer links: each member sits on one node (picked by
 * `place`), and a member that consumes a producer of another node gets it through a pipe between the nodes
 * (`Sfu.pipeToPeer`: PipeTransports over UDP, the path used between processes and hosts), never `pipeToRouter`.
 * It offers the same member API as one `Sfu`, so the signaling server drives it unchanged.
 *
 * A node is an `Sfu` of this process or a `RemoteSfu` (an `Sfu` in another process, see sfu-remote.ts). The group
 * joins every pair of local nodes itself; a remote node must already be joined (`addPeer`, e.g. over `ipcPeerLink`)
 * to every other node under the names used here. Placement is a static function for now.
 */

import type { types as ms } from 'mediasoup';
import { createPeerLinkPair } from './peer.js';
import { SfuError } from './errors.js';
import { Sfu, type ConsumerInfo, type ProducerInfo, type TransportInfo } from './sfu.js';
import type { SfuNode } from './sfu-remote.js';

/** Picks the node of a member (by name). */
export type SfuPlacement = (roomId: string, memberId: number) => string;

/** A group of SFU nodes in this process: see the module comment. */
export class SfuGroup {
  readonly #nodes: Map<string, SfuNode>;
  readonly #place: SfuPlacement;
  readonly #homes = new Map<string, string>();

  /** Joins every pair of local `nodes` with a peer link; `place` picks each member's node. */
  constructor(nodes: Record<string, SfuNode>, place: SfuPlacement) {
    this.#nodes = new Map(Object.entries(nodes));
    if (this.#nodes.size === 0) throw new RangeError('an SfuGroup needs at least one node');
    this.#place = place;
    const names = [...this.#nodes.keys()];
    for (const [i, a] of names.entries()) {
      for (const b of names.slice(i + 1)) {
        const [nodeA, nodeB] = [this.#nodes.get(a), this.#nodes.get(b)];
        if (!(nodeA instanceof Sfu) || !(nodeB instanceof Sfu)) continue;
        const [ab, ba] = createPeerLinkPair();
        nodeA.addPeer(b, ab);
        nodeB.addPeer(a, ba);
      }
    }
  }

  /** A node by name (tests, diagnostics). */
  node(name: string): SfuNode {
    const node = this.#nodes.get(name);
    if (!node) throw new SfuError('unknown-peer', 'no such node in the group');
    return node;
  }

  /** The node name of a member (undefined when it is not in the room). */
  homeOf(roomId: string, memberId: number): string | undefined {
    return this.#homes.get(key(roomId, memberId));
  }

  routerCapabilities(roomId: string): Promise<ms.RtpCapabilities> {
    // Every node offers the same codecs, so the same capabilities.
    return this.#nodes.values().next().value!.routerCapabilities(roomId);
  }

  async addMember(roomId: string, memberId: number): Promise<void> {
    const name = this.#homes.get(key(roomId, memberId)) ?? this.#place(roomId, memberId);
    const node = this.node(name);
    await node.addMember(roomId, memberId);
    this.#homes.set(key(roomId, memberId), name);
  }

  removeMember(roomId: string, memberId: number): string[] {
    const name = this.#homes.get(key(roomId, memberId));
    if (name === undefined) return [];
    this.#homes.delete(key(roomId, memberId));
    return this.node(name).removeMember(roomId, memberId);
  }

  createTransport(roomId: string, memberId: number, direction: 'send' | 'recv'): Promise<TransportInfo> {
    return this.#home(roomId, memberId).createTransport(roomId, memberId, direction);
  }

  connectTransport(roomId: string, memberId: number, transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    return this.#home(roomId, memberId).connectTransport(roomId, memberId, transportId, dtlsParameters);
  }

  produce(roomId: string, memberId: number, transportId: string, kind: ms.MediaKind, rtpParameters: ms.RtpParameters, source: string): Promise<ProducerInfo> {
    return this.#home(roomId, memberId).produce(roomId, memberId, transportId, kind, rtpParameters, source);
  }

  closeProducer(roomId: string, memberId: number, producerId: string): void {
    this.#home(roomId, memberId).closeProducer(roomId, memberId, producerId);
  }

  pauseProducer(roomId: string, memberId: number, producerId: string, paused: boolean): Promise<ProducerInfo> {
    return this.#home(roomId, memberId).pauseProducer(roomId, memberId, producerId, paused);
  }

  /** Consumes on the member's node, piping the producer there first when it lives on another node. */
  async consume(roomId: string, memberId: number, transportId: string, producerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ConsumerInfo> {
    const home = this.#home(roomId, memberId);
    const homeName = this.#homes.get(key(roomId, memberId))!;
    // A remote node lists only its own members' producers: pipeToPeer is idempotent, so asking again costs one call.
    if (!(home instanceof Sfu) || !home.producers(roomId).some((p) => p.producerId === producerId)) {
      const origin = [...this.#nodes.entries()].find(([name, node]) => name !== homeName && node.producers(roomId).some((p) => p.producerId === producerId));
      if (origin) await origin[1].pipeToPeer(roomId, producerId, homeName);
    }
    return home.consume(roomId, memberId, transportId, producerId, rtpCapabilities);
  }

  resumeConsumer(roomId: string, memberId: number, consumerId: string): Promise<void> {
    return this.#home(roomId, memberId).resumeConsumer(roomId, memberId, consumerId);
  }

  requestKeyFrame(roomId: string, memberId: number, consumerId: string): Promise<void> {
    return this.#home(roomId, memberId).requestKeyFrame(roomId, memberId, consumerId);
  }

  /** The room's producers over all nodes, each once. */
  producers(roomId: string): ProducerInfo[] {
    const seen = new Map<string, ProducerInfo>();
    for (const node of this.#nodes.values()) for (const p of node.producers(roomId)) if (!seen.has(p.producerId)) seen.set(p.producerId, p);
    return [...seen.values()];
  }

  memberCount(roomId: string): number {
    let count = 0;
    for (const node of this.#nodes.values()) count += node.memberCount(roomId);
    return count;
  }

  closeRoom(roomId: string): void {
    for (const node of this.#nodes.values()) node.closeRoom(roomId);
    for (const k of [...this.#homes.keys()]) if (k.startsWith(`${roomId}\u0000`)) this.#homes.delete(k);
  }

  /** Closes every node. */
  close(): void {
    for (const node of this.#nodes.values()) node.close();
  }

  #home(roomId: string, memberId: number): SfuNode {
    const name = this.#homes.get(key(roomId, memberId));
    if (name === undefined) throw new SfuError('not-in-room', 'this member is not in the room');
    return this.node(name);
  }
}

const key = (roomId: string, memberId: number) => `${roomId}\u0000${memberId}`;

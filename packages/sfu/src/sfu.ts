/**
 * The selective forwarding unit: mediasoup workers (one per core by default), one router per room on the least
 * loaded worker, and — when a room outgrows one router (`maxMembersPerRouter`) — more routers for it on other
 * workers, its producers piped between them with `pipeToRouter`. Members send on one WebRTC transport and receive on
 * another; the SFU forwards RTP whose frames are sealed end to end and never holds a key.
 *
 * Everything a member asks is checked against what it owns: a member can connect, produce on and consume through its
 * own transports only, pause its own producers only, consume producers of its own room only, and resume or request key
 * frames on its own consumers.
 * Failures are `SfuError`s with a code (`unknown-room`, `unknown-transport`, `unknown-producer`, …).
 */

import os from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { SfuError } from './errors.js';
import { ROOM_MEDIA_CODECS } from './codecs.js';
import { PeerChannel, type SfuPeerLink, type SfuPeerNotice, type SfuPeerReply, type SfuPeerRequest } from './peer.js';

/** Options of `Sfu.start`. */
export interface SfuOptions {
  /** mediasoup workers (processes). Default: one per core. */
  workers?: number;
  /** Address the WebRTC transports listen on. Default 127.0.0.1. */
  listenIp?: string;
  /** Address announced in ICE candidates (behind NAT). Default: `listenIp`. */
  announcedIp?: string;
  /** UDP/TCP port range of the workers. Default 40000–49999. */
  rtcMinPort?: number;
  rtcMaxPort?: number;
  /** A room gets another router (on another worker) when its routers all hold this many members. Default 50. */
  maxMembersPerRouter?: number;
  /** The worker binary (default: mediasoup's own location, where scripts/setup-sfu.sh installs it). */
  workerBin?: string;
  /** mediasoup's log level (default 'error'). */
  logLevel?: ms.WorkerLogLevel;
  /** Called when a worker dies (mediasoup restarts nothing: rooms on it end). */
  onWorkerDied?: (index: number, error: Error) => void;
  /** Encrypt the pipes this SFU opens to peer SFUs with SRTP (between hosts). Default false (loopback). */
  pipeSrtp?: boolean;
  /** A pipe request a peer SFU has not answered after this long fails with `peer-timeout`. Default 10 000 ms. */
  peerRequestTimeoutMs?: number;
  /** Called when a peer SFU pipes a producer into a room here (`added`) and when that producer ends (`closed`). */
  onPeerProducer?: (roomId: string, producer: ProducerInfo, event: 'added' | 'closed') => void;
}

/** TAP handle: stops the tap when called; `requestKeyFrame` asks the tapped producer for a key frame. */
export interface SfuTap {
  (): void;
  requestKeyFrame(): Promise<void>;
}

/** INJECT handle: a server-side producer fed packet by packet (tests, diagnostics). */
export interface SfuInjection {
  producer: ProducerInfo;
  /** Sends one RTP packet as if the member had sent it. */
  send(rtp: Buffer): void;
  /** Receives the RTCP the SFU sends to this producer (receiver reports, key frame requests). */
  onRtcp(handler: (rtcp: Buffer) => void): void;
  close(): void;
}

/** What a client needs to create its side of a transport (mediasoup-client's `createSendTransport`/`createRecvTransport`). */
export interface TransportInfo {
  transportId: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

/** A consumer made for a member: what its `recvTransport.consume()` needs. */
export interface ConsumerInfo {
  consumerId: string;
  producerId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
}

/** A producer of a room as other members learn of it. */
export interface ProducerInfo {
  producerId: string;
  memberId: number;
  kind: ms.MediaKind;
  /** The sender's name for the stream ('audio', 'video', 'screen'): what its frames are bound to. */
  source: string;
  /** The sender paused it (microphone or camera off): the SFU forwards none of its packets. */
  paused: boolean;
}

/** Counters of one worker. */
export interface SfuWorkerStats {
  pid: number;
  routers: number;
  /** CPU time used so far (user + system, ms). */
  cpuMs: number;
}

type Direction = 'send' | 'recv';

/** A pipe this SFU opened to a peer for a room: its producers flow out on it. */
interface OutPipe {
  pipeId: string;
  transport: ms.PipeTransport;
  router: RoomRouter;
  producers: Map<string, Promise<void>>;
}

/** A pipe a peer opened to this SFU for a room: the peer's producers flow in on it. */
interface InPipe {
  pipeId: string;
  transport: ms.PipeTransport;
  room: RoomState;
  router: RoomRouter;
  producers: Map<string, Promise<ms.Producer>>;
}

interface PeerState {
  peerId: string;
  channel: PeerChannel;
  /** By room id. */
  out: Map<string, Promise<OutPipe>>;
  /** By room id. */
  in: Map<string, InPipe>;
}

interface MemberState {
  memberId: number;
  router: RoomRouter;
  transports: Map<string, { transport: ms.WebRtcTransport; direction: Direction }>;
  producers: Map<string, ms.Producer>;
  consumers: Map<string, ms.Consumer>;
}

interface RoomRouter {
  router: ms.Router;
  worker: WorkerSlot;
  members: number;
  /** Producers of other routers of the room piped (or being piped) into this one. */
  piped: Map<string, Promise<unknown>>;
}

interface WorkerSlot {
  index: number;
  worker: ms.Worker;
  routers: number;
}

interface RoomState {
  id: string;
  routers: RoomRouter[];
  members: Map<number, MemberState>;
  producers: Map<string, { producer: ms.Producer; memberId: number; source: string; router: RoomRouter; peerId?: string }>;
}

/** The SFU: start it once per server process; `close()` stops its workers. */
export class Sfu {
  readonly #options: Required<Omit<SfuOptions, 'announcedIp' | 'workerBin' | 'onWorkerDied' | 'onPeerProducer'>> & Pick<SfuOptions, 'announcedIp' | 'onWorkerDied' | 'onPeerProducer'>;
  readonly #workers: WorkerSlot[];
  readonly #rooms = new Map<string, RoomState>();
  /** Rooms whose first router is being created: concurrent joins wait for the same one. */
  readonly #creating = new Map<string, Promise<RoomState>>();
  readonly #peers = new Map<string, PeerState>();
  #closed = false;

  private constructor(options: SfuOptions, workers: WorkerSlot[]) {
    this.#options = {
      workers: workers.length,
      listenIp: options.listenIp ?? '127.0.0.1',
      rtcMinPort: options.rtcMinPort ?? 40000,
      rtcMaxPort: options.rtcMaxPort ?? 49999,
      maxMembersPerRouter: options.maxMembersPerRouter ?? 50,
      logLevel: options.logLevel ?? 'error',
      pipeSrtp: options.pipeSrtp ?? false,
      peerRequestTimeoutMs: options.peerRequestTimeoutMs ?? 10_000,
      ...(options.onPeerProducer ? { onPeerProducer: options.onPeerProducer } : {}),
      ...(options.announcedIp !== undefined ? { announcedIp: options.announcedIp } : {}),
      ...(options.onWorkerDied ? { onWorkerDied: options.onWorkerDied } : {}),
    };
    this.#workers = workers;
  }

  /** Starts the workers. Throws `SfuError{worker-unavailable}` when the worker binary is missing or fails to start. */
  static async start(options: SfuOptions = {}): Promise<Sfu> {
    const count = options.workers ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    if (!Number.isInteger(count) || count < 1 || count > 256) throw new RangeError(`workers must be 1..256, got ${count}`);
    if (options.workerBin !== undefined) setWorkerBin(options.workerBin);
    const slots: WorkerSlot[] = [];
    try {
      for (let index = 0; index < count; index++) {
        const worker = await mediasoup.createWorker({
          logLevel: options.logLevel ?? 'error',
          rtcMinPort: options.rtcMinPort ?? 40000,
          rtcMaxPort: options.rtcMaxPort ?? 49999,
        });
        slots.push({ index, worker, routers: 0 });
      }
    } catch (error) {
      for (const slot of slots) slot.worker.close();
      throw new SfuError('worker-unavailable', `mediasoup-worker did not start (${(error as Error).message}); run bash scripts/setup.sh (it builds the worker)`);
    }
    const sfu = new Sfu(options, slots);
    for (const slot of slots) {
      slot.worker.on('died', (error: Error) => {
        for (const room of [...sfu.#rooms.values()]) if (room.routers.some((r) => r.worker === slot)) sfu.closeRoom(room.id);
        options.onWorkerDied?.(slot.index, error);
      });
    }
    return sfu;
  }

  /** The router's RTP capabilities of a room (created on first use): what `device.load()` needs. */
  async routerCapabilities(roomId: string): Promise<ms.RtpCapabilities> {
    return (await this.#room(roomId)).routers[0]!.router.rtpCapabilities;
  }

  /** Adds a member to a room (creating the room), on the room's least loaded router. */
  async addMember(roomId: string, memberId: number): Promise<void> {
    const room = await this.#room(roomId);
    if (room.members.has(memberId)) return;
    let home = room.routers.reduce((a, b) => (b.members < a.members ? b : a));
    if (home.members >= this.#options.maxMembersPerRouter) home = await this.#addRouter(room);
    home.members++;
    room.members.set(memberId, { memberId, router: home, transports: new Map(), producers: new Map(), consumers: new Map() });
  }

  /** Removes a member: closes its transports (and so its producers and consumers). Returns the producers that closed. */
  removeMember(roomId: string, memberId: number): string[] {
    const room = this.#rooms.get(roomId);
    const member = room?.members.get(memberId);
    if (!room || !member) return [];
    const closed = [...member.producers.keys()];
    for (const id of closed) room.producers.delete(id);
    for (const { transport } of member.transports.values()) transport.close();
    member.router.members--;
    room.members.delete(memberId);
    return closed;
  }

  /** Creates a WebRTC transport of `direction` for a member. */
  async createTransport(roomId: string, memberId: number, direction: Direction): Promise<TransportInfo> {
    const member = this.#member(roomId, memberId);
    if ([...member.transports.values()].filter((t) => t.direction === direction).length >= 2) {
      throw new SfuError('too-many-transports', `a member has at most 2 ${direction} transports`);
    }
    const listenIp = { ip: this.#options.listenIp, ...(this.#options.announcedIp ? { announcedIp: this.#options.announcedIp } : {}) };
    const transport = await member.router.router.createWebRtcTransport({
      listenIps: [listenIp], enableUdp: true, enableTcp: true, preferUdp: true, initialAvailableOutgoingBitrate: 1_000_000,
    });
    member.transports.set(transport.id, { transport, direction });
    return { transportId: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
  }

  /** Completes a transport's DTLS with the client's parameters. */
  async connectTransport(roomId: string, memberId: number, transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    const { transport } = this.#transport(roomId, memberId, transportId);
    await wrap(transport.connect({ dtlsParameters }), 'bad-parameters');
  }

  /** A member starts sending a stream. Returns the producer as the other members learn of it. */
  async produce(roomId: string, memberId: number, transportId: string, kind: ms.MediaKind, rtpParameters: ms.RtpParameters, source: string): Promise<ProducerInfo> {
    const room = this.#rooms.get(roomId)!;
    const { transport, direction } = this.#transport(roomId, memberId, transportId);
    if (direction !== 'send') throw new SfuError('wrong-direction', 'produce on a send transport');
    const member = room.members.get(memberId)!;
    if (member.producers.size >= 4) throw new SfuError('too-many-producers', 'a member has at most 4 producers');
    const producer = await wrap(transport.produce({ kind, rtpParameters, appData: { memberId, source } }), 'bad-parameters');
    member.producers.set(producer.id, producer);
    room.producers.set(producer.id, { producer, memberId, source, router: member.router });
    producer.observer.once('close', () => {
      member.producers.delete(producer.id);
      room.producers.delete(producer.id);
    });
    return { producerId: producer.id, memberId, kind, source, paused: producer.paused };
  }

  /**
   * A member pauses or resumes one of its streams (microphone or camera off/on): mediasoup stops forwarding its
   * packets, and every consumer of it — on other routers too, through their pipes — is paused with it.
   */
  async pauseProducer(roomId: string, memberId: number, producerId: string, paused: boolean): Promise<ProducerInfo> {
    const member = this.#member(roomId, memberId);
    const producer = member.producers.get(producerId);
    if (!producer) throw new SfuError('unknown-producer', 'no such producer of this member');
    if (paused) await producer.pause();
    else await producer.resume();
    const source = String((producer.appData as { source?: unknown }).source);
    return { producerId, memberId, kind: producer.kind, source, paused: producer.paused };
  }

  /** A member stops sending a stream. */
  closeProducer(roomId: string, memberId: number, producerId: string): void {
    const member = this.#member(roomId, memberId);
    const producer = member.producers.get(producerId);
    if (!producer) throw new SfuError('unknown-producer', 'no such producer of this member');
    producer.close();
  }

  /**
   * A member receives another member's producer on its receive transport: the consumer starts paused (resume it once
   * the client's consumer exists). Pipes the producer into the member's router first when it lives on another one.
   */
  async consume(roomId: string, memberId: number, transportId: string, producerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ConsumerInfo> {
    const room = this.#rooms.get(roomId);
    const { transport, direction } = this.#transport(roomId, memberId, transportId);
    if (direction !== 'recv') throw new SfuError('wrong-direction', 'consume on a receive transport');
    const member = room!.members.get(memberId)!;
    const source = room!.producers.get(producerId);
    if (!source) throw new SfuError('unknown-producer', 'no such producer in this room');
    if (source.memberId === memberId) throw new SfuError('own-producer', 'a member does not consume itself');
    if (member.consumers.size >= 64) throw new SfuError('too-many-consumers', 'a member has at most 64 consumers');
    const router = member.router;
    await this.#onRouter(source.router, producerId, router);
    if (!router.router.canConsume({ producerId, rtpCapabilities })) throw new SfuError('cannot-consume', 'the receiver cannot decode this producer\'s codec');
    const consumer = await wrap(transport.consume({ producerId, rtpCapabilities, paused: true }), 'bad-parameters');
    member.consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => member.consumers.delete(consumer.id));
    return { consumerId: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters };
  }

  /** Resumes a paused consumer of a member. */
  async resumeConsumer(roomId: string, memberId: number, consumerId: string): Promise<void> {
    await this.#consumer(roomId, memberId, consumerId).resume();
  }

  /** Asks the producer behind a member's consumer for a key frame (what a receiver does after a rekey or a loss). */
  async requestKeyFrame(roomId: string, memberId: number, consumerId: string): Promise<void> {
    await this.#consumer(roomId, memberId, consumerId).requestKeyFrame();
  }

  /** Whether a member's consumer is paused (by its member) and whether its producer is (by the sender). Diagnostics. */
  consumerState(roomId: string, memberId: number, consumerId: string): { paused: boolean; producerPaused: boolean } {
    const consumer = this.#consumer(roomId, memberId, consumerId);
    return { paused: consumer.paused, producerPaused: consumer.producerPaused };
  }

  /** The producers of a room, for a member that just joined. */
  producers(roomId: string): ProducerInfo[] {
    const room = this.#rooms.get(roomId);
    if (!room) return [];
    return [...room.producers.entries()].map(([producerId, p]) => ({ producerId, memberId: p.memberId, kind: p.producer.kind, source: p.source, paused: p.producer.paused }));
  }

  /**
   * TAP (tests, diagnostics): a DirectTransport consumer of a producer on the server, handing every RTP packet the
   * SFU forwards to `onPacket`. What it sees is exactly what the SFU holds: sealed frames.
   */
  async tap(roomId: string, producerId: string, onPacket: (rtp: Buffer) => void): Promise<SfuTap> {
    const room = this.#rooms.get(roomId);
    const source = room?.producers.get(producerId);
    if (!source) throw new SfuError('unknown-producer', 'no such producer in this room');
    const router = source.router.router;
    const direct = await router.createDirectTransport();
    const consumer = await direct.consume({ producerId, rtpCapabilities: router.rtpCapabilities });
    consumer.on('rtp', onPacket);
    return Object.assign(() => direct.close(), { requestKeyFrame: () => consumer.requestKeyFrame() });
  }

  /**
   * INJECT (tests, diagnostics): a producer of a member fed from the server (a DirectTransport), not from a browser.
   * Other members consume it like any producer; its RTCP (key frame requests) comes back through `onRtcp`.
   */
  async inject(roomId: string, memberId: number, kind: ms.MediaKind, rtpParameters: ms.RtpParameters, source: string): Promise<SfuInjection> {
    const room = this.#rooms.get(roomId);
    const member = this.#member(roomId, memberId);
    if (member.producers.size >= 4) throw new SfuError('too-many-producers', 'a member has at most 4 producers');
    const direct = await member.router.router.createDirectTransport();
    const producer = await wrap(direct.produce({ kind, rtpParameters, appData: { memberId, source } }), 'bad-parameters').catch((error: unknown) => {
      direct.close();
      throw error;
    });
    member.producers.set(producer.id, producer);
    room!.producers.set(producer.id, { producer, memberId, source, router: member.router });
    producer.observer.once('close', () => {
      member.producers.delete(producer.id);
      room!.producers.delete(producer.id);
      direct.close();
    });
    return {
      producer: { producerId: producer.id, memberId, kind, source, paused: producer.paused },
      send: (rtp) => producer.send(rtp),
      onRtcp: (handler) => { direct.on('rtcp', handler); },
      close: () => producer.close(),
    };
  }

  // ---- peer SFUs (other processes or hosts) ----------------------------------------------------------------------

  /**
   * Joins a peer SFU (another process or host) through `link`: from now on either side may pipe its producers to the
   * other. `peerId` names the peer here; the peer names this SFU with its own id. Replaces an earlier link of that id.
   */
  addPeer(peerId: string, link: SfuPeerLink): void {
    if (this.#closed) throw new SfuError('closed', 'the SFU is closed');
    this.removePeer(peerId);
    const peer: PeerState = {
      peerId,
      out: new Map(),
      in: new Map(),
      channel: new PeerChannel(link, {
        onRequest: (request) => this.#onPeerRequest(peer, request),
        onNotice: (notice) => this.#onPeerNotice(peer, notice),
      }, { requestTimeoutMs: this.#options.peerRequestTimeoutMs }),
    };
    this.#peers.set(peerId, peer);
  }

  /** Leaves a peer: closes every pipe to and from it (its producers here close with them). */
  removePeer(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    peer.channel.close();
    for (const pipe of peer.out.values()) void pipe.then((p) => p.transport.close(), () => undefined);
    for (const pipe of peer.in.values()) pipe.transport.close();
  }

  /**
   * Pipes a producer of a room on this SFU to the same room on a peer SFU, where that peer's members can then consume
   * it (the peer learns of it through its `onPeerProducer`). Pauses, resumes and the producer's end follow it; key
   * frame requests of the peer's consumers come back to the producer. Idempotent per (producer, peer).
   * Throws `SfuError` `unknown-room`, `unknown-producer`, `unknown-peer`, or the peer's refusal.
   */
  async pipeToPeer(roomId: string, producerId: string, peerId: string): Promise<void> {
    const room = this.#rooms.get(roomId);
    if (!room) throw new SfuError('unknown-room', 'no such room');
    const source = room.producers.get(producerId);
    if (!source) throw new SfuError('unknown-producer', 'no such producer in this room');
    if (source.peerId === peerId) throw new SfuError('unknown-producer', 'this producer comes from that peer');
    const peer = this.#peers.get(peerId);
    if (!peer) throw new SfuError('unknown-peer', 'no such peer SFU');
    const pipe = await this.#outPipe(peer, room);
    let piping = pipe.producers.get(producerId);
    if (!piping) {
      piping = this.#pipeOut(peer, room, pipe, producerId);
      pipe.producers.set(producerId, piping);
      piping.catch(() => pipe.producers.delete(producerId));
    }
    await piping;
  }

  /** The peers this SFU is joined to (tests, logs). */
  peers(): string[] {
    return [...this.#peers.keys()];
  }

  /** Closes a room: its routers, transports, producers and consumers. */
  closeRoom(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    this.#rooms.delete(roomId);
    for (const r of room.routers) {
      r.router.close();
      r.worker.routers--;
    }
  }

  /** Number of members in a room (0 when it does not exist). */
  memberCount(roomId: string): number {
    return this.#rooms.get(roomId)?.members.size ?? 0;
  }

  /** The routers a room spans and the workers they are on (tests, logs). */
  roomRouters(roomId: string): { routerId: string; worker: number; members: number }[] {
    return (this.#rooms.get(roomId)?.routers ?? []).map((r) => ({ routerId: r.router.id, worker: r.worker.index, members: r.members }));
  }

  /** Per-worker counters: pid, routers, CPU time. */
  async workerStats(): Promise<SfuWorkerStats[]> {
    return Promise.all(
      this.#workers.map(async (slot) => {
        const usage = await slot.worker.getResourceUsage();
        return { pid: slot.worker.pid, routers: slot.routers, cpuMs: usage.ru_utime + usage.ru_stime };
      }),
    );
  }

  /** Stops every worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const peerId of [...this.#peers.keys()]) this.removePeer(peerId);
    for (const roomId of [...this.#rooms.keys()]) this.closeRoom(roomId);
    for (const slot of this.#workers) slot.worker.close();
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  async #room(roomId: string): Promise<RoomState> {
    if (this.#closed) throw new SfuError('closed', 'the SFU is closed');
    const existing = this.#rooms.get(roomId);
    if (existing) return existing;
    let creating = this.#creating.get(roomId);
    if (!creating) {
      creating = (async () => {
        const room: RoomState = { id: roomId, routers: [], members: new Map(), producers: new Map() };
        await this.#addRouter(room);
        this.#rooms.set(roomId, room);
        return room;
      })().finally(() => this.#creating.delete(roomId));
      this.#creating.set(roomId, creating);
    }
    return creating;
  }

  /** A new router for the room on the least loaded worker not yet hosting it (any worker when all do). */
  async #addRouter(room: RoomState): Promise<RoomRouter> {
    const used = new Set(room.routers.map((r) => r.worker));
    const candidates = this.#workers.filter((w) => !used.has(w));
    const pool = candidates.length > 0 ? candidates : this.#workers;
    const slot = pool.reduce((a, b) => (b.routers < a.routers ? b : a));
    const router = await slot.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    slot.routers++;
    const entry: RoomRouter = { router, worker: slot, members: 0, piped: new Map() };
    room.routers.push(entry);
    return entry;
  }

  /** Makes a producer of `from` consumable on `to` (another router of this SFU): one pipe per (producer, router). */
  async #onRouter(from: RoomRouter, producerId: string, to: RoomRouter): Promise<void> {
    if (from === to) return;
    let piping = to.piped.get(producerId);
    if (!piping) {
      piping = from.router.pipeToRouter({ producerId, router: to.router });
      to.piped.set(producerId, piping);
      piping.catch(() => to.piped.delete(producerId));
    }
    await wrap(piping, 'bad-parameters');
  }

  /** The pipe of this room to a peer, opened on first use (the peer creates the room on its side). */
  #outPipe(peer: PeerState, room: RoomState): Promise<OutPipe> {
    let opening = peer.out.get(room.id);
    if (!opening) {
      opening = (async () => {
        const router = room.routers[0]!;
        const listenIp = { ip: this.#options.listenIp, ...(this.#options.announcedIp ? { announcedIp: this.#options.announcedIp } : {}) };
        const transport = await router.router.createPipeTransport({ listenIp, enableSctp: false, enableSrtp: this.#options.pipeSrtp });
        const pipeId = transport.id;
        try {
          const reply = await peer.channel.request({
            type: 'open-pipe', roomId: room.id, pipeId, srtp: this.#options.pipeSrtp,
            ip: transport.tuple.localIp, port: transport.tuple.localPort,
            ...(transport.srtpParameters ? { srtpParameters: transport.srtpParameters } : {}),
          });
          if (reply.type !== 'pipe-opened') throw new SfuError('bad-peer-message', 'the peer did not answer open-pipe with pipe-opened');
          await wrap(transport.connect({ ip: reply.ip, port: reply.port, ...(reply.srtpParameters ? { srtpParameters: reply.srtpParameters } : {}) }), 'bad-parameters');
        } catch (error) {
          transport.close();
          throw error;
        }
        transport.observer.once('close', () => {
          if (peer.out.get(room.id) === opening) peer.out.delete(room.id);
          peer.channel.notify({ type: 'pipe-closed', roomId: room.id, pipeId });
        });
        return { pipeId, transport, router, producers: new Map() };
      })();
      peer.out.set(room.id, opening);
      opening.catch(() => { if (peer.out.get(room.id) === opening) peer.out.delete(room.id); });
    }
    return opening;
  }

  /** Consumes a producer on the room's pipe to a peer and has the peer produce it on its end. */
  async #pipeOut(peer: PeerState, room: RoomState, pipe: OutPipe, producerId: string): Promise<void> {
    const source = room.producers.get(producerId)!;
    await this.#onRouter(source.router, producerId, pipe.router);
    const consumer = await wrap(pipe.transport.consume({ producerId }), 'bad-parameters');
    const state = (s: 'paused' | 'resumed' | 'closed') => peer.channel.notify({ type: 'producer-state', roomId: room.id, pipeId: pipe.pipeId, producerId, state: s });
    // Hooked before the peer is asked, so no change is lost: the link keeps order and the peer applies notices in turn.
    consumer.observer.on('pause', () => state('paused'));
    consumer.observer.on('resume', () => state('resumed'));
    consumer.observer.once('close', () => {
      pipe.producers.delete(producerId);
      state('closed');
    });
    try {
      await peer.channel.request({
        type: 'pipe-producer', roomId: room.id, pipeId: pipe.pipeId, producerId, memberId: source.memberId, source: source.source,
        kind: consumer.kind, rtpParameters: consumer.rtpParameters, paused: consumer.producerPaused,
      });
    } catch (error) {
      consumer.close();
      throw error;
    }
  }

  async #onPeerRequest(peer: PeerState, request: SfuPeerRequest): Promise<SfuPeerReply> {
    if (request.type === 'open-pipe') {
      if (request.srtp !== (request.srtpParameters !== undefined)) throw new SfuError('bad-peer-message', 'srtp and srtpParameters disagree');
      const room = await this.#room(request.roomId);
      peer.in.get(room.id)?.transport.close();
      const router = room.routers[0]!;
      const listenIp = { ip: this.#options.listenIp, ...(this.#options.announcedIp ? { announcedIp: this.#options.announcedIp } : {}) };
      const transport = await router.router.createPipeTransport({ listenIp, enableSctp: false, enableSrtp: request.srtp });
      try {
        await wrap(transport.connect({ ip: request.ip, port: request.port, ...(request.srtpParameters ? { srtpParameters: request.srtpParameters } : {}) }), 'bad-parameters');
      } catch (error) {
        transport.close();
        throw error;
      }
      const pipe: InPipe = { pipeId: request.pipeId, transport, room, router, producers: new Map() };
      peer.in.set(room.id, pipe);
      transport.observer.once('close', () => {
        if (peer.in.get(room.id) === pipe) peer.in.delete(room.id);
        peer.channel.notify({ type: 'pipe-closed', roomId: room.id, pipeId: pipe.pipeId });
      });
      return {
        type: 'pipe-opened', ip: transport.tuple.localIp, port: transport.tuple.localPort,
        ...(transport.srtpParameters ? { srtpParameters: transport.srtpParameters } : {}),
      };
    }
    const pipe = peer.in.get(request.roomId);
    if (!pipe || pipe.pipeId !== request.pipeId) throw new SfuError('unknown-room', 'no pipe of the peer for this room');
    const { room } = pipe;
    if (room.producers.has(request.producerId)) throw new SfuError('bad-parameters', 'a producer with this id is already in the room');
    const producing = wrap(pipe.transport.produce({
      id: request.producerId, kind: request.kind, rtpParameters: request.rtpParameters, paused: request.paused,
      appData: { memberId: request.memberId, source: request.source, peerId: peer.peerId },
    }), 'bad-parameters');
    pipe.producers.set(request.producerId, producing);
    let producer: ms.Producer;
    try {
      producer = await producing;
    } catch (error) {
      pipe.producers.delete(request.producerId);
      throw error;
    }
    const info = (): ProducerInfo => ({ producerId: producer.id, memberId: request.memberId, kind: producer.kind, source: request.source, paused: producer.paused });
    room.producers.set(producer.id, { producer, memberId: request.memberId, source: request.source, router: pipe.router, peerId: peer.peerId });
    producer.observer.once('close', () => {
      pipe.producers.delete(producer.id);
      if (room.producers.get(producer.id)?.producer === producer) room.producers.delete(producer.id);
      this.#options.onPeerProducer?.(room.id, info(), 'closed');
    });
    this.#options.onPeerProducer?.(room.id, info(), 'added');
    return { type: 'producer-piped' };
  }

  #onPeerNotice(peer: PeerState, notice: SfuPeerNotice): void {
    if (notice.type === 'pipe-closed') {
      // Either end: the peer's own pipe (in here) or the one this SFU opened (out here) closed on the other side.
      const inPipe = peer.in.get(notice.roomId);
      if (inPipe?.pipeId === notice.pipeId) inPipe.transport.close();
      const outPipe = peer.out.get(notice.roomId);
      void outPipe?.then((p) => { if (p.pipeId === notice.pipeId) p.transport.close(); }, () => undefined);
      return;
    }
    const pipe = peer.in.get(notice.roomId);
    const producing = pipe?.pipeId === notice.pipeId ? pipe.producers.get(notice.producerId) : undefined;
    void producing?.then(async (producer) => {
      if (notice.state === 'closed') producer.close();
      else if (notice.state === 'paused') await producer.pause();
      else await producer.resume();
    }).catch(() => undefined);
  }

  #member(roomId: string, memberId: number): MemberState {
    const room = this.#rooms.get(roomId);
    if (!room) throw new SfuError('unknown-room', 'no such room');
    const member = room.members.get(memberId);
    if (!member) throw new SfuError('not-in-room', 'this member is not in the room');
    return member;
  }

  #transport(roomId: string, memberId: number, transportId: string): { transport: ms.WebRtcTransport; direction: Direction } {
    const entry = this.#member(roomId, memberId).transports.get(transportId);
    if (!entry) throw new SfuError('unknown-transport', 'no such transport of this member');
    return entry;
  }

  #consumer(roomId: string, memberId: number, consumerId: string): ms.Consumer {
    const consumer = this.#member(roomId, memberId).consumers.get(consumerId);
    if (!consumer) throw new SfuError('unknown-consumer', 'no such consumer of this member');
    return consumer;
  }
}

/** mediasoup reads MEDIASOUP_WORKER_BIN when it loads; later it exports `workerBin` as a live binding we may not set. */
function setWorkerBin(path: string): void {
  process.env['MEDIASOUP_WORKER_BIN'] = path;
  const worker = (mediasoup as unknown as { workerBin?: string }).workerBin;
  if (worker !== path) {
    throw new SfuError('worker-unavailable', 'workerBin must be set before mediasoup loads: set MEDIASOUP_WORKER_BIN in the environment instead');
  }
}

/** mediasoup's TypeError/Error for bad client parameters becomes `SfuError{code}`. */
async function wrap<T>(promise: Promise<T>, code: 'bad-parameters'): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw new SfuError(code, (error as Error).message.slice(0, 300));
  }
}

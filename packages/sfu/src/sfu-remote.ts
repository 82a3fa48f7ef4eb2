/**
 * An `Sfu` in another process driven as a node of an `SfuGroup`: `serveSfu` answers member-API calls on the SFU's
 * side of an IPC channel; `RemoteSfu` makes them on the other side. What the signaling server reads synchronously (a
 * room's producers and member count, the producers a leaving member closes) `RemoteSfu` keeps from the answers it
 * got; calls that return nothing (leave, close a producer, close a room) are sent without waiting, in order.
 * Messages travel in `{ mtcallSfuCall }` / `{ mtcallSfuReply }` envelopes, so the channel can also carry the peer link.
 */

import type { types as ms } from 'mediasoup';
import { SfuError, SFU_ERROR_CODES, type SfuErrorCode } from './errors.js';
import type { IpcChannel } from './peer.js';
import type { ConsumerInfo, ProducerInfo, Sfu, TransportInfo } from './sfu.js';

/** The member API of one SFU node, local (`Sfu`) or in another process (`RemoteSfu`). */
export type SfuNode = Pick<Sfu,
  | 'routerCapabilities' | 'addMember' | 'removeMember' | 'createTransport' | 'connectTransport' | 'produce'
  | 'closeProducer' | 'pauseProducer' | 'consume' | 'resumeConsumer' | 'requestKeyFrame' | 'producers'
  | 'memberCount' | 'closeRoom' | 'pipeToPeer' | 'close'>;

/** The calls `serveSfu` answers, written once. */
const CALLS = [
  'routerCapabilities', 'addMember', 'removeMember', 'createTransport', 'connectTransport', 'produce', 'closeProducer',
  'pauseProducer', 'consume', 'resumeConsumer', 'requestKeyFrame', 'closeRoom', 'pipeToPeer',
] as const;
type Call = (typeof CALLS)[number];

/** Answers `RemoteSfu` calls for `sfu` on `channel` (the SFU's process). */
export function serveSfu(sfu: Sfu, channel: IpcChannel): void {
  channel.on('message', (raw) => {
    const call = typeof raw === 'object' && raw !== null ? (raw as { mtcallSfuCall?: unknown }).mtcallSfuCall : undefined;
    if (typeof call !== 'object' || call === null) return;
    const { id, method, args } = call as { id?: unknown; method?: unknown; args?: unknown };
    if (!Number.isInteger(id)) return;
    const reply = (body: object) => channel.send?.({ mtcallSfuReply: { id, ...body } });
    if (!(CALLS as readonly unknown[]).includes(method) || !Array.isArray(args)) {
      return void reply({ ok: false, code: 'bad-peer-message', message: 'unknown call or arguments' });
    }
    void (async () => (sfu[method as Call] as (...a: unknown[]) => unknown)(...args))().then(
      (value) => reply({ ok: true, value: value ?? null }),
      (error: unknown) => reply({ ok: false, code: error instanceof SfuError ? error.code : 'peer-failed', message: String((error as Error).message).slice(0, 300) }),
    );
  });
}

/** An SFU in another process, driven through `serveSfu` on `channel`. */
export class RemoteSfu implements SfuNode {
  readonly #channel: IpcChannel;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Room → member → its producers (as last answered). */
  readonly #rooms = new Map<string, Map<number, Map<string, ProducerInfo>>>();
  #nextId = 1;

  constructor(channel: IpcChannel) {
    this.#channel = channel;
    channel.on('message', (raw) => {
      const reply = typeof raw === 'object' && raw !== null ? (raw as { mtcallSfuReply?: unknown }).mtcallSfuReply : undefined;
      if (typeof reply !== 'object' || reply === null) return;
      const { id, ok, value, code, message } = reply as { id: number; ok: boolean; value?: unknown; code?: unknown; message?: unknown };
      const pending = this.#pending.get(id);
      if (!pending) return;
      this.#pending.delete(id);
      if (ok) pending.resolve(value);
      else {
        const known = (SFU_ERROR_CODES as readonly unknown[]).includes(code) ? (code as SfuErrorCode) : 'peer-failed';
        pending.reject(new SfuError(known, String(message)));
      }
    });
  }

  routerCapabilities(roomId: string): Promise<ms.RtpCapabilities> {
    return this.#call('routerCapabilities', roomId) as Promise<ms.RtpCapabilities>;
  }

  async addMember(roomId: string, memberId: number): Promise<void> {
    await this.#call('addMember', roomId, memberId);
    let room = this.#rooms.get(roomId);
    if (!room) this.#rooms.set(roomId, (room = new Map()));
    if (!room.has(memberId)) room.set(memberId, new Map());
  }

  removeMember(roomId: string, memberId: number): string[] {
    const room = this.#rooms.get(roomId);
    const closed = [...(room?.get(memberId)?.keys() ?? [])];
    room?.delete(memberId);
    this.#send('removeMember', roomId, memberId);
    return closed;
  }

  createTransport(roomId: string, memberId: number, direction: 'send' | 'recv'): Promise<TransportInfo> {
    return this.#call('createTransport', roomId, memberId, direction) as Promise<TransportInfo>;
  }

  async connectTransport(roomId: string, memberId: number, transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    await this.#call('connectTransport', roomId, memberId, transportId, dtlsParameters);
  }

  async produce(roomId: string, memberId: number, transportId: string, kind: ms.MediaKind, rtpParameters: ms.RtpParameters, source: string): Promise<ProducerInfo> {
    const info = (await this.#call('produce', roomId, memberId, transportId, kind, rtpParameters, source)) as ProducerInfo;
    this.#rooms.get(roomId)?.get(memberId)?.set(info.producerId, info);
    return info;
  }

  closeProducer(roomId: string, memberId: number, producerId: string): void {
    const producers = this.#rooms.get(roomId)?.get(memberId);
    if (!producers?.has(producerId)) throw new SfuError('unknown-producer', 'no such producer of this member');
    producers.delete(producerId);
    this.#send('closeProducer', roomId, memberId, producerId);
  }

  async pauseProducer(roomId: string, memberId: number, producerId: string, paused: boolean): Promise<ProducerInfo> {
    const info = (await this.#call('pauseProducer', roomId, memberId, producerId, paused)) as ProducerInfo;
    this.#rooms.get(roomId)?.get(memberId)?.set(producerId, info);
    return info;
  }

  consume(roomId: string, memberId: number, transportId: string, producerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ConsumerInfo> {
    return this.#call('consume', roomId, memberId, transportId, producerId, rtpCapabilities) as Promise<ConsumerInfo>;
  }

  async resumeConsumer(roomId: string, memberId: number, consumerId: string): Promise<void> {
    await this.#call('resumeConsumer', roomId, memberId, consumerId);
  }

  async requestKeyFrame(roomId: string, memberId: number, consumerId: string): Promise<void> {
    await this.#call('requestKeyFrame', roomId, memberId, consumerId);
  }

  /** The producers of this node's own members (not those piped in from peers). */
  producers(roomId: string): ProducerInfo[] {
    return [...(this.#rooms.get(roomId)?.values() ?? [])].flatMap((m) => [...m.values()]);
  }

  memberCount(roomId: string): number {
    return this.#rooms.get(roomId)?.size ?? 0;
  }

  closeRoom(roomId: string): void {
    this.#rooms.delete(roomId);
    this.#send('closeRoom', roomId);
  }

  async pipeToPeer(roomId: string, producerId: string, peerId: string): Promise<void> {
    await this.#call('pipeToPeer', roomId, producerId, peerId);
  }

  /** Forgets the node (the process is the owner's to stop); pending calls fail with `unknown-peer`. */
  close(): void {
    for (const { reject } of this.#pending.values()) reject(new SfuError('unknown-peer', 'the remote SFU was closed'));
    this.#pending.clear();
    this.#rooms.clear();
  }

  #call(method: Call, ...args: unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.#channel.send) return reject(new SfuError('unknown-peer', 'no IPC channel to the remote SFU'));
      this.#channel.send({ mtcallSfuCall: { id, method, args } });
    });
  }

  /** A call whose answer nobody waits for (errors are dropped: the mirror already changed). */
  #send(method: Call, ...args: unknown[]): void {
    void this.#call(method, ...args).catch(() => undefined);
  }
}

/**
 * `RoomSession`: one device in a room — a group call through the server's SFU, end to end encrypted (issue 13;
 * docs/GROUP-CALLS.md). It wires four things together:
 *
 * - the signaling server's room messages (membership, the SFU's transports, producers and consumers, the room
 *   code's commitments), requests sent one at a time;
 * - `RoomKeyAgent` (sans-IO): the distributor's pairwise key exchanges (the calls' three-message DH, placed through
 *   `SignalingClient` as room key exchanges), the group secret per epoch over the sealed pairwise channels, the room
 *   code — its outputs applied here, its clock driven by one timer at `nextWakeAt()`;
 * - mediasoup-client: a send transport with one producer per track and a receive transport with one consumer per
 *   other member's producer, each created with the encoded-transform settings, every producer's sender and
 *   consumer's receiver given to the room worker before any frame flows (`onRtpSender` / `onRtpReceiver`);
 * - `RoomMediaEncryption` (@mtcall/transport): the room worker sealing this member's frames under the current epoch
 *   and opening each other member's under the sender the SFU named.
 *
 *   const room = await client.join('standup', { audio: true, video: true });
 *   room.on('code', ({ emoji }) => show(emoji));            // the same four emoji for everyone in the room
 *   room.on('track', ({ userId, track }) => addTile(userId, track));
 *   room.on('security', ({ state }) => showLock(state));     // never claims more than the facts
 */

import { Emitter } from '@mtcall/common';
import { base64ToBytes, bytesToBase64, bytesToHex, randomBytes } from '@mtcall/crypto';
import type { Call, InCallMessage, RoomServerMessage, SignalingClient } from '@mtcall/signaling';
import { RoomMediaEncryption, detectTransformMode, roomTransportSettings, type RoomTransportStats, type TransformMode } from '@mtcall/transport';
import { Device } from 'mediasoup-client';
import type { types as ms } from 'mediasoup-client';
import { MtcallClientError, mediaError } from './errors.js';
import { RoomKeyAgent, type RoomKeyOutput, type RoomKeyTimings, type RoomKeyWarning, type RoomMember } from './room-keys.js';
import { RejoinPolicy, type RejoinAction, type RejoinOptions } from './rejoin.js';

/** What the room session needs from its client. */
export interface RoomContext {
  signaling: SignalingClient;
  createRoomWorker: () => Worker;
  transform: TransformMode | undefined;
  iceServers: () => RTCIceServer[];
  now: () => number;
}

/** What to send into the room. */
export interface RoomJoinOptions {
  /** Microphone (true, constraints, or false). Default true. */
  audio?: boolean | MediaTrackConstraints;
  /** Camera (true, constraints, or false). Default true. */
  video?: boolean | MediaTrackConstraints;
  /** Tracks to send instead of the camera and microphone (e.g. a canvas capture); their kinds name the sources. */
  tracks?: MediaStreamTrack[];
  /** Timings of the key scheme (tests). */
  keyTimings?: Partial<RoomKeyTimings>;
  /** How often the security state samples the media counters (ms, default 500). */
  statsIntervalMs?: number;
  /**
   * When the room is lost (the server instance holding it stopped or handed it over, or the signaling connection
   * came back without the membership): join it again by itself — default on, with backoff and jitter while joins
   * are refused or the connection is down, giving up (`left{reason:'lost'}`) after `giveUpAfterMs` (60 s).
   * `false`: end with `left` at once, as before.
   */
  rejoin?: Partial<RejoinOptions> | false;
}

/**
 * A room's protection, as the facts show it:
 * `agreeing` (no group key yet) → `keys-agreed` (an epoch is held, the room code can be compared) →
 * `media-protected` (other members' frames open under it, none failed authentication); `keys-differ` when this
 * device's key exchange with the distributor was tampered with (its own transcript entry does not match), or frames
 * keep failing authentication while none opens.
 */
export type RoomSecurityState = 'agreeing' | 'keys-agreed' | 'media-protected' | 'keys-differ';

/** A member's track, as the room session hands it to the app. */
export interface RoomTrack {
  memberId: number;
  userId: string;
  source: string;
  kind: 'audio' | 'video';
  track: MediaStreamTrack;
  stream: MediaStream;
  producerId: string;
  /**
   * The member paused this stream (microphone or camera off): the SFU forwards nothing of it. Kept current; the
   * `track-paused` event says when it changes.
   */
  paused: boolean;
}

/** What this device sends: its microphone, its camera, its screen. */
export type RoomSource = 'audio' | 'video' | 'screen';

export interface RoomSessionEvents extends Record<string, unknown> {
  /** The members now (after a join or a leave), with who joined or left. */
  members: { members: RoomMember[]; joined?: RoomMember; left?: RoomMember };
  /** Another member's track arrived (decrypted in the worker). */
  track: RoomTrack;
  /** A member's track ended (it stopped sending it, or left). */
  'track-ended': { memberId: number; producerId: string };
  /** A member paused or resumed a track (turned its microphone or camera off or on). */
  'track-paused': { memberId: number; producerId: string; source: string; kind: 'audio' | 'video'; paused: boolean };
  /** What this device sends changed (`setMicrophone`, `setCamera`, `startScreenShare`, `stopScreenShare`). */
  'local-media': { microphone: boolean; camera: boolean; screen: boolean };
  /** A new epoch: a new group secret, held by exactly these members. */
  epoch: { epoch: number; members: RoomMember[] };
  /** This device now seals with this epoch. */
  switched: { epoch: number };
  /** The room code of an epoch: compare it aloud; it is the same for everyone unless someone is in the middle. */
  code: { epoch: number; emoji: string[] };
  security: { state: RoomSecurityState };
  /** Something the person must be told (e.g. `own-entry-mismatch`: someone is in the middle of this device's key exchange). */
  warning: { code: RoomKeyWarning; detail: string; epoch?: number };
  error: MtcallClientError;
  /** The signaling connection dropped and came back in time: the same member, media and keys carry on. */
  resumed: { memberId: number };
  /**
   * The room was lost (`reason: 'lost'`: its server instance stopped or handed it over; `'disconnected'`: the
   * connection came back without the membership): the session joins again by itself. The others' tracks have
   * ended, the old keys are wiped, the room code is gone and the security state is back to `agreeing`.
   */
  rejoining: { since: number; reason: 'lost' | 'disconnected' };
  /**
   * Joined again: a new session of the room (a new member number, a fresh group secret from epoch 1, the local
   * tracks sent again as they were). A new room code follows (`code`): compare it again — a comparison made
   * before does not carry over.
   */
  rejoined: { memberId: number; members: RoomMember[]; downForMs: number; attempts: number };
  /**
   * The session ended: `left` (this device left), `disconnected` (the signaling connection was lost and the server
   * did not carry the membership over) or `lost` (the server instance holding the room stopped or handed it over —
   * its media went with it: join again, on whichever instance holds it next).
   */
  left: { reason: 'left' | 'disconnected' | 'lost' };
}

/** A local track as it was sent when the room was lost. */
interface SavedMedia {
  source: RoomSource;
  track: MediaStreamTrack;
  paused: boolean;
}

interface Pending {
  resolve: (message: RoomServerMessage) => void;
  reject: (error: Error) => void;
}

/** One device in a room. Create it with `MtcallClient.join`. */
export class RoomSession extends Emitter<RoomSessionEvents> {
  readonly roomId: string;
  #memberId = 0;
  #members = new Map<number, RoomMember>();
  readonly #ctx: RoomContext;
  readonly #options: RoomJoinOptions;
  #agent: RoomKeyAgent | undefined;
  #media: RoomMediaEncryption | undefined;
  #device: Device | undefined;
  #send: ms.Transport | undefined;
  #recv: ms.Transport | undefined;
  /** This device's producers, by source. */
  readonly #producers = new Map<RoomSource, ms.Producer>();
  /** Other members' producers that are paused now (told at join, in `producerAdded` and `producerPaused`). */
  readonly #pausedProducers = new Set<string>();
  /** Serialises the local media controls (a second toggle waits for the first). */
  #controls: Promise<unknown> = Promise.resolve();
  readonly #consumers = new Map<string, { consumer: ms.Consumer; memberId: number; track: RoomTrack; announced: boolean }>();
  readonly #pairs = new Map<number, Call>();
  readonly #pending = new Map<string, Pending>();
  #queue: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #state: RoomSecurityState = 'agreeing';
  #code: { epoch: number; emoji: string[] } | undefined;
  #ownTracks: MediaStreamTrack[] = [];
  /** The screen track this session opened (stopped when the share stops). */
  #ownedScreen: MediaStreamTrack | undefined;
  #left = false;
  /** Joins again when the room is lost (undefined: `rejoin: false`). */
  readonly #rejoin: RejoinPolicy | undefined;
  #rejoinTimer: ReturnType<typeof setTimeout> | undefined;
  /** What this device sent when the room was lost, sent again on rejoining. */
  #saved: { source: RoomSource; track: MediaStreamTrack; paused: boolean }[] | undefined;
  /** Opens the local media controls held while rejoining. */
  #releaseControls: (() => void) | undefined;
  /** `start()` finished: a later loss is a rejoin, not a failed join. */
  #started = false;
  /** The signaling connection is down (the membership is parked on the server). */
  #away = false;
  readonly #off: (() => void)[] = [];
  readonly #warnings: RoomSessionEvents['warning'][] = [];
  /** Producers announced before the receive transport existed. */
  readonly #early: { producerId: string; memberId: number; kind: 'audio' | 'video'; source: string }[] = [];

  /** @internal use `MtcallClient.join`. */
  constructor(ctx: RoomContext, roomId: string, options: RoomJoinOptions) {
    super();
    this.#ctx = ctx;
    this.roomId = roomId;
    this.#options = options;
    this.#rejoin = options.rejoin === false ? undefined : new RejoinPolicy(options.rejoin ?? {});
  }

  /** The room was lost and the session is joining it again (between `rejoining` and `rejoined`). */
  get rejoining(): boolean {
    return this.#rejoin?.rejoining ?? false;
  }

  /** This device's member number in the room (0 before joining). */
  get memberId(): number {
    return this.#memberId;
  }
  /** The members (this device included). */
  get members(): RoomMember[] {
    return [...this.#members.values()];
  }
  get security(): RoomSecurityState {
    return this.#state;
  }
  /** The current room code, once computed. */
  get code(): { epoch: number; emoji: string[] } | undefined {
    return this.#code;
  }
  /** The epoch this device holds (newest) and seals with. */
  get epoch(): { held: number; sending: number } {
    return { held: this.#agent?.epoch ?? 0, sending: this.#agent?.sendingEpoch ?? 0 };
  }
  /** The member who distributes the group key now. */
  get distributor(): number {
    return this.#agent?.distributor ?? 0;
  }
  /** The warnings so far (also those raised while joining, before a listener could be attached). */
  get warnings(): RoomSessionEvents['warning'][] {
    return [...this.#warnings];
  }
  /** The other members' tracks received now (those that arrived before a listener was attached included). */
  get tracks(): RoomTrack[] {
    return [...this.#consumers.values()].filter((c) => c.announced).map((c) => c.track);
  }
  /** This device's own tracks (what it sends). */
  get localTracks(): MediaStreamTrack[] {
    return [...this.#ownTracks];
  }

  /** The signaling connection dropped and the client is reconnecting (media goes on; the membership is parked). */
  get reconnecting(): boolean {
    return this.#away;
  }

  /** The microphone is being sent (not paused). */
  get microphoneOn(): boolean {
    return this.#sending('audio');
  }
  /** The camera is being sent (not paused). */
  get cameraOn(): boolean {
    return this.#sending('video');
  }
  /** The screen is being shared. */
  get screenSharing(): boolean {
    return this.#sending('screen');
  }

  /**
   * Turns the microphone off (the SFU stops forwarding it; the others see it paused) or on again — acquiring one if
   * the room was joined without.
   * @throws MtcallClientError `media-*` when a microphone is needed and cannot be opened; `room-left` after leaving.
   */
  setMicrophone(on: boolean): Promise<void> {
    return this.#control(() => this.#setSource('audio', on));
  }

  /**
   * Turns the camera off (the camera is released — its light goes out — and the SFU stops forwarding the stream;
   * the others see it paused) or on again (a fresh camera track on the same stream).
   * @throws MtcallClientError `media-*` when the camera cannot be opened; `room-left` after leaving.
   */
  setCamera(on: boolean): Promise<void> {
    return this.#control(() => this.#setSource('video', on));
  }

  /**
   * Shares the screen (`getDisplayMedia`, or a video track you pass, e.g. a canvas capture) as one more stream,
   * sealed like the camera. Stops by itself when the person ends the share in the browser's UI.
   * @throws MtcallClientError `media-permission-denied` when the person refuses; `room-left` after leaving.
   */
  startScreenShare(source?: MediaStreamTrack): Promise<void> {
    return this.#control(async () => {
      if (this.#producers.has('screen')) return;
      let track = source;
      if (!track) {
        try {
          track = (await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })).getVideoTracks()[0];
        } catch (error) {
          throw mediaError(error, 'screen');
        }
        if (!track) throw new MtcallClientError('media-unavailable', 'screen: no video track');
      }
      const owned = !source;
      try {
        await this.#produce(track, 'screen');
      } catch (error) {
        if (owned) track.stop();
        throw error;
      }
      if (owned) this.#ownedScreen = track;
      track.addEventListener('ended', () => void this.stopScreenShare().catch(() => undefined), { once: true });
      this.#localChanged();
    });
  }

  /** Stops sharing the screen: the others' screen tracks end. */
  stopScreenShare(): Promise<void> {
    return this.#control(async () => {
      const producer = this.#producers.get('screen');
      if (!producer) return;
      this.#producers.delete('screen');
      producer.close();
      if (!this.#left) this.#ctx.signaling.send({ type: 'closeProducer', roomId: this.roomId, producerId: producer.id });
      this.#ownTracks = this.#ownTracks.filter((t) => t !== producer.track);
      this.#ownedScreen?.stop();
      this.#ownedScreen = undefined;
      this.#localChanged();
    });
  }

  /** How this browser transforms frames: `encoded-streams` (Chromium) or `script-transform` (Firefox, Safari). */
  get transformMode(): TransformMode | undefined {
    return this.#media?.mode;
  }

  /** The room worker's counters: frames sealed and opened (per sender, per epoch), drops by reason. */
  async stats(): Promise<RoomTransportStats | undefined> {
    return this.#media?.stats();
  }

  /** @internal Joins: the server, the SFU's transports, the media, the keys. */
  async start(): Promise<void> {
    const signaling = this.#ctx.signaling;
    this.#off.push(
      signaling.on('room', (message) => this.#onRoom(message)),
      signaling.on('roomError', (e) => this.#onRoomError(e)),
      signaling.on('roomExchange', (call) => this.#onExchange(call)),
      signaling.on('close', () => void this.#leave('disconnected')),
      // A dropped connection: the media goes on through the SFU; the server parks the membership for its resume grace.
      signaling.on('reconnecting', () => this.#suspend()),
      // Back: carry on if the server carried the membership over (`roomResumed` follows), else the room is lost.
      signaling.on('reconnected', ({ room }) => {
        if (room !== this.roomId) this.#lost('disconnected');
      }),
    );
    await this.#join(undefined);
    this.#started = true;
    this.#statsTimer = setInterval(() => void this.#sampleSecurity(), this.#options.statsIntervalMs ?? 500);
  }

  /** Joins the room: the server, the keys, the SFU's transports, the media (`saved`: what to send again). */
  async #join(saved: SavedMedia[] | undefined): Promise<void> {
    const joined = (await this.#request({ type: 'joinRoom', requestId: '', roomId: this.roomId })) as Extract<RoomServerMessage, { type: 'roomJoined' }>;
    this.#memberId = joined.memberId;
    const self = joined.members.find((m) => m.memberId === joined.memberId)!;
    this.#agent = new RoomKeyAgent({ roomId: this.roomId, self, ...(this.#options.keyTimings ? { timings: this.#options.keyTimings } : {}) });
    const mode = this.#ctx.transform ?? detectTransformMode();
    this.#media = new RoomMediaEncryption({ worker: this.#ctx.createRoomWorker(), roomId: this.roomId, self: joined.memberId, ...(mode ? { mode } : {}) });
    this.#media.on('keyframe-request', ({ streamId }) => {
      if (this.#consumers.has(streamId)) this.#ctx.signaling.send({ type: 'requestKeyFrame', roomId: this.roomId, consumerId: streamId });
    });
    this.#setMembers(joined.members, joined.distributor);
    this.#device = await Device.factory();
    await this.#device.load({ routerRtpCapabilities: joined.rtpCapabilities as ms.RtpCapabilities });
    const settings = roomTransportSettings(this.#media.mode) as Partial<RTCConfiguration>;
    this.#recv = await this.#transport('recv', settings);
    for (const producer of joined.producers) if (producer.paused) this.#pausedProducers.add(producer.producerId);
    for (const producer of [...joined.producers, ...this.#early.splice(0)]) void this.#consume(producer.producerId, producer.memberId, producer.kind, producer.source);
    this.#send = await this.#transport('send', settings);
    if (!saved) return this.#produceLocal();
    for (const { source, track, paused } of saved) {
      if (track.readyState !== 'live') continue;
      const producer = await this.#produce(track, source);
      if (paused) {
        producer.pause();
        this.#ctx.signaling.send({ type: 'pauseProducer', roomId: this.roomId, producerId: producer.id, paused: true });
      }
    }
  }

  /** Leaves the room: the SFU drops this device's media, the others rekey without it; keys are wiped here. */
  leave(): Promise<void> {
    return this.#leave('left');
  }

  // ---- requests ------------------------------------------------------------------------------------------------

  /** Sends a room request (one at a time: the server serves one per member) and resolves with its answer. */
  #request(message: Record<string, unknown> & { type: string }): Promise<RoomServerMessage> {
    const run = () =>
      new Promise<RoomServerMessage>((resolve, reject) => {
        if (this.#left) return reject(new MtcallClientError('room-left', 'the room session ended'));
        const requestId = bytesToHex(randomBytes(8));
        this.#pending.set(requestId, { resolve, reject });
        this.#ctx.signaling.send({ ...message, requestId } as never);
      });
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #onRoom(message: RoomServerMessage): void {
    if (message.roomId !== this.roomId || this.#left) return;
    if ('requestId' in message) {
      const pending = this.#pending.get(message.requestId);
      this.#pending.delete(message.requestId);
      pending?.resolve(message);
      return;
    }
    switch (message.type) {
      case 'roomMembers': {
        const before = new Map(this.#members);
        this.#setMembers(message.members, message.distributor);
        const joined = message.joined !== undefined ? this.#members.get(message.joined) : undefined;
        const left = message.left !== undefined ? before.get(message.left) : undefined;
        this.emit('members', { members: this.members, ...(joined ? { joined } : {}), ...(left ? { left } : {}) });
        return;
      }
      case 'producerAdded':
        if (message.paused) this.#pausedProducers.add(message.producerId);
        if (this.#recv) void this.#consume(message.producerId, message.memberId, message.kind, message.source);
        else this.#early.push(message);
        return;
      case 'roomResumed':
        this.#resumed(message);
        return;
      case 'producerPaused':
        if (message.paused) this.#pausedProducers.add(message.producerId);
        else this.#pausedProducers.delete(message.producerId);
        for (const entry of this.#consumers.values()) {
          if (entry.consumer.producerId !== message.producerId || entry.track.paused === message.paused) continue;
          entry.track.paused = message.paused;
          if (entry.announced) {
            const { memberId, producerId, source, kind } = entry.track;
            this.emit('track-paused', { memberId, producerId, source, kind, paused: message.paused });
          }
        }
        return;
      case 'producerRemoved':
        this.#pausedProducers.delete(message.producerId);
        for (const [id, entry] of this.#consumers) {
          if (entry.consumer.producerId !== message.producerId) continue;
          entry.consumer.close();
          this.#consumers.delete(id);
          this.emit('track-ended', { memberId: entry.memberId, producerId: message.producerId });
        }
        return;
      case 'roomCode': {
        const value = base64ToBytes(message.value);
        if (value && this.#agent) this.#apply(this.#agent.codeMessage(message.from, message.epoch, message.step, value));
        return;
      }
    }
  }

  /** The signaling connection dropped: requests in flight get no answer (the server forgets them); fail them now. */
  #suspend(): void {
    if (this.#left) return;
    this.#away = true;
    this.#queue = Promise.resolve();
    for (const { reject } of this.#pending.values()) reject(new MtcallClientError('not-connected', 'the signaling connection dropped'));
    this.#pending.clear();
  }

  /** The membership survived the dropped connection: catch up with what changed meanwhile. */
  #resumed(message: Extract<RoomServerMessage, { type: 'roomResumed' }>): void {
    if (message.memberId !== this.#memberId) return void this.#leave('disconnected');
    this.#away = false;
    const before = new Map(this.#members);
    this.#setMembers(message.members, message.distributor);
    for (const m of this.members) if (!before.has(m.memberId)) this.emit('members', { members: this.members, joined: m });
    for (const [id, m] of before) if (!this.#members.has(id)) this.emit('members', { members: this.members, left: m });
    const now = new Map(message.producers.map((p) => [p.producerId, p]));
    for (const [id, entry] of [...this.#consumers]) {
      const producer = now.get(entry.consumer.producerId);
      if (!producer) {
        entry.consumer.close();
        this.#consumers.delete(id);
        this.emit('track-ended', { memberId: entry.memberId, producerId: entry.consumer.producerId });
      } else if ((producer.paused === true) !== entry.track.paused) {
        this.#onRoom({ type: 'producerPaused', roomId: this.roomId, producerId: producer.producerId, memberId: producer.memberId, paused: producer.paused === true });
      }
    }
    const consuming = new Set([...this.#consumers.values()].map((c) => c.consumer.producerId));
    for (const p of now.values()) {
      if (p.memberId === this.#memberId || consuming.has(p.producerId)) continue;
      if (p.paused) this.#pausedProducers.add(p.producerId);
      void this.#consume(p.producerId, p.memberId, p.kind, p.source);
    }
    this.emit('resumed', { memberId: this.#memberId });
  }

  #onRoomError(e: { code: string; message: string; roomId: string; requestId?: string }): void {
    if (e.roomId !== this.roomId) return;
    if (e.code === 'room-lost' && this.#memberId !== 0) return this.#lost('lost');
    const error = new MtcallClientError('room-refused', `${e.code}: ${e.message}`);
    const pending = e.requestId !== undefined ? this.#pending.get(e.requestId) : undefined;
    if (pending) {
      this.#pending.delete(e.requestId!);
      pending.reject(error);
    } else {
      this.emit('error', error);
    }
  }

  // ---- keys ----------------------------------------------------------------------------------------------------

  #setMembers(list: readonly RoomMember[], distributor: number): void {
    this.#members = new Map(list.map((m) => [m.memberId, { memberId: m.memberId, userId: m.userId, deviceId: m.deviceId }]));
    if (this.#agent) this.#apply(this.#agent.membership(this.members, distributor, this.#ctx.now()));
  }

  /** Applies the agent's outputs, then re-arms its timer. */
  #apply(outputs: RoomKeyOutput[]): void {
    for (const o of outputs) {
      switch (o.kind) {
        case 'open-pair':
          this.#openPair(o.memberId);
          break;
        case 'close-pair': {
          const call = this.#pairs.get(o.memberId);
          this.#pairs.delete(o.memberId);
          if (call && call.state !== 'ended') call.hangUp();
          break;
        }
        case 'pair-send': {
          const call = this.#pairs.get(o.memberId);
          if (call?.state === 'established') call.sendSignal({ type: 'app', data: o.message });
          break;
        }
        case 'code-send':
          this.#ctx.signaling.send({ type: 'roomCode', roomId: this.roomId, epoch: o.epoch, step: o.step, value: bytesToBase64(o.value) });
          break;
        case 'install':
          this.#media?.install(o.epoch, o.secret);
          o.secret.fill(0);
          break;
        case 'switch':
          this.#media?.switchTo(o.epoch);
          this.emit('switched', { epoch: o.epoch });
          break;
        case 'retire':
          this.#media?.retire(o.before);
          break;
        case 'epoch':
          if (this.#state === 'agreeing') this.#setState('keys-agreed');
          this.emit('epoch', { epoch: o.epoch, members: o.members });
          break;
        case 'code':
          this.#code = { epoch: o.epoch, emoji: o.emoji };
          this.emit('code', this.#code);
          break;
        case 'warning': {
          if (o.code === 'own-entry-mismatch' || o.code === 'not-in-transcript') this.#setState('keys-differ');
          const warning = { code: o.code, detail: o.detail, ...(o.epoch !== undefined ? { epoch: o.epoch } : {}) };
          this.#warnings.push(warning);
          if (this.#warnings.length > 100) this.#warnings.shift();
          this.emit('warning', warning);
          break;
        }
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const at = this.#agent?.nextWakeAt();
    if (at === undefined || this.#left) return;
    this.#timer = setTimeout(() => this.#apply(this.#agent!.tick(this.#ctx.now())), Math.max(0, at - this.#ctx.now()));
  }

  /** As distributor: a key exchange with one member (a call the server rings on that member's device only). */
  #openPair(memberId: number): void {
    const member = this.#members.get(memberId);
    if (!member) return;
    const call = this.#ctx.signaling.call(member.userId, { video: false, room: { roomId: this.roomId, memberId } });
    this.#wirePair(memberId, call);
  }

  /** A key exchange offered to this device: only the distributor's is accepted. */
  #onExchange(call: Call): void {
    const room = call.room;
    if (!room || room.roomId !== this.roomId || this.#left) return;
    if (!this.#agent?.acceptsPairFrom(room.memberId)) return void call.decline();
    this.#pairs.get(room.memberId)?.hangUp();
    this.#wirePair(room.memberId, call);
    call.accept();
  }

  #wirePair(memberId: number, call: Call): void {
    this.#pairs.set(memberId, call);
    call.on('established', (keys) => {
      if (this.#pairs.get(memberId) === call) this.#apply(this.#agent!.pairEstablished(memberId, keys.key, keys.gA, this.#ctx.now()));
    });
    call.on('signal', (message: InCallMessage) => {
      if (message.type === 'app' && this.#pairs.get(memberId) === call) this.#apply(this.#agent!.pairMessage(memberId, message.data, this.#ctx.now()));
    });
    call.on('ended', () => {
      if (this.#pairs.get(memberId) !== call || this.#left) return;
      this.#pairs.delete(memberId);
      this.#apply(this.#agent!.pairEnded(memberId, this.#ctx.now()));
    });
  }

  // ---- media ---------------------------------------------------------------------------------------------------

  async #transport(direction: 'send' | 'recv', additionalSettings: Partial<RTCConfiguration>): Promise<ms.Transport> {
    const created = (await this.#request({ type: 'createTransport', roomId: this.roomId, direction })) as Extract<RoomServerMessage, { type: 'transportCreated' }>;
    const options: ms.TransportOptions = {
      id: created.transportId,
      iceParameters: created.iceParameters as ms.IceParameters,
      iceCandidates: created.iceCandidates as ms.IceCandidate[],
      dtlsParameters: created.dtlsParameters as ms.DtlsParameters,
      iceServers: this.#ctx.iceServers(),
      additionalSettings,
    };
    const transport = direction === 'send' ? this.#device!.createSendTransport(options) : this.#device!.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.#request({ type: 'connectTransport', roomId: this.roomId, transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        this.#request({ type: 'produce', roomId: this.roomId, transportId: transport.id, kind, rtpParameters, source: String(appData['source']) })
          .then((m) => callback({ id: (m as Extract<RoomServerMessage, { type: 'produced' }>).producerId }), errback);
      });
    }
    return transport;
  }

  async #produceLocal(): Promise<void> {
    let tracks = this.#options.tracks;
    if (!tracks) {
      const audio = this.#options.audio ?? true;
      const video = this.#options.video ?? true;
      if (!audio && !video) return;
      try {
        tracks = (await navigator.mediaDevices.getUserMedia({ audio, video })).getTracks();
      } catch (error) {
        throw mediaError(error, 'camera/microphone');
      }
    }
    for (const track of tracks) {
      if (this.#left) return;
      const source: RoomSource = track.kind === 'audio' ? 'audio' : track.contentHint === 'detail' || track.contentHint === 'text' ? 'screen' : 'video';
      await this.#produce(track, source);
    }
  }

  /** Sends one track as `source`: a producer whose sender seals every frame before it flows. */
  async #produce(track: MediaStreamTrack, source: RoomSource): Promise<ms.Producer> {
    if (this.#left || !this.#send) throw new MtcallClientError('room-left', 'the room session ended');
    const kind = track.kind as 'audio' | 'video';
    // Opus and VP8: the codecs whose clear bytes mediasoup needs are kept by the frame encryption (docs/CODECS.md).
    const codec = this.#device!.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === (kind === 'audio' ? 'audio/opus' : 'video/vp8'));
    this.#ownTracks.push(track);
    const producer = await this.#send.produce({
      track,
      stopTracks: false,
      ...(codec ? { codec } : {}),
      appData: { source },
      onRtpSender: (sender) => this.#media!.attachSender(sender, { kind, source, streamId: `own-${source}`, ...(codec ? { codec: codec.mimeType } : {}) }),
    });
    this.#producers.set(source, producer);
    return producer;
  }

  /** Runs one local media control after the previous one finished. */
  #control(run: () => Promise<void>): Promise<void> {
    const result = this.#controls.then(() => {
      if (this.#left) throw new MtcallClientError('room-left', 'the room session ended');
      return run();
    });
    this.#controls = result.catch(() => undefined);
    return result;
  }

  #sending(source: RoomSource): boolean {
    const producer = this.#producers.get(source);
    return producer !== undefined && !producer.closed && !producer.paused;
  }

  /** Microphone or camera on or off: pause (the camera released) or resume the producer, and tell the SFU. */
  async #setSource(source: 'audio' | 'video', on: boolean): Promise<void> {
    const producer = this.#producers.get(source);
    const owned = !this.#options.tracks;
    if (!producer) {
      if (!on) return;
      await this.#produce(await this.#open(source), source);
      return this.#localChanged();
    }
    if (on === !producer.paused) return;
    if (on) {
      if (!producer.track || producer.track.readyState === 'ended') {
        const track = await this.#open(source);
        await producer.replaceTrack({ track });
        this.#ownTracks.push(track);
      }
      producer.resume();
    } else {
      producer.pause();
      if (source === 'video' && owned && producer.track) {
        // Release the camera: the light goes out. A new track comes with `setCamera(true)`.
        const old = producer.track;
        await producer.replaceTrack({ track: null });
        this.#ownTracks = this.#ownTracks.filter((t) => t !== old);
        old.stop();
      }
    }
    this.#ctx.signaling.send({ type: 'pauseProducer', roomId: this.roomId, producerId: producer.id, paused: !on });
    this.#localChanged();
  }

  /** A fresh microphone or camera track, with the constraints the room was joined with. */
  async #open(source: 'audio' | 'video'): Promise<MediaStreamTrack> {
    const asked = source === 'audio' ? this.#options.audio : this.#options.video;
    const constraints = typeof asked === 'object' ? asked : true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(source === 'audio' ? { audio: constraints } : { video: constraints });
      const track = source === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
      if (!track) throw new MtcallClientError('media-unavailable', `${source}: no track`);
      return track;
    } catch (error) {
      throw error instanceof MtcallClientError ? error : mediaError(error, source === 'audio' ? 'microphone' : 'camera');
    }
  }

  #localChanged(): void {
    this.emit('local-media', { microphone: this.microphoneOn, camera: this.cameraOn, screen: this.screenSharing });
  }

  async #consume(producerId: string, memberId: number, kind: 'audio' | 'video', source: string): Promise<void> {
    try {
      const answer = (await this.#request({
        type: 'consume', roomId: this.roomId, transportId: this.#recv!.id, producerId, rtpCapabilities: this.#device!.rtpCapabilities,
      })) as Extract<RoomServerMessage, { type: 'consumed' }>;
      const rtpParameters = answer.rtpParameters as ms.RtpParameters;
      const consumer = await this.#recv!.consume({
        id: answer.consumerId, producerId, kind, rtpParameters,
        onRtpReceiver: (receiver) => this.#media!.attachReceiver(receiver, {
          kind, source, sender: memberId, streamId: answer.consumerId, ...(rtpParameters.codecs[0] ? { codec: rtpParameters.codecs[0].mimeType } : {}),
        }),
      });
      const member = this.#members.get(memberId);
      const track: RoomTrack = {
        memberId, userId: member?.userId ?? '?', source, kind, track: consumer.track, stream: new MediaStream([consumer.track]), producerId,
        paused: this.#pausedProducers.has(producerId),
      };
      const entry = { consumer, memberId, track, announced: false };
      this.#consumers.set(consumer.id, entry);
      await this.#request({ type: 'resumeConsumer', roomId: this.roomId, consumerId: consumer.id });
      entry.announced = true;
      this.emit('track', track);
    } catch (error) {
      if (!this.#left && !this.#away && !this.rejoining) this.emit('error', error instanceof MtcallClientError ? error : new MtcallClientError('room-refused', `consume: ${(error as Error).message}`));
    }
  }

  /** The security state from the worker's counters: frames of others opening, or only failing. */
  async #sampleSecurity(): Promise<void> {
    const stats = await this.#media?.stats();
    if (!stats || this.#left) return;
    const failures = stats.dropped.auth;
    if (this.#state === 'keys-agreed' && stats.opened.frames > 0 && failures === 0) this.#setState('media-protected');
    if ((this.#state === 'keys-agreed' || this.#state === 'media-protected') && stats.opened.frames === 0 && failures >= 5) this.#setState('keys-differ');
  }

  #setState(state: RoomSecurityState): void {
    if (this.#state === state || this.#state === 'keys-differ') return;
    this.#state = state;
    this.emit('security', { state });
  }

  async #leave(reason: 'left' | 'disconnected' | 'lost'): Promise<void> {
    if (this.#left) return;
    if (reason === 'left' && this.#memberId !== 0) this.#ctx.signaling.send({ type: 'leaveRoom', roomId: this.roomId });
    this.#left = true;
    if (this.#rejoinTimer !== undefined) clearTimeout(this.#rejoinTimer);
    if (!this.#options.tracks) for (const { track } of this.#saved ?? []) track.stop();
    this.#saved = undefined;
    this.#releaseControls?.();
    for (const off of this.#off) off();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#statsTimer !== undefined) clearInterval(this.#statsTimer);
    for (const call of this.#pairs.values()) if (call.state !== 'ended') call.hangUp();
    this.#pairs.clear();
    for (const { reject } of this.#pending.values()) reject(new MtcallClientError('room-left', 'the room session ended'));
    this.#pending.clear();
    this.#agent?.end();
    this.#send?.close();
    this.#recv?.close();
    if (!this.#options.tracks) for (const track of this.#ownTracks) track.stop();
    this.#ownedScreen?.stop();
    await this.#media?.end();
    this.emit('left', { reason });
  }

  // ---- rejoining -----------------------------------------------------------------------------------------------

  /** The room is gone for this device: join it again (the policy says when), or end. */
  #lost(reason: 'lost' | 'disconnected'): void {
    if (this.#left) return;
    // Only a message received over the connection says so: it is up.
    this.#away = false;
    if (!this.#rejoin || !this.#started) return void this.#leave(reason);
    if (this.#rejoin.rejoining) {
      // Lost again while an attempt runs (its new room lost too): fail it; or the connection is back: try now.
      this.#failPending(new MtcallClientError('room-left', 'the room was lost'));
      return this.#driveRejoin(this.#rejoin.online(this.#ctx.now()));
    }
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.#releaseControls = release;
    this.#controls = this.#controls.then(() => gate);
    const actions = this.#rejoin.lost(this.#ctx.now());
    for (const a of actions) if (a.type === 'rejoining') this.emit('rejoining', { since: a.since, reason });
    void this.#reset(true).then(() => this.#driveRejoin(actions.filter((a) => a.type !== 'rejoining')));
  }

  /** Carries out the policy's actions, then wakes it when it says. */
  #driveRejoin(actions: RejoinAction[]): void {
    if (this.#left || !this.#rejoin) return;
    for (const a of actions) {
      if (a.type === 'attempt') void this.#attemptRejoin();
      else if (a.type === 'abandon-attempt') this.#failPending(new MtcallClientError('room-refused', 'rejoin: the join was not answered in time'));
      else if (a.type === 'give-up') return void this.#leave('lost');
      else if (a.type === 'rejoined') {
        this.#saved = undefined;
        this.#releaseControls?.();
        this.#releaseControls = undefined;
        this.emit('members', { members: this.members });
        this.#localChanged();
        this.emit('rejoined', { memberId: this.#memberId, members: this.members, downForMs: a.downForMs, attempts: a.attempts });
      }
    }
    if (this.#rejoinTimer !== undefined) clearTimeout(this.#rejoinTimer);
    this.#rejoinTimer = undefined;
    const at = this.#rejoin.nextWakeAt();
    if (at !== undefined) this.#rejoinTimer = setTimeout(() => this.#driveRejoin(this.#rejoin!.tick(this.#ctx.now())), Math.max(0, at - this.#ctx.now()));
  }

  /** One attempt: join and send again; on failure, clear what it built and let the policy retry. */
  async #attemptRejoin(): Promise<void> {
    try {
      if (this.#away) throw new MtcallClientError('not-connected', 'the signaling connection is down');
      await this.#join(this.#saved ?? []);
    } catch {
      if (this.#left) return;
      await this.#reset(false);
      return this.#driveRejoin(this.#rejoin!.failed(this.#ctx.now()));
    }
    if (this.#left) return;
    this.#driveRejoin(this.#rejoin!.joined(this.#ctx.now()));
  }

  /**
   * Drops the room session's state but not this device's tracks: the transports, producers and consumers (the
   * others' tracks end), the key exchanges, the keys (wiped with the worker), the members, the room code; the
   * security state back to `agreeing`. `capture`: remember what was sent, to send it again.
   */
  async #reset(capture: boolean): Promise<void> {
    if (capture) {
      this.#saved = [...this.#producers].flatMap(([source, p]) => (p.track && p.track.readyState === 'live' ? [{ source, track: p.track, paused: p.paused }] : []));
    }
    // A failed attempt may have joined: leave that membership (its requests are answered no more).
    if (!capture && this.#memberId !== 0 && !this.#away) this.#ctx.signaling.send({ type: 'leaveRoom', roomId: this.roomId });
    this.#failPending(new MtcallClientError('room-left', 'the room was lost'));
    for (const producer of this.#producers.values()) producer.close();
    this.#producers.clear();
    this.#ownTracks = [];
    for (const entry of this.#consumers.values()) {
      entry.consumer.close();
      if (entry.announced) this.emit('track-ended', { memberId: entry.memberId, producerId: entry.consumer.producerId });
    }
    this.#consumers.clear();
    this.#pausedProducers.clear();
    this.#early.splice(0);
    // The agent first, and the pairs out of the map before hanging up: an ended pair must not open another.
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#agent?.end();
    this.#agent = undefined;
    const pairs = [...this.#pairs.values()];
    this.#pairs.clear();
    for (const call of pairs) if (call.state !== 'ended') call.hangUp();
    this.#send?.close();
    this.#recv?.close();
    this.#send = this.#recv = undefined;
    this.#device = undefined;
    const media = this.#media;
    this.#media = undefined;
    this.#memberId = 0;
    this.#members.clear();
    this.#code = undefined;
    if (this.#state !== 'agreeing') {
      this.#state = 'agreeing';
      this.emit('security', { state: 'agreeing' });
    }
    await media?.end();
  }

  /** Fails the requests waiting for an answer (none will come). */
  #failPending(error: MtcallClientError): void {
    this.#queue = Promise.resolve();
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}

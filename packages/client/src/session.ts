/**
 * `CallSession`: one call as an app sees it — the signaling call (key agreement, sealed in-call signaling), the
 * `RTCPeerConnection` with mtcall's frame encryption on every sender and receiver, local media, and an honest
 * security state. The peer connection is created only once the key is agreed, so even the first offer travels
 * sealed and the DTLS fingerprints in it are bound to the key the emoji verify.
 *
 * Negotiation is "perfect negotiation" over the sealed channel (the callee is the polite side): either side may
 * renegotiate at any time (screen sharing, a camera on a side that had none); colliding offers resolve by
 * themselves. ICE restarts are the exception: only the caller offers them, and nothing is rolled back for one
 * (restart.ts: a rollback costs Chromium the encrypted video receiver).
 */

import { Emitter, type CallRole } from '@mtcall/common';
import type { Call, CallEndReason, CallKeys, InCallMessage } from '@mtcall/signaling';
import { PeerConnectionEncryption, detectTransformMode, type TransformMode, type TransportStats } from '@mtcall/transport';
import { emojiForDisplay } from '@mtcall/crypto';
import { MtcallClientError, mediaError } from './errors.js';
import { readPeerStats, type PeerStats } from './peer-stats.js';
import { SecurityMonitor, type MediaEvidence, type SecurityState } from './security.js';
import { ReconnectPolicy, type ReconnectAction, type ReconnectOptions, type PathState } from './reconnect.js';
import { restartStep } from './restart.js';

export type { CallRole } from '@mtcall/common';

/** Who ended a call: this device, the other person, or the server (timeouts, offline, busy, a dropped peer). */
export type EndedBy = 'local' | 'remote' | 'server';

/** Where a track comes from. */
export type MediaSource = 'microphone' | 'camera' | 'screen';

/** Which media to send: `true`, `false`, or a specific device. */
export interface MediaRequest {
  audio?: boolean | { deviceId: string };
  video?: boolean | { deviceId: string };
}

/** How a call ended. */
export interface CallEnd {
  reason: CallEndReason;
  by: EndedBy;
  /** Details for logs (never key material). */
  detail: string;
  /** From the moment media connected to the end; 0 when it never connected. */
  durationMs: number;
}

/** What the other side says about its media. */
export interface PeerMedia {
  audio: boolean;
  video: boolean;
  screen: boolean;
}

/** Events of a call. */
export interface CallSessionEvents extends Record<string, unknown> {
  /** The callee's devices are ringing (caller side). */
  ringing: { peerId: string };
  /**
   * The key is agreed: show these four emoji (display forms, see `EMOJI_FONT_FAMILY`) and ask the person to compare
   * them with the other side's.
   */
  keys: { emoji: string[] };
  /** The security state changed (see `SecurityState`). */
  security: { state: SecurityState; previous: SecurityState };
  /** The other side's camera and microphone stream (once per stream). */
  'remote-stream': MediaStream;
  /** A track from the other side: its microphone, camera or shared screen. */
  track: { track: MediaStreamTrack; source: MediaSource; stream: MediaStream };
  /** The other side turned its microphone, camera or screen sharing on or off. */
  'peer-media': PeerMedia;
  /** This device's preview stream changed (a camera turned on or switched). */
  'local-stream': MediaStream;
  /** The media path is interrupted; the call is trying to recover (ICE restarts over the sealed channel). */
  reconnecting: { since: number };
  /** Media flows (first time, and after reconnecting: `downForMs` says how long it was interrupted). */
  connected: { path?: 'relay' | 'direct' | undefined; downForMs?: number | undefined; iceRestarts: number };
  ended: CallEnd;
  error: MtcallClientError;
  /**
   * The call's link to the signaling server: `interrupted` while it reconnects (messages are queued), `resumed`, or
   * `lost` when the server no longer knows the call (it restarted): media goes on, but renegotiation and ICE
   * restarts are no longer possible.
   */
  signaling: { state: 'interrupted' | 'resumed' | 'lost' };
}

/** Everything `stats()` knows. */
export interface CallSessionStats {
  security: SecurityState;
  evidence: MediaEvidence;
  /** Frame encryption counters (frames sealed/opened, drops by reason, µs per frame); absent before the key. */
  transport?: TransportStats | undefined;
  /** What the peer connection reports (decoded frames, codecs, path). */
  peer?: PeerStats | undefined;
  durationMs: number;
}

/** What a session needs from its client. @internal */
export interface SessionContext {
  iceServers(): RTCIceServer[];
  iceTransportPolicy(): RTCIceTransportPolicy;
  createWorker(): Worker;
  transform?: TransformMode | undefined;
  statsIntervalMs: number;
  /** Preferred video codec, e.g. 'VP8', 'VP9', 'H264' (default: the browser's order). */
  videoCodec?: string | undefined;
  /** When to restart ICE and when to give up on a broken media path. */
  reconnect?: Partial<ReconnectOptions> | undefined;
  now(): number;
  /** Called once the session ended, so the client forgets it. */
  forget(session: CallSession): void;
}

/** Reasons the server (not the other person) decides. */
const SERVER_REASONS: ReadonlySet<CallEndReason> = new Set(['timeout', 'offline', 'busy', 'answered-elsewhere', 'disconnected', 'failed']);

/** One call. Get one from `client.call()` or the client's `incoming` event. */
export class CallSession extends Emitter<CallSessionEvents> {
  readonly role: CallRole;
  readonly peerId: string;
  /** Whether the caller placed it as a video call (the callee may still answer with audio only). */
  readonly video: boolean;
  readonly #ctx: SessionContext;
  readonly #security = new SecurityMonitor();
  #call: Call | undefined;
  #pc: RTCPeerConnection | undefined;
  #media: PeerConnectionEncryption | undefined;
  #local: MediaStream | undefined;
  #mic: MediaStreamTrack | undefined;
  #cam: MediaStreamTrack | undefined;
  #screen: { track: MediaStreamTrack; stream: MediaStream; transceiver: RTCRtpTransceiver } | undefined;
  #audioTransceiver: RTCRtpTransceiver | undefined;
  #videoTransceiver: RTCRtpTransceiver | undefined;
  #emoji: string[] | undefined;
  #peerMedia: PeerMedia = { audio: true, video: false, screen: false };
  #peerScreenStreamId: string | undefined;
  readonly #remoteStreams = new Set<string>();
  readonly #localCandidateTypes = new Set<string>();
  readonly #iceErrors: PeerStats['iceErrors'] = [];
  #queue: Promise<void> = Promise.resolve();
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  #connectedAt: number | undefined;
  readonly #reconnect: ReconnectPolicy;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #ended: CallEnd | undefined;
  /** A reason this side chose before the signaling call existed or ended (e.g. media refused). */
  #localEnd: { reason: CallEndReason; detail: string } | undefined;
  #accepted = false;
  /** The last security state emitted (the `previous` of the next `security` event). */
  #lastSecurity: SecurityState = 'agreeing';
  #endedAt: number | undefined;
  /** Preferred-codec bookkeeping: each transceiver gets the preference once. */
  readonly #codecPreferred = new WeakSet<RTCRtpTransceiver>();

  /** @internal Use `client.call()` or the `incoming` event. */
  constructor(ctx: SessionContext, init: { role: CallRole; peerId: string; video: boolean; call?: Call }) {
    super();
    this.#ctx = ctx;
    this.#reconnect = new ReconnectPolicy(ctx.reconnect ?? {});
    this.role = init.role;
    this.peerId = init.peerId;
    this.video = init.video;
    if (init.call) this.#bind(init.call);
  }

  /** The four emoji, once the key is agreed. */
  get emoji(): string[] | undefined {
    return this.#emoji ? [...this.#emoji] : undefined;
  }

  /** The current security state. */
  get security(): SecurityState {
    return this.#security.state;
  }

  /** This device's camera/microphone stream (for a preview), once media was acquired. */
  get localStream(): MediaStream | undefined {
    return this.#local;
  }

  /** What the other side last said about its media. */
  get peerMedia(): PeerMedia {
    return { ...this.#peerMedia };
  }

  /** How the call ended, once it has. */
  get ended(): CallEnd | undefined {
    return this.#ended;
  }

  /** Whether this side's microphone is sending (not muted). */
  get microphoneOn(): boolean {
    return this.#mic?.enabled === true && this.#mic.readyState === 'live';
  }

  /** Whether this side's camera is sending. */
  get cameraOn(): boolean {
    return this.#cam?.readyState === 'live';
  }

  /** Whether this side shares its screen. */
  get sharingScreen(): boolean {
    return this.#screen !== undefined;
  }

  /**
   * Answers an incoming call with this media (default: audio, and video if the caller asked for video).
   * Rejects with `media-permission-denied` / `media-device-not-found` / `media-unavailable` (the call is then
   * declined) or `invalid-state`.
   */
  async accept(request: MediaRequest = { audio: true, video: this.video }): Promise<void> {
    if (this.role !== 'callee' || !this.#call) throw new MtcallClientError('invalid-state', 'accept() is for incoming calls');
    if (this.#accepted || this.#ended) throw new MtcallClientError('invalid-state', this.#ended ? 'the call has ended' : 'already accepted');
    this.#accepted = true;
    try {
      await this.#acquire(request);
    } catch (error) {
      const typed = error instanceof MtcallClientError ? error : mediaError(error, 'camera/microphone');
      this.emit('error', typed);
      this.#hangUpWith('failed', `could not answer: ${typed.message}`);
      throw typed;
    }
    if (this.#ended) return this.#stopLocal();
    this.#call.accept();
  }

  /** Declines an incoming call. */
  decline(): void {
    if (this.role !== 'callee' || !this.#call) throw new MtcallClientError('invalid-state', 'decline() is for incoming calls');
    this.#call.decline();
  }

  /** Ends the call (either side, any time). */
  hangUp(): void {
    this.#hangUpWith('hangup', 'hung up locally');
  }

  /**
   * The person compared the four emoji with the other side's. `true`: the state becomes `verified`. `false`: the
   * call ends on both sides with reason `verification-failed` (someone may be in the middle).
   */
  confirmEmoji(match: boolean): void {
    if (!this.#emoji || this.#ended) throw new MtcallClientError('invalid-state', 'there are no emoji to confirm (no key yet, or the call ended)');
    if (!match) return this.#hangUpWith('verification-failed', 'the person said the emoji differ');
    this.#transition(this.#security.confirm(true));
  }

  /** Mutes or unmutes the microphone (acquires one if the call started without). The peer is told. */
  async setMicrophone(on: boolean): Promise<void> {
    this.#assertLive();
    if (on && !this.#mic) {
      await this.#replaceSource('audio', true);
    } else if (this.#mic) {
      this.#mic.enabled = on;
    }
    this.#announce();
  }

  /**
   * Turns the camera on (acquiring it) or off (releasing it: the camera light goes out). The peer is told;
   * where no video can be sent yet the call renegotiates over the sealed channel.
   */
  async setCamera(on: boolean): Promise<void> {
    this.#assertLive();
    if (on) {
      if (!this.cameraOn) await this.#replaceSource('video', true);
    } else if (this.#cam) {
      const old = this.#cam;
      this.#cam = undefined;
      await this.#videoTransceiver?.sender.replaceTrack(null);
      this.#local?.removeTrack(old);
      old.stop();
      if (this.#local) this.emit('local-stream', this.#local);
    }
    this.#announce();
  }

  /** Switches the microphone (`audioinput`) or camera (`videoinput`) to another device, mid-call. */
  async switchDevice(kind: 'audioinput' | 'videoinput', deviceId: string): Promise<void> {
    this.#assertLive();
    await this.#replaceSource(kind === 'audioinput' ? 'audio' : 'video', { deviceId });
    this.#announce();
  }

  /**
   * Shares the screen (`getDisplayMedia`, or a video track you pass, e.g. a canvas capture) as a second video
   * stream, encrypted like the camera. Renegotiates over the sealed channel. Stops by itself when the person
   * ends the share in the browser's UI.
   */
  async shareScreen(source?: MediaStreamTrack): Promise<void> {
    this.#assertLive();
    if (this.#screen) return;
    let track = source;
    if (!track) {
      try {
        const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        track = display.getVideoTracks()[0];
      } catch (error) {
        throw mediaError(error, 'screen');
      }
      if (!track) throw new MtcallClientError('media-unavailable', 'screen: no video track');
    }
    const pc = this.#pc;
    if (!pc) throw new MtcallClientError('not-in-call', 'media is not connected yet');
    const stream = new MediaStream([track]);
    // Announce first: the peer then knows this stream is a screen when its track arrives (same ordered channel).
    this.#announce({ screenStreamId: stream.id });
    this.#screen = { track, stream, transceiver: pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }) };
    this.#media?.attach();
    track.addEventListener('ended', () => void this.stopScreenShare().catch(() => undefined), { once: true });
  }

  /** Stops sharing the screen. */
  async stopScreenShare(): Promise<void> {
    const screen = this.#screen;
    if (!screen) return;
    this.#screen = undefined;
    screen.track.stop();
    if (this.#pc && this.#pc.signalingState !== 'closed') {
      await screen.transceiver.sender.replaceTrack(null);
      screen.transceiver.direction = 'inactive';
    }
    if (!this.#ended) this.#announce();
  }

  /** Counters: security state and evidence, frame encryption, the peer connection's media and path. */
  async stats(): Promise<CallSessionStats> {
    const transport = this.#media ? await this.#media.stats().catch(() => undefined) : undefined;
    const peer = this.#pc && this.#pc.signalingState !== 'closed' ? await readPeerStats(this.#pc).catch(() => undefined) : undefined;
    if (peer) {
      peer.localCandidateTypes = [...this.#localCandidateTypes];
      peer.iceErrors = [...this.#iceErrors];
    }
    return { security: this.#security.state, evidence: this.#security.evidence, transport, peer, durationMs: this.#duration() };
  }

  /** @internal The client placed the signaling call for this session (caller). */
  async startOutgoing(request: MediaRequest, place: () => Call): Promise<void> {
    try {
      await this.#acquire(request);
    } catch (error) {
      const typed = error instanceof MtcallClientError ? error : mediaError(error, 'camera/microphone');
      this.emit('error', typed);
      this.#localEnd = { reason: 'failed', detail: typed.message };
      return this.#finish({ reason: 'failed', by: 'local', detail: typed.message });
    }
    if (this.#localEnd) {
      this.#stopLocal();
      return this.#finish({ reason: this.#localEnd.reason, by: 'local', detail: this.#localEnd.detail });
    }
    this.#bind(place());
  }

  // ——— internals ———

  #bind(call: Call): void {
    this.#call = call;
    call.on('state', (state) => {
      if (state === 'waiting' && this.role === 'caller') this.emit('ringing', { peerId: this.peerId });
    });
    call.on('established', (keys) => this.#onKeys(keys));
    call.on('signaling', (state) => this.emit('signaling', { state }));
    call.on('signal', (message) => this.#enqueue(() => this.#onSignal(message)));
    call.on('ended', (end) => {
      const by: EndedBy = !end.byPeer ? 'local' : SERVER_REASONS.has(end.reason) ? 'server' : 'remote';
      void this.#finish({ reason: end.reason, by, detail: end.detail });
    });
  }

  #hangUpWith(reason: CallEndReason, detail: string): void {
    if (this.#ended) return;
    if (!this.#call) {
      this.#localEnd = { reason, detail }; // startOutgoing finishes once media acquisition returns
      return;
    }
    this.#call.hangUp(reason);
  }

  #onKeys(keys: CallKeys): void {
    this.#emoji = keys.emoji.map(emojiForDisplay);
    this.emit('keys', { emoji: [...this.#emoji] });
    this.#transition(this.#security.keysAgreed());
    const mode = this.#ctx.transform ?? detectTransformMode();
    if (!mode) {
      this.emit('error', new MtcallClientError('encryption-unsupported', 'this browser cannot encrypt media end to end (no encoded-transform API)'));
      return this.#hangUpWith('failed', 'no encoded-transform API');
    }
    const pc = new RTCPeerConnection({ iceServers: this.#ctx.iceServers(), iceTransportPolicy: this.#ctx.iceTransportPolicy(), ...PeerConnectionEncryption.peerConnectionConfig(mode) } as RTCConfiguration);
    this.#pc = pc;
    this.#media = new PeerConnectionEncryption({ pc, key: keys.key, role: this.role, worker: this.#ctx.createWorker(), mode });
    this.#media.on('error', (e) => this.emit('error', new MtcallClientError('transport', e.message)));
    // The spec's abort (the seq counter reached 2^30): end the call with that reason, so the peer learns it.
    this.#media.on('abort', ({ reason }) => this.#hangUpWith(reason, 'the media encryption must stop'));
    pc.addEventListener('icecandidateerror', (event) => {
      const e = event as RTCPeerConnectionIceErrorEvent;
      if (this.#iceErrors.length < 20) this.#iceErrors.push({ code: e.errorCode, text: e.errorText, url: e.url });
    });
    pc.addEventListener('icecandidate', (event) => {
      if (event.candidate?.type) this.#localCandidateTypes.add(event.candidate.type);
      this.#send({ type: 'ice', candidate: event.candidate ? { ...event.candidate.toJSON(), candidate: event.candidate.candidate } : null });
    });
    pc.addEventListener('negotiationneeded', () => this.#enqueue(() => this.#negotiate()));
    pc.addEventListener('track', (event) => this.#onTrack(event));
    pc.addEventListener('connectionstatechange', () => this.#onConnectionState());
    if (this.role === 'caller') {
      const local = this.#local ?? new MediaStream();
      this.#audioTransceiver = pc.addTransceiver(this.#mic ?? 'audio', { direction: 'sendrecv', streams: [local] });
      this.#videoTransceiver = pc.addTransceiver(this.#cam ?? 'video', { direction: 'sendrecv', streams: [local] });
      this.#media.attach(); // restricts codecs first, so the preference below is the last word
      this.#preferCodec(this.#videoTransceiver);
    }
    this.#announce();
    this.#statsTimer = setInterval(() => void this.#sample(), this.#ctx.statsIntervalMs);
  }

  async #negotiate(): Promise<void> {
    const pc = this.#pc;
    if (!pc || pc.signalingState !== 'stable' || this.#ended) return;
    await pc.setLocalDescription();
    const description = pc.localDescription;
    if (description) this.#send({ type: 'sdp', description: { type: description.type as 'offer' | 'answer', sdp: description.sdp } });
  }

  async #onSignal(message: InCallMessage): Promise<void> {
    const pc = this.#pc;
    switch (message.type) {
      case 'sdp': {
        if (!pc) return;
        const description = message.description as RTCSessionDescriptionInit;
        const collision = description.type === 'offer' && pc.signalingState !== 'stable';
        // Perfect negotiation: the caller is impolite and ignores a colliding offer; the callee rolls back.
        if (collision && this.role === 'caller') return;
        // A second answer to an offer we sent twice (restart.ts) finds us stable: the first one was applied.
        if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') return;
        await pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          this.#adoptTransceivers(pc);
          this.#media?.attach();
          if (this.#videoTransceiver) this.#preferCodec(this.#videoTransceiver);
          await pc.setLocalDescription();
          const answer = pc.localDescription;
          if (answer) this.#send({ type: 'sdp', description: { type: 'answer', sdp: answer.sdp } });
        }
        return;
      }
      case 'ice':
        if (!pc || !message.candidate) return;
        try {
          await pc.addIceCandidate(message.candidate as RTCIceCandidateInit);
        } catch (error) {
          if (pc.remoteDescription) throw error; // a candidate of an offer we ignored is expected to fail
        }
        return;
      case 'restart-ice':
        // The callee's path broke and it asks us (the caller: only we offer restarts) to restart ICE.
        if (this.role === 'caller') this.#restartIce();
        return;
      case 'media': {
        this.#peerMedia = { audio: message.audio, video: message.video, screen: message.screen === true };
        this.#peerScreenStreamId = message.screen ? message.screenStreamId : undefined;
        this.emit('peer-media', this.peerMedia);
        return;
      }
      default:
        return;
    }
  }

  /** Puts the preferred video codec (and retransmission) first on a transceiver, once. */
  #preferCodec(transceiver: RTCRtpTransceiver): void {
    const codec = this.#ctx.videoCodec;
    if (!codec || this.#codecPreferred.has(transceiver)) return;
    this.#codecPreferred.add(transceiver);
    const all = PeerConnectionEncryption.allowedCodecs('video') ?? [];
    const wanted = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
    if (wanted.length === 0) {
      this.emit('error', new MtcallClientError('negotiation-failed', `this browser cannot send ${codec}`));
      return;
    }
    transceiver.setCodecPreferences([...wanted, ...all.filter((c) => /rtx/i.test(c.mimeType))]);
  }

  /** Callee: the first audio and video transceivers of the caller's offer carry our microphone and camera. */
  #adoptTransceivers(pc: RTCPeerConnection): void {
    if (this.role !== 'callee') return;
    const transceivers = pc.getTransceivers();
    this.#audioTransceiver ??= transceivers.find((t) => t.receiver.track.kind === 'audio');
    this.#videoTransceiver ??= transceivers.find((t) => t.receiver.track.kind === 'video' && t !== this.#screen?.transceiver);
    const local = this.#local ?? new MediaStream();
    for (const [transceiver, track] of [[this.#audioTransceiver, this.#mic], [this.#videoTransceiver, this.#cam]] as const) {
      if (!transceiver) continue;
      if (track && transceiver.sender.track !== track) {
        void transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams?.(local);
      }
      // Able to send later (camera turned on mid-call) without another round of negotiation.
      if (transceiver.direction === 'recvonly' || transceiver.direction === 'inactive') transceiver.direction = 'sendrecv';
    }
  }

  #onTrack(event: RTCTrackEvent): void {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    const screen = event.track.kind === 'video' && this.#peerScreenStreamId !== undefined && stream.id === this.#peerScreenStreamId;
    const source: MediaSource = event.track.kind === 'audio' ? 'microphone' : screen ? 'screen' : 'camera';
    if (source !== 'screen' && !this.#remoteStreams.has(stream.id)) {
      this.#remoteStreams.add(stream.id);
      this.emit('remote-stream', stream);
    }
    this.emit('track', { track: event.track, source, stream });
  }

  #onConnectionState(): void {
    const pc = this.#pc;
    if (!pc || this.#ended) return;
    if (pc.connectionState === 'connected') this.#connectedAt ??= this.#ctx.now();
    const actions = this.#reconnect.state(pc.connectionState as PathState, this.#ctx.now());
    if (pc.connectionState === 'connected' && !actions.some((a) => a.type === 'recovered')) this.#announceConnected(undefined);
    this.#applyReconnect(actions);
  }

  #applyReconnect(actions: ReconnectAction[]): void {
    for (const action of actions) {
      switch (action.type) {
        case 'reconnecting':
          this.emit('reconnecting', { since: action.since });
          // If our address changed, the signaling socket may be dead too: the ICE restart offer needs a live one.
          void this.#call?.checkConnection();
          break;
        case 'restart-ice':
          this.#restartIce();
          break;
        case 'recovered':
          this.#announceConnected(action.downForMs);
          break;
        case 'give-up':
          this.#hangUpWith('connection-lost', `the media path stayed down for ${Math.round(action.downForMs / 1000)} s`);
          break;
      }
    }
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    const wake = this.#reconnect.nextWakeAt();
    if (wake !== undefined && !this.#ended) {
      this.#reconnectTimer = setTimeout(() => this.#applyReconnect(this.#reconnect.tick(this.#ctx.now())), Math.max(0, wake - this.#ctx.now()));
    }
  }

  /**
   * An ICE restart: new candidates and ICE credentials, the offer over the sealed channel (same key, same seq
   * counters: nothing about the encryption changes). Only the caller offers one and nothing is ever rolled back
   * (restart.ts says why): the callee asks the caller; an offer of ours still unanswered is sent again.
   */
  #restartIce(): void {
    this.#enqueue(async () => {
      const pc = this.#pc;
      if (!pc || this.#ended) return;
      const step = restartStep(this.role, { signalingState: pc.signalingState, currentLocal: pc.currentLocalDescription?.sdp, pendingLocal: pc.pendingLocalDescription?.sdp });
      switch (step.type) {
        case 'restart-ice':
          pc.restartIce(); // negotiationneeded makes the offer
          return;
        case 'resend-offer':
          this.#send({ type: 'sdp', description: { type: 'offer', sdp: pc.pendingLocalDescription!.sdp } });
          if (step.thenRestart) pc.restartIce(); // its offer follows the answer (negotiationneeded in stable)
          return;
        case 'ask-caller':
          this.#send({ type: 'restart-ice' });
          return;
        case 'wait':
          return;
      }
    });
  }

  #announceConnected(downForMs: number | undefined): void {
    const pc = this.#pc;
    if (!pc) return;
    const restarts = this.#reconnect.restarts;
    void readPeerStats(pc).then(
      (s) => this.emit('connected', { path: s.path, downForMs, iceRestarts: restarts }),
      () => this.emit('connected', { path: undefined, downForMs, iceRestarts: restarts }),
    );
  }

  async #sample(): Promise<void> {
    if (!this.#media || this.#ended) return;
    const stats = await this.#media.stats().catch(() => undefined);
    if (!stats || this.#ended) return;
    this.#transition(this.#security.media({ framesOpened: stats.opened.frames, authFailures: stats.dropped.auth }));
  }

  #transition(state: SecurityState | undefined): void {
    if (state === undefined) return;
    const previous = this.#lastSecurity;
    this.#lastSecurity = state;
    this.emit('security', { state, previous });
  }

  async #acquire(request: MediaRequest): Promise<void> {
    const audio = request.audio ?? true;
    const video = request.video ?? false;
    if (!audio && !video) {
      this.#local = new MediaStream();
      return;
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: constraint(audio), video: constraint(video) });
    } catch (error) {
      throw mediaError(error, video ? 'camera/microphone' : 'microphone');
    }
    this.#local = stream;
    this.#mic = stream.getAudioTracks()[0];
    this.#cam = stream.getVideoTracks()[0];
    this.emit('local-stream', stream);
  }

  /** Acquires a new microphone or camera track and puts it on the call in place of the old one. */
  async #replaceSource(kind: 'audio' | 'video', spec: true | { deviceId: string }): Promise<void> {
    let track: MediaStreamTrack | undefined;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: constraint(spec) } : { video: constraint(spec) });
      track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    } catch (error) {
      throw mediaError(error, kind === 'audio' ? 'microphone' : 'camera');
    }
    if (!track) throw new MtcallClientError('media-unavailable', `${kind}: no track`);
    if (this.#ended) {
      track.stop();
      return;
    }
    const old = kind === 'audio' ? this.#mic : this.#cam;
    if (kind === 'audio') {
      track.enabled = old?.enabled ?? true;
      this.#mic = track;
    } else this.#cam = track;
    const local = (this.#local ??= new MediaStream());
    if (old) local.removeTrack(old);
    local.addTrack(track);
    const transceiver = kind === 'audio' ? this.#audioTransceiver : this.#videoTransceiver;
    if (transceiver) {
      await transceiver.sender.replaceTrack(track);
      transceiver.sender.setStreams?.(local);
      // A transceiver that cannot send yet renegotiates (negotiationneeded).
      if (transceiver.direction === 'recvonly' || transceiver.direction === 'inactive') transceiver.direction = 'sendrecv';
    }
    old?.stop();
    this.emit('local-stream', local);
  }

  /** Tells the peer what this side sends; `override` announces a screen share about to start. */
  #announce(override?: { screenStreamId: string }): void {
    const message: InCallMessage = { type: 'media', audio: this.microphoneOn, video: this.cameraOn };
    const screenStreamId = override?.screenStreamId ?? this.#screen?.stream.id;
    if (screenStreamId !== undefined) {
      message.screen = true;
      message.screenStreamId = screenStreamId;
    }
    this.#send(message);
  }

  #send(message: InCallMessage): void {
    if (this.#call?.state === 'established' && !this.#ended) this.#call.sendSignal(message);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => {
      if (this.#ended) return;
      this.emit('error', new MtcallClientError('negotiation-failed', error instanceof Error ? error.message : String(error), { cause: error }));
    });
  }

  #assertLive(): void {
    if (this.#ended) throw new MtcallClientError('not-in-call', 'the call has ended');
  }

  #duration(): number {
    if (this.#connectedAt === undefined) return 0;
    return (this.#endedAt ?? this.#ctx.now()) - this.#connectedAt;
  }

  #stopLocal(): void {
    for (const track of this.#local?.getTracks() ?? []) track.stop();
    this.#mic?.stop();
    this.#cam?.stop();
  }

  async #finish(end: Omit<CallEnd, 'durationMs'>): Promise<void> {
    if (this.#ended) return;
    this.#endedAt = this.#ctx.now();
    this.#ended = { ...end, durationMs: 0 };
    this.#ended.durationMs = this.#duration();
    if (this.#statsTimer !== undefined) clearInterval(this.#statsTimer);
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#screen?.track.stop();
    this.#stopLocal();
    this.#ctx.forget(this);
    const media = this.#media;
    const pc = this.#pc;
    this.emit('ended', this.#ended);
    await media?.end().catch(() => undefined);
    pc?.close();
  }
}

function constraint(spec: boolean | { deviceId: string }): boolean | MediaTrackConstraints {
  return typeof spec === 'boolean' ? spec : { deviceId: { exact: spec.deviceId } };
}

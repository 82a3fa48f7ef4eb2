/**
 * The werift adapter: one call's RTCPeerConnection, with SDP and ICE over the call's sealed signaling channel
 * (as the demo's session.ts does it: the caller offers, both trickle ICE), audio RTP payloads handed to the
 * AudioPipeline, and sealed Opus frames sent back as RTP. Audio only is sent; inbound VP8 RTP goes to the
 * VideoReceiver (depacketized into frames and opened with the same FrameCryptor).
 *
 * Recovery, as the browsers do it: the client's `ReconnectPolicy` is fed the path's state (werift's connection
 * state; no RTP for 2.5 s counts as down, and so does no transport-wide feedback for 2.5 s on the audio we send:
 * `PathWatch`); it says when to restart ICE (a new offer with new ICE credentials over the sealed channel — same key,
 * same seq counters) and when to give up (`connection-lost`).
 * Either side may offer; a collision is resolved by perfect negotiation (the caller is impolite and ignores the
 * colliding offer, the callee rolls back). After a recovery the peer asks for a key frame (PLI) until one arrives.
 */

import { MediaStreamTrack, RtpHeader, RtpPacket, useOPUS, useTransportWideCC, useTWCC, useVP8, type RTCRtpTransceiver } from 'werift';
import { ReconnectPolicy, type PathState, type ReconnectAction, type ReconnectOptions } from '@mtcall/client';
import type { Call, IceServerInfo, InCallMessage } from '@mtcall/signaling';
import { AudioPipeline, FRAME_SAMPLES, type MediaReport } from './media.js';
import { VideoReceiver, type VideoReport } from './video.js';
import { PathWatch, type PathWatchOptions } from './path-watch.js';
import { PeerConnection } from './peer-connection.js';

/** RTCP transport-layer feedback (RFC 4585), and its transport-wide congestion control format (draft-holmer-rmcat-transport-wide-cc-extensions). */
const RTCP_TRANSPORT_FEEDBACK = 205;
const TWCC_FORMAT = 15;

/** What the peer sends: a sine tone (Opus-encoded here), the frames it receives re-sealed (echo), or nothing. */
export type SendMode = { type: 'tone'; frequency: number } | { type: 'echo' } | { type: 'none' };

export interface MediaPeerOptions {
  call: Call;
  send: SendMode;
  wrongKey?: boolean;
  record?: boolean;
  /** Extra ICE host addresses (e.g. 127.0.0.1 on a machine with no other interface). */
  iceAdditionalHostAddresses?: string[];
  /** ICE servers (the signaling server's TURN relays); none: host candidates only. */
  iceServers?: IceServerInfo[];
  /** Relay-only ICE (iceTransportPolicy 'relay'), as the browsers' "relay only". */
  relay?: boolean;
  /** When to restart ICE and when to give up on a broken path (the client's defaults: 2 s, every 8 s, 30 s). */
  reconnect?: Partial<ReconnectOptions>;
  /** How long without RTP counts as a broken path, how often to ask for a key frame after one. */
  pathWatch?: Partial<PathWatchOptions>;
  /** The clock (injectable for tests); Date.now by default. */
  now?: () => number;
  onError?: (message: string) => void;
  /** Path events: reconnecting, ICE restarts, recovered, given up. */
  onPath?: (line: string) => void;
}

/** The path's recovery so far. */
export interface PathReport {
  reconnecting: boolean;
  recoveries: number;
  iceRestarts: number;
  /** How long the path was down before the last recovery (ms, from the moment it was noticed). */
  lastDownForMs?: number;
  /** Key-frame requests (PLI) sent after recoveries. */
  keyFrameRequests: number;
}

export interface PeerReport extends MediaReport {
  connectionState: string;
  video: VideoReport;
  path: PathReport;
}

export class MediaPeer {
  readonly pc: PeerConnection;
  readonly pipeline: AudioPipeline;
  readonly #call: Call;
  readonly #options: MediaPeerOptions;
  #audio: RTCRtpTransceiver | undefined;
  #queue: Promise<void>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sequence = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  readonly video: VideoReceiver;
  #closed = false;
  readonly #policy: ReconnectPolicy;
  readonly #watch: PathWatch;
  readonly #now: () => number;
  #pathTimer: ReturnType<typeof setInterval> | undefined;
  #lastPathState: PathState = 'new';
  #path: PathReport = { reconnecting: false, recoveries: 0, iceRestarts: 0, keyFrameRequests: 0 };
  /** Tracks whose RTP we already read (werift announces a track again on renegotiation). */
  readonly #subscribed = new WeakSet<MediaStreamTrack>();
  /** DTLS transports whose RTCP we already read (for the far side's transport-wide feedback). */
  readonly #rtcpRead = new WeakSet<object>();
  /** Perfect negotiation: the remote offer we ignored (impolite side), whose candidates are expected to fail. */
  #ignoringOffer = false;
  #keyFramesSeen = 0;

  constructor(options: MediaPeerOptions) {
    this.#options = options;
    this.#call = options.call;
    const keys = options.call.keys;
    if (!keys) throw new Error('the call has no key yet');
    this.pipeline = new AudioPipeline({ key: keys.key, outgoing: options.call.direction === 'outgoing', wrongKey: options.wrongKey ?? false, record: options.record ?? false });
    this.video = new VideoReceiver(this.pipeline.cryptor);
    this.#now = options.now ?? Date.now;
    this.#policy = new ReconnectPolicy(options.reconnect ?? {});
    this.#watch = new PathWatch(options.pathWatch ?? {});
    this.pc = new PeerConnection({
      // Transport-wide congestion control: the far side's feedback on our audio (every ~0.1 s while it receives) is
      // what tells the path watch our media still arrives; on video too, so the browser's bandwidth estimate gets
      // feedback for everything it sends (it then probes with padding-only packets, skipped in #onTrack).
      codecs: { audio: [useOPUS({ rtcpFeedback: [useTWCC()] })], video: [useVP8()] },
      headerExtensions: { audio: [useTransportWideCC()], video: [useTransportWideCC()] },
      iceServers: (options.iceServers ?? []).map((s) => ({ ...s, urls: [...s.urls] })),
      iceTransportPolicy: options.relay ? 'relay' : 'all',
      ...(options.iceAdditionalHostAddresses ? { iceAdditionalHostAddresses: options.iceAdditionalHostAddresses } : {}),
    });
    this.pc.onTrack.subscribe((track) => this.#onTrack(track));
    this.pc.onIceCandidate.subscribe((candidate) => this.#send({ type: 'ice', candidate: candidate ? candidate.toJSON() : null }));
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.#startSending();
      this.#readRtcp();
      this.#checkPath();
    });
    this.#pathTimer = setInterval(() => this.#checkPath(), 250);
    this.#call.on('signal', (message) => this.#enqueue(() => this.#onSignal(message)));
    this.#call.on('ended', () => void this.close());
    this.#queue = this.pipeline.ready();
    if (this.#call.direction === 'outgoing') this.#enqueue(() => this.#offer());
  }

  report(): PeerReport {
    return { ...this.pipeline.report(), connectionState: this.pc.connectionState, video: this.video.report(), path: { ...this.#path } };
  }

  /**
   * Restarts ICE now (e.g. the host's network changed), as the reconnect policy does when the path breaks: a new
   * offer with new ICE credentials over the sealed channel. Either side may; a collision is resolved as perfect
   * negotiation does (the callee's offer gives way).
   */
  restartIce(): void {
    if (!this.#closed) this.#apply({ type: 'restart-ice' }, this.#now());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#pathTimer !== undefined) clearInterval(this.#pathTimer);
    await this.pc.close().catch(() => undefined);
    this.pipeline.destroy();
  }

  async #offer(): Promise<void> {
    this.#audio = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.#send({ type: 'sdp', description: { type: 'offer', sdp: this.pc.localDescription!.sdp } });
  }

  /** Restarts ICE: a new offer with new ICE credentials (skipped while another negotiation is under way). */
  async #restartIce(): Promise<void> {
    if (this.#closed || this.pc.signalingState !== 'stable') return;
    const offer = await this.pc.createOffer({ iceRestart: true });
    await this.pc.setLocalDescription(offer);
    this.#send({ type: 'sdp', description: { type: 'offer', sdp: this.pc.localDescription!.sdp } });
  }

  /**
   * werift 0.24 does not run the connectivity checks of an ICE restart by itself: its connect() returns early when
   * DTLS is already up, leaving the restarted ICE transport idle ('new', or 'completed' once its candidates are
   * gathered). Start them (DTLS carries on over the new pair).
   */
  #startRestartedIce(): void {
    for (const dtls of this.pc.dtlsTransports) {
      const ice = dtls.iceTransport;
      if ((ice.state === 'new' || ice.state === 'completed') && dtls.state === 'connected') ice.start().catch((e: unknown) => this.#options.onError?.(`ICE restart: ${String(e)}`));
    }
  }

  async #onSignal(message: InCallMessage): Promise<void> {
    switch (message.type) {
      case 'sdp': {
        const description = message.description;
        const collision = description.type === 'offer' && this.pc.signalingState !== 'stable';
        // Perfect negotiation, as the browsers: the caller ignores a colliding offer; the callee rolls back (werift
        // rolls back implicitly when an offer arrives in have-local-offer).
        this.#ignoringOffer = collision && this.#call.direction === 'outgoing';
        if (this.#ignoringOffer) return;
        await this.pc.setRemoteDescription(description);
        if (description.type === 'answer') this.#startRestartedIce();
        if (description.type === 'offer') {
          for (const t of this.pc.getTransceivers()) {
            // Ours stays sendrecv on every re-offer (an ICE restart's included); the rest only receive.
            if (t.kind === 'audio' && (!this.#audio || t === this.#audio)) {
              this.#audio = t;
              t.setDirection('sendrecv');
            } else t.setDirection('recvonly');
          }
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          this.#send({ type: 'sdp', description: { type: 'answer', sdp: this.pc.localDescription!.sdp } });
          this.#startRestartedIce();
        }
        return;
      }
      case 'ice':
        if (!message.candidate) return;
        try {
          await this.pc.addIceCandidate(message.candidate as never);
        } catch (error) {
          if (!this.#ignoringOffer) throw error; // a candidate of the offer we ignored is expected to fail
        }
        return;
      case 'hangup':
        this.#call.hangUp();
        return;
      case 'restart-ice':
        // A browser callee asks its caller to restart ICE (it offers none itself: @mtcall/client's restart.ts).
        if (this.#call.direction === 'outgoing') this.restartIce();
        return;
      default:
        return;
    }
  }

  #onTrack(track: MediaStreamTrack): void {
    if (this.#subscribed.has(track)) return; // announced again by a renegotiation: already read
    this.#subscribed.add(track);
    track.onReceiveRtp.subscribe(() => this.#watch.rtp(this.#now()));
    if (track.kind === 'video') {
      // Only VP8 is negotiated (useVP8), so every video packet is VP8.
      track.onReceiveRtp.subscribe((rtp) => {
        if (this.#closed || rtp.payload.length === 0) return; // padding only (the sender probing bandwidth): no media
        const mid = this.#midOf(track);
        if (mid === undefined) return; // not negotiated: nothing can be opened (frames are bound to their mid)
        this.video.receive({ sequenceNumber: rtp.header.sequenceNumber, timestamp: rtp.header.timestamp, marker: rtp.header.marker, payload: rtp.payload }, mid, track.codec?.mimeType);
      });
      return;
    }
    track.onReceiveRtp.subscribe((rtp) => {
      if (this.#closed || rtp.payload.length === 0) return; // padding only: no media
      const mid = this.#midOf(track);
      if (mid === undefined) return;
      const result = this.pipeline.receive(rtp.payload, mid);
      const ours = this.#audio?.mid;
      if (result.ok && result.frame.length > 0 && this.#options.send.type === 'echo' && ours) this.#sendPayload(this.pipeline.seal(result.frame, ours));
    });
  }

  /** The mid of the transceiver receiving `track` (frames are sealed bound to it), once negotiated. */
  #midOf(track: MediaStreamTrack): string | undefined {
    return this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.mid ?? undefined;
  }

  /** Tells the path watch when the far side's transport-wide feedback arrives (subscribed once per DTLS transport). */
  #readRtcp(): void {
    for (const dtls of this.pc.dtlsTransports) {
      if (this.#rtcpRead.has(dtls)) continue;
      this.#rtcpRead.add(dtls);
      dtls.onRtcp.subscribe((packet) => {
        // Transport-wide feedback (RTPFB 15) is sent only while our packets arrive.
        if (!this.#closed && packet.type === RTCP_TRANSPORT_FEEDBACK && 'feedback' in packet && packet.feedback.count === TWCC_FORMAT) this.#watch.answered(this.#now());
      });
    }
  }

  /** Feeds the reconnect policy the path's state and the clock; asks for key frames after a recovery. */
  #checkPath(): void {
    if (this.#closed) return;
    this.#readRtcp(); // werift may create a transport on renegotiation
    const now = this.#now();
    const state = this.#watch.state(this.pc.connectionState as PathState, now);
    const actions = state !== this.#lastPathState ? this.#policy.state(state, now) : this.#policy.tick(now);
    this.#lastPathState = state;
    for (const action of actions) this.#apply(action, now);
    const keyFrames = this.video.report().keyFrames;
    if (keyFrames > this.#keyFramesSeen) {
      this.#keyFramesSeen = keyFrames;
      this.#watch.keyFrame();
    }
    if (this.#watch.shouldRequestKeyFrame(now)) this.#requestKeyFrame();
  }

  #apply(action: ReconnectAction, now: number): void {
    const say = this.#options.onPath ?? (() => undefined);
    switch (action.type) {
      case 'reconnecting':
        this.#path.reconnecting = true;
        say('media path down: reconnecting');
        void this.#call.checkConnection(); // a changed address may have killed the signaling socket too
        return;
      case 'restart-ice':
        this.#path.iceRestarts++;
        say(`restarting ICE (${this.#path.iceRestarts})`);
        this.#enqueue(() => this.#restartIce());
        return;
      case 'recovered':
        this.#path = { ...this.#path, reconnecting: false, recoveries: this.#path.recoveries + 1, lastDownForMs: action.downForMs };
        say(`media path back after ${action.downForMs} ms`);
        this.#watch.recovered(now);
        return;
      case 'give-up':
        this.#path.reconnecting = false;
        say(`media path down for ${action.downForMs} ms: giving up`);
        this.#call.hangUp('connection-lost');
        return;
    }
  }

  /** PLI for every video stream we receive (the sender's encoder then sends a key frame). */
  #requestKeyFrame(): void {
    for (const t of this.pc.getTransceivers()) {
      if (t.kind !== 'video') continue;
      for (const track of t.receiver.tracks) {
        if (track.ssrc === undefined) continue;
        this.#path.keyFrameRequests++;
        t.receiver.sendRtcpPLI(track.ssrc).catch(() => undefined);
      }
    }
  }

  /** Tone mode: one sealed 20 ms frame per 20 ms of wall time (catching up after a late timer, at most 5 at once). */
  #startSending(): void {
    const send = this.#options.send;
    if (send.type !== 'tone' || this.#timer !== undefined) return;
    const start = Date.now();
    let sent = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((Date.now() - start) / 20) + 1;
      const mid = this.#audio?.mid;
      if (!mid) return;
      for (let i = 0; i < 5 && sent < due; i++, sent++) this.#sendPayload(this.pipeline.sealTone(send.frequency, mid));
      if (due - sent > 50) sent = due; // far behind (a stalled machine): skip rather than burst
    }, 10);
  }

  #sendPayload(payload: Uint8Array): void {
    const sender = this.#audio?.sender;
    if (!sender || this.#closed) return;
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + FRAME_SAMPLES) >>> 0;
    const header = new RtpHeader({ sequenceNumber: this.#sequence, timestamp: this.#timestamp, marker: false, payloadType: 111 });
    this.#watch.sent(this.#now());
    sender.sendRtp(new RtpPacket(header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))).catch((e: unknown) => this.#options.onError?.(String(e)));
  }

  #send(message: InCallMessage): void {
    if (this.#call.state === 'established') this.#call.sendSignal(message);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => this.#options.onError?.(error instanceof Error ? error.message : String(error)));
  }
}

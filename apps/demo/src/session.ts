/**
 * One call's media: the peer connection, the frame encryption (SecureCall) and the SDP/ICE exchange over the
 * call's sealed signaling channel. Created when the key is agreed — so even the first offer travels sealed and
 * the DTLS fingerprints in it are bound to the emoji-verified key.
 */

import type { Call, InCallMessage } from '@mtcall/signaling';
import { SecureCall, detectTransformMode, type TransformMode, type TransportStats } from '@mtcall/transport';

export interface SessionOptions {
  call: Call;
  local: MediaStream;
  /** Video codec to force first (e.g. 'VP8', 'H264'); default: the browser's order. */
  codec?: string | undefined;
  transform?: TransformMode | undefined;
  relayOnly?: boolean;
  /** The call's encryption worker (default: the product worker, ./worker.ts; the test build passes its own). */
  createWorker?: (() => Worker) | undefined;
  iceServers?: RTCIceServer[];
  onRemoteTrack: (stream: MediaStream) => void;
  onPeerMedia: (state: { audio: boolean; video: boolean }) => void;
  onError: (message: string) => void;
}

/** Inbound media figures the UI and the tests read from getStats. */
export interface InboundStats {
  videoFramesDecoded: number;
  /** Inbound video streams that decoded at least one frame (2 when the peer sends a camera and a screen share). */
  videoStreamsDecoding: number;
  videoCodec?: string | undefined;
  audioPacketsReceived: number;
  audioSamplesReceived: number;
  audioCodec?: string | undefined;
  outboundVideoCodec?: string | undefined;
  candidateType?: string | undefined;
  /** The selected pair's remote candidate type. */
  remoteCandidateType?: string | undefined;
  connectionState: RTCPeerConnectionState;
  iceGatheringState: RTCIceGatheringState;
  /** Types of the local candidates gathered so far, e.g. ['host', 'relay']. */
  localCandidateTypes: string[];
  /** ICE server errors (icecandidateerror), e.g. a TURN relay refusing credentials with 401. */
  iceErrors: { code: number; text: string; url: string }[];
}

export class MediaSession {
  readonly pc: RTCPeerConnection;
  readonly media: SecureCall;
  readonly #call: Call;
  readonly #localCandidateTypes = new Set<string>();
  readonly #iceErrors: InboundStats['iceErrors'] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: SessionOptions) {
    this.#call = options.call;
    const keys = options.call.keys!;
    const mode = options.transform ?? detectTransformMode();
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers ?? [],
      iceTransportPolicy: options.relayOnly ? 'relay' : 'all',
      ...SecureCall.peerConnectionConfig(mode),
    } as RTCConfiguration);
    const worker = options.createWorker?.() ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.media = new SecureCall({ pc: this.pc, key: keys.key, outgoing: options.call.direction === 'outgoing', worker, ...(mode ? { mode } : {}) });
    this.media.on('error', (e) => options.onError(e.message));
    // The spec's abort (seq counter at 2^30): end the call; the server tells the peer the reason (phoneCallDiscarded).
    this.media.on('abort', ({ reason }) => this.#call.hangUp(reason));

    if (options.call.direction === 'outgoing') {
      // The caller offers; the callee's transceivers come from the offer and get its tracks in #onSignal.
      for (const track of options.local.getTracks()) {
        const transceiver = this.pc.addTransceiver(track, { direction: 'sendrecv', streams: [options.local] });
        this.media.attach(); // restricts codecs first, so our preference below is the last word
        if (track.kind === 'video' && options.codec) this.#preferCodec(transceiver, options.codec);
      }
    }
    this.pc.addEventListener('track', (event) => options.onRemoteTrack(event.streams[0] ?? new MediaStream([event.track])));
    this.pc.addEventListener('icecandidateerror', (event) => {
      const e = event as RTCPeerConnectionIceErrorEvent;
      if (this.#iceErrors.length < 20) this.#iceErrors.push({ code: e.errorCode, text: e.errorText, url: e.url });
    });
    this.pc.addEventListener('icecandidate', (event) => {
      if (event.candidate?.type) this.#localCandidateTypes.add(event.candidate.type);
    });
    this.pc.addEventListener('icecandidate', (event) => this.#send({ type: 'ice', candidate: event.candidate ? { ...event.candidate.toJSON(), candidate: event.candidate.candidate } : null }));
    this.#call.on('signal', (message) => this.#enqueue(() => this.#onSignal(message)));
    if (options.call.direction === 'outgoing') this.#enqueue(() => this.#offer());
  }

  /** Tells the peer whether our microphone and camera are on. */
  announceMedia(state: { audio: boolean; video: boolean }): void {
    this.#send({ type: 'media', ...state });
  }

  async inbound(): Promise<InboundStats> {
    const report = await this.pc.getStats();
    const stats: InboundStats = {
      videoFramesDecoded: 0, videoStreamsDecoding: 0, audioPacketsReceived: 0, audioSamplesReceived: 0, connectionState: this.pc.connectionState,
      iceGatheringState: this.pc.iceGatheringState, localCandidateTypes: [...this.#localCandidateTypes], iceErrors: [...this.#iceErrors],
    };
    const codecs = new Map<string, string>();
    report.forEach((s: Record<string, unknown>) => {
      if (s['type'] === 'codec') codecs.set(s['id'] as string, s['mimeType'] as string);
    });
    report.forEach((s: Record<string, unknown>) => {
      if (s['type'] === 'inbound-rtp' && s['kind'] === 'video') {
        stats.videoFramesDecoded += (s['framesDecoded'] as number) ?? 0;
        if (((s['framesDecoded'] as number) ?? 0) > 0) stats.videoStreamsDecoding++;
        if (s['codecId']) stats.videoCodec = codecs.get(s['codecId'] as string);
      }
      if (s['type'] === 'inbound-rtp' && s['kind'] === 'audio') {
        stats.audioPacketsReceived += (s['packetsReceived'] as number) ?? 0;
        stats.audioSamplesReceived += (s['totalSamplesReceived'] as number) ?? 0;
        if (s['codecId']) stats.audioCodec = codecs.get(s['codecId'] as string);
      }
      if (s['type'] === 'outbound-rtp' && s['kind'] === 'video' && s['codecId']) stats.outboundVideoCodec = codecs.get(s['codecId'] as string);
      if (s['type'] === 'candidate-pair' && (s['nominated'] || s['selected']) && s['state'] === 'succeeded') {
        const local = report.get(s['localCandidateId'] as string) as Record<string, unknown> | undefined;
        if (local) stats.candidateType = local['candidateType'] as string;
        const remote = report.get(s['remoteCandidateId'] as string) as Record<string, unknown> | undefined;
        if (remote) stats.remoteCandidateType = remote['candidateType'] as string;
      }
    });
    return stats;
  }

  transportStats(): Promise<TransportStats> {
    return this.media.stats();
  }

  async close(): Promise<void> {
    for (const sender of this.pc.getSenders()) sender.track?.stop();
    await this.media.end().catch(() => undefined);
    this.pc.close();
  }

  #preferCodec(transceiver: RTCRtpTransceiver, codec: string): void {
    const all = SecureCall.allowedCodecs('video') ?? [];
    const wanted = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
    if (wanted.length === 0) {
      this.options.onError(`this browser cannot send ${codec}`);
      return;
    }
    // Only the wanted codec (plus retransmission), so the call really uses it.
    const rest = all.filter((c) => /rtx/i.test(c.mimeType));
    transceiver.setCodecPreferences([...wanted, ...rest]);
  }

  async #offer(): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.#send({ type: 'sdp', description: { type: 'offer', sdp: this.pc.localDescription!.sdp } });
  }

  async #onSignal(message: InCallMessage): Promise<void> {
    switch (message.type) {
      case 'sdp': {
        await this.pc.setRemoteDescription(message.description as RTCSessionDescriptionInit);
        if (message.description.type === 'offer') {
          this.media.attach();
          // The callee's transceivers come from the offer: force the codec on them too.
          if (this.options.codec) {
            for (const t of this.pc.getTransceivers()) if (t.receiver.track.kind === 'video') this.#preferCodec(t, this.options.codec);
          }
          for (const track of this.options.local.getTracks()) {
            const t = this.pc.getTransceivers().find((x) => x.receiver.track.kind === track.kind && !x.sender.track);
            if (t) {
              await t.sender.replaceTrack(track);
              t.sender.setStreams?.(this.options.local);
              t.direction = 'sendrecv';
            }
          }
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          this.#send({ type: 'sdp', description: { type: 'answer', sdp: this.pc.localDescription!.sdp } });
        }
        return;
      }
      case 'ice':
        if (message.candidate) await this.pc.addIceCandidate(message.candidate as RTCIceCandidateInit);
        return;
      case 'media':
        this.options.onPeerMedia({ audio: message.audio, video: message.video });
        return;
      default:
        return;
    }
  }

  #send(message: InCallMessage): void {
    if (this.#call.state === 'established') this.#call.sendSignal(message);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => this.options.onError(error instanceof Error ? error.message : String(error)));
  }
}

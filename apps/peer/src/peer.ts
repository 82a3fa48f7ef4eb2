/**
 * The werift adapter: one call's RTCPeerConnection, with SDP and ICE over the call's sealed signaling channel
 * (as the demo's session.ts does it: the caller offers, both trickle ICE), audio RTP payloads handed to the
 * AudioPipeline, and sealed Opus frames sent back as RTP. Audio only is sent; inbound VP8 RTP goes to the
 * VideoReceiver (depacketized into frames and opened with the same FrameCryptor).
 */

import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, useOPUS, useVP8, type RTCRtpTransceiver } from 'werift';
import type { Call, InCallMessage } from '@mtcall/signaling';
import { AudioPipeline, FRAME_SAMPLES, type MediaReport } from './media.js';
import { VideoReceiver, type VideoReport } from './video.js';

/** What the peer sends: a sine tone (Opus-encoded here), the frames it receives re-sealed (echo), or nothing. */
export type SendMode = { type: 'tone'; frequency: number } | { type: 'echo' } | { type: 'none' };

export interface MediaPeerOptions {
  call: Call;
  send: SendMode;
  wrongKey?: boolean;
  record?: boolean;
  /** Extra ICE host addresses (e.g. 127.0.0.1 on a machine with no other interface). */
  iceAdditionalHostAddresses?: string[];
  onError?: (message: string) => void;
}

export interface PeerReport extends MediaReport {
  connectionState: string;
  video: VideoReport;
}

export class MediaPeer {
  readonly pc: RTCPeerConnection;
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

  constructor(options: MediaPeerOptions) {
    this.#options = options;
    this.#call = options.call;
    const keys = options.call.keys;
    if (!keys) throw new Error('the call has no key yet');
    this.pipeline = new AudioPipeline({ key: keys.key, outgoing: options.call.direction === 'outgoing', wrongKey: options.wrongKey ?? false, record: options.record ?? false });
    this.video = new VideoReceiver(this.pipeline.cryptor);
    this.pc = new RTCPeerConnection({
      codecs: { audio: [useOPUS()], video: [useVP8()] },
      ...(options.iceAdditionalHostAddresses ? { iceAdditionalHostAddresses: options.iceAdditionalHostAddresses } : {}),
    });
    this.pc.onTrack.subscribe((track) => this.#onTrack(track));
    this.pc.onIceCandidate.subscribe((candidate) => this.#send({ type: 'ice', candidate: candidate ? candidate.toJSON() : null }));
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.#startSending();
    });
    this.#call.on('signal', (message) => this.#enqueue(() => this.#onSignal(message)));
    this.#call.on('ended', () => void this.close());
    this.#queue = this.pipeline.ready();
    if (this.#call.direction === 'outgoing') this.#enqueue(() => this.#offer());
  }

  report(): PeerReport {
    return { ...this.pipeline.report(), connectionState: this.pc.connectionState, video: this.video.report() };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
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

  async #onSignal(message: InCallMessage): Promise<void> {
    switch (message.type) {
      case 'sdp':
        await this.pc.setRemoteDescription(message.description);
        if (message.description.type === 'offer') {
          for (const t of this.pc.getTransceivers()) {
            if (t.kind === 'audio' && !this.#audio) {
              this.#audio = t;
              t.setDirection('sendrecv');
            } else t.setDirection('recvonly');
          }
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          this.#send({ type: 'sdp', description: { type: 'answer', sdp: this.pc.localDescription!.sdp } });
        }
        return;
      case 'ice':
        if (message.candidate) await this.pc.addIceCandidate(message.candidate as never);
        return;
      case 'hangup':
        this.#call.hangUp();
        return;
      default:
        return;
    }
  }

  #onTrack(track: MediaStreamTrack): void {
    if (track.kind === 'video') {
      // Only VP8 is negotiated (useVP8), so every video packet is VP8.
      track.onReceiveRtp.subscribe((rtp) => {
        if (this.#closed) return;
        const mid = this.#midOf(track);
        if (mid === undefined) return; // not negotiated: nothing can be opened (frames are bound to their mid)
        this.video.receive({ sequenceNumber: rtp.header.sequenceNumber, timestamp: rtp.header.timestamp, marker: rtp.header.marker, payload: rtp.payload }, mid, track.codec?.mimeType);
      });
      return;
    }
    track.onReceiveRtp.subscribe((rtp) => {
      if (this.#closed) return;
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
    sender.sendRtp(new RtpPacket(header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))).catch((e: unknown) => this.#options.onError?.(String(e)));
  }

  #send(message: InCallMessage): void {
    if (this.#call.state === 'established') this.#call.sendSignal(message);
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => this.#options.onError?.(error instanceof Error ? error.message : String(error)));
  }
}

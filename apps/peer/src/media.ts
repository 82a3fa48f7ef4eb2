/**
 * The peer's media core, sans-IO: RTP payload ↔ FrameCryptor ↔ Opus. Receiving: an Opus RTP payload is one
 * sealed frame (the browsers' encoded transform output); it is opened with `FrameCryptor.decrypt` (the same
 * replay and stream rules as the browsers), decoded with `opus-decoder` and analysed. Sending: 20 ms of PCM is
 * encoded with libopus (opusscript, WebAssembly — no native build) and sealed with `FrameCryptor.encrypt`, or
 * an opened frame is re-sealed as it is (echo). The werift adapter only moves these payloads.
 */

import { OpusDecoder } from 'opus-decoder';
import OpusScript from 'opusscript';
import { FrameCryptor, type FrameCryptorStats, type FrameDropReason } from '@mtcall/transport';
import { AudioAnalyzer, ToneSource, type AudioReport } from './audio.js';

export const SAMPLE_RATE = 48_000;
/** 20 ms at 48 kHz: the RTP timestamp step of one Opus frame. */
export const FRAME_SAMPLES = 960;

/** What the peer's audio did, as the CLI prints it and the tests read it. */
export interface MediaReport {
  audio: AudioReport & {
    /** RTP packets received on the audio track. */
    packets: number;
    /** Frames opened and decoded. */
    decoded: number;
    /** Empty (DTX) frames passed through. */
    empty: number;
    /** Opus decode errors. */
    decodeErrors: number;
    /** Frames sealed and sent. */
    sent: number;
  };
  crypto: FrameCryptorStats;
  /** Sum of all drop reasons. */
  dropped: number;
}

export interface AudioPipelineOptions {
  key: Uint8Array;
  /** true on the caller (seals at x = 0, opens at x = 8). */
  outgoing: boolean;
  /** TEST HOOK: use a key with one byte changed (nothing opens; everything is an auth drop). */
  wrongKey?: boolean;
  /** Keep every decoded sample (for --record). */
  record?: boolean;
}

/** One call's audio in both directions. Call `ready()` once before `receive`. */
export class AudioPipeline {
  readonly cryptor: FrameCryptor;
  readonly analyzer: AudioAnalyzer;
  readonly #decoder = new OpusDecoder({ channels: 1, sampleRate: SAMPLE_RATE });
  #encoder: OpusScript | undefined;
  #tone: ToneSource | undefined;
  #packets = 0;
  #decoded = 0;
  #empty = 0;
  #decodeErrors = 0;
  #sent = 0;

  constructor(options: AudioPipelineOptions) {
    const key = options.wrongKey ? options.key.map((b, i) => (i === 100 ? b ^ 1 : b)) : options.key;
    // Synchronous crypto only: frames are opened in arrival order, as the replay window expects.
    this.cryptor = new FrameCryptor(key, options.outgoing ? 'caller' : 'callee', { asyncBackend: null });
    this.analyzer = new AudioAnalyzer(SAMPLE_RATE, { record: options.record ?? false });
  }

  /** Loads the Opus decoder (WebAssembly). */
  async ready(): Promise<void> {
    await this.#decoder.ready;
  }

  /**
   * A received RTP payload (one sealed Opus frame) of the audio transceiver `mid`: opens, decodes, analyses it.
   * Returns the opened Opus frame (for echo), or why it was dropped (`wrong-stream`: sealed for another stream).
   */
  receive(payload: Uint8Array, mid: string): { ok: true; frame: Uint8Array } | { ok: false; reason: FrameDropReason } {
    this.#packets++;
    const opened = this.cryptor.decrypt(payload, { kind: 'audio', mid });
    if (!opened.ok) return opened;
    if (opened.frame.length === 0) {
      this.#empty++;
      return opened;
    }
    const decoded = this.#decoder.decodeFrame(opened.frame);
    if (decoded.errors.length > 0 || decoded.samplesDecoded === 0) this.#decodeErrors++;
    else {
      this.#decoded++;
      this.analyzer.push(decoded.channelData[0]!.subarray(0, decoded.samplesDecoded));
    }
    return { ok: true, frame: opened.frame.slice() };
  }

  /** Seals an Opus frame for our direction and our audio transceiver `mid` (an encoded tone, or an opened frame sent back in echo mode). */
  seal(opusFrame: Uint8Array, mid: string): Uint8Array {
    this.#sent++;
    return this.cryptor.encrypt(opusFrame, { kind: 'audio', mid }, 'opus');
  }

  /** The next 20 ms of a sine tone, Opus-encoded and sealed. */
  sealTone(frequency: number, mid: string): Uint8Array {
    if (!this.#encoder) {
      this.#encoder = new OpusScript(SAMPLE_RATE, 1, OpusScript.Application.AUDIO);
      this.#encoder.setBitrate(32_000);
    }
    if (this.#tone?.frequency !== frequency) this.#tone = new ToneSource(frequency, SAMPLE_RATE, FRAME_SAMPLES);
    const pcm = this.#tone.next();
    const encoded = this.#encoder.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), FRAME_SAMPLES);
    return this.seal(new Uint8Array(encoded), mid);
  }

  report(): MediaReport {
    const crypto = this.cryptor.stats;
    return {
      audio: { ...this.analyzer.report(), packets: this.#packets, decoded: this.#decoded, empty: this.#empty, decodeErrors: this.#decodeErrors, sent: this.#sent },
      crypto,
      dropped: Object.values(crypto.dropped).reduce((a, b) => a + b, 0),
    };
  }

  /** Wipes the keys and frees the codecs. */
  destroy(): void {
    this.cryptor.destroy();
    this.#decoder.free();
    this.#encoder?.delete();
  }
}

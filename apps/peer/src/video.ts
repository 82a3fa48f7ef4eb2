/**
 * Received video, sans-IO: VP8 RTP packets → whole encoded frames → `FrameCryptor.decrypt(frame, { kind: 'video', mid })`.
 *
 * The VP8 payload descriptor (RFC 7741 §4.2) is parsed with werift's own `Vp8RtpPayload`. A frame is the packets
 * of one RTP timestamp from the one with S=1 and PID 0 to the one with the marker bit, with no sequence number
 * missing in between; packets may arrive in any order within a frame (and duplicates are ignored). Once a later
 * frame completes, an earlier one still missing packets is dropped as `incomplete`, and packets that arrive for
 * frames already emitted or dropped are counted as `late` and ignored, so frames leave in sequence order and the
 * opener's replay window sees them in order.
 */

import { Vp8RtpPayload } from 'werift';
import type { FrameCryptor, FrameDropReason } from '@mtcall/transport';

/** The parts of an RTP packet the depacketizer reads. */
export interface VideoRtp {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

/** One encoded frame as the sender's encoded transform output it (for the browsers: a sealed frame). */
export interface EncodedVideoFrame {
  data: Uint8Array;
  timestamp: number;
  /** From the VP8 payload header's P bit (in the clear part of a sealed frame). */
  keyFrame: boolean;
  packets: number;
}

export interface Vp8DepacketizerStats {
  packets: number;
  frames: number;
  /** Frames given up: a later frame completed first (a lost packet). */
  incomplete: number;
  /** Packets for a frame already emitted or given up (or repeated). */
  late: number;
  /** Packets too short to hold a payload descriptor. */
  malformedPackets: number;
}

interface Fragment {
  payload: Uint8Array;
  start: boolean;
  end: boolean;
  keyFrame: boolean;
}

interface PendingFrame {
  timestamp: number;
  fragments: Map<number, Fragment>;
  first?: number;
  last?: number;
  /** The lowest (unwrapped) sequence number seen. */
  low: number;
}

/** Frames waiting for packets beyond this are given up oldest first (a stream that lost its frame starts). */
const MAX_PENDING = 64;

export class Vp8Depacketizer {
  readonly #pending = new Map<number, PendingFrame>();
  /** The highest unwrapped sequence number seen, for unwrapping the next. */
  #highest: number | undefined;
  /** Packets at or below this (unwrapped) sequence number belong to frames already emitted or given up. */
  #done = -Infinity;
  readonly #stats: Vp8DepacketizerStats = { packets: 0, frames: 0, incomplete: 0, late: 0, malformedPackets: 0 };

  get stats(): Vp8DepacketizerStats {
    return { ...this.#stats };
  }

  /** One received RTP packet; returns the frames it completed (in sequence order). */
  push(rtp: VideoRtp): EncodedVideoFrame[] {
    this.#stats.packets++;
    const seq = this.#unwrap(rtp.sequenceNumber);
    if (seq <= this.#done) {
      this.#stats.late++;
      return [];
    }
    const fragment = parseVp8(rtp);
    if (!fragment) {
      this.#stats.malformedPackets++;
      return [];
    }
    let frame = this.#pending.get(rtp.timestamp);
    if (!frame) {
      frame = { timestamp: rtp.timestamp, fragments: new Map(), low: seq };
      this.#pending.set(rtp.timestamp, frame);
    }
    if (frame.fragments.has(seq)) {
      this.#stats.late++;
      return [];
    }
    frame.fragments.set(seq, fragment);
    frame.low = Math.min(frame.low, seq);
    if (fragment.start) frame.first = seq;
    if (fragment.end) frame.last = seq;

    const out: EncodedVideoFrame[] = [];
    if (frame.first !== undefined && frame.last !== undefined && frame.last >= frame.first && frame.fragments.size >= frame.last - frame.first + 1) {
      const parts: Fragment[] = [];
      for (let s = frame.first; s <= frame.last; s++) {
        const part = frame.fragments.get(s);
        if (!part) break;
        parts.push(part);
      }
      if (parts.length === frame.last - frame.first + 1) {
        // Whatever is older than this frame will not complete now: give it up, so frames leave in order.
        for (const [ts, other] of this.#pending) if (other !== frame && other.low < frame.first) this.#giveUp(ts);
        this.#pending.delete(rtp.timestamp);
        this.#done = Math.max(this.#done, frame.last);
        this.#stats.frames++;
        out.push({ data: concat(parts.map((p) => p.payload)), timestamp: frame.timestamp, keyFrame: parts[0]!.keyFrame, packets: parts.length });
      }
    }
    while (this.#pending.size > MAX_PENDING) this.#giveUp(this.#pending.keys().next().value!);
    return out;
  }

  #giveUp(timestamp: number): void {
    const frame = this.#pending.get(timestamp);
    if (!frame) return;
    this.#pending.delete(timestamp);
    this.#stats.incomplete++;
    this.#done = Math.max(this.#done, ...frame.fragments.keys());
  }

  /** 16-bit sequence number → a monotonic number (RFC 3550 A.1 style, nearest to the highest seen). */
  #unwrap(sequenceNumber: number): number {
    if (this.#highest === undefined) {
      this.#highest = sequenceNumber + 0x10000; // room below for reordered packets
      return this.#highest;
    }
    const delta = ((sequenceNumber - this.#highest + 0x8000) & 0xffff) - 0x8000;
    const seq = this.#highest + delta;
    if (seq > this.#highest) this.#highest = seq;
    return seq;
  }
}

function parseVp8(rtp: VideoRtp): Fragment | undefined {
  const buf = Buffer.from(rtp.payload.buffer, rtp.payload.byteOffset, rtp.payload.byteLength);
  if (buf.length < 2) return undefined;
  const p = Vp8RtpPayload.deSerialize(buf);
  if (p.payload.length === 0 || p.payload.byteOffset + p.payload.length !== buf.byteOffset + buf.length) return undefined;
  const start = p.payloadHeaderExist;
  return { payload: p.payload, start, end: rtp.marker, keyFrame: start && p.isKeyframe };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export type VideoDropReason = FrameDropReason | 'incomplete';

/** What the peer did with received video, as the report shows it. */
export interface VideoReport {
  codec: string;
  packets: number;
  /** MIME types seen on the video track(s). */
  codecs: string[];
  /** Frames reassembled from RTP. */
  frames: number;
  framesOpened: number;
  keyFrames: number;
  bytesOpened: number;
  /** Empty frames (passed through unopened). */
  empty: number;
  /** Packets for frames already done (or repeated), and packets with no VP8 payload. */
  latePackets: number;
  malformedPackets: number;
  dropped: Record<VideoDropReason, number>;
}

/** Received VP8: depacketize and open each frame with the call's FrameCryptor (its video replay window). */
export class VideoReceiver {
  readonly #cryptor: FrameCryptor;
  readonly #depacketizer = new Vp8Depacketizer();
  readonly #codecs = new Set<string>();
  #opened = 0;
  #keyFrames = 0;
  #bytes = 0;
  #empty = 0;
  readonly #dropped: Record<VideoDropReason, number> = { incomplete: 0, auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0 };

  constructor(cryptor: FrameCryptor) {
    this.#cryptor = cryptor;
  }

  /** One VP8 RTP packet of the video transceiver `mid`; returns the frames it completed and opened (the plain VP8 frames). */
  receive(rtp: VideoRtp, mid: string, mimeType?: string): Uint8Array[] {
    if (mimeType) this.#codecs.add(mimeType);
    const opened: Uint8Array[] = [];
    for (const frame of this.#depacketizer.push(rtp)) {
      const result = this.#cryptor.decrypt(frame.data, { kind: 'video', mid });
      if (!result.ok) {
        this.#dropped[result.reason]++;
        continue;
      }
      if (result.frame.length === 0) {
        this.#empty++;
        continue;
      }
      this.#opened++;
      this.#bytes += result.frame.length;
      if ((result.frame[0]! & 1) === 0) this.#keyFrames++; // VP8 frame tag: P bit 0 is a key frame
      opened.push(result.frame);
    }
    return opened;
  }

  report(): VideoReport {
    const d = this.#depacketizer.stats;
    return {
      codec: 'VP8',
      packets: d.packets,
      codecs: [...this.#codecs],
      frames: d.frames,
      framesOpened: this.#opened,
      keyFrames: this.#keyFrames,
      bytesOpened: this.#bytes,
      empty: this.#empty,
      latePackets: d.late,
      malformedPackets: d.malformedPackets,
      dropped: { ...this.#dropped, incomplete: d.incomplete },
    };
  }
}

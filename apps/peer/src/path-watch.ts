/**
 * Whether the peer's media path works, sans-IO: werift's own connection state stays `connected` for a long time
 * after the path breaks (its consent checks are slow to give up), so the peer also watches the media itself — no
 * RTP for `silentAfterMs` (default 2.5 s) while the connection says `connected` counts as `disconnected`; media
 * arriving again on a connected transport is `connected`. The result feeds the client's `ReconnectPolicy`, exactly
 * as the browsers feed it their RTCPeerConnection state. Silence is only watched once media has arrived (a peer
 * that never sends is not a broken path), and after a recovery the peer asks for a key frame (PLI) every
 * `keyFrameEveryMs` until one arrives.
 */

import type { PathState } from '@mtcall/client';

/** Tuning of the watch. */
export interface PathWatchOptions {
  /** How long without RTP means the path is down (ms, default 2 500). */
  silentAfterMs: number;
  /** How often to ask again for a key frame while none has arrived since the path came back (ms, default 500). */
  keyFrameEveryMs: number;
}

export const DEFAULT_PATH_WATCH_OPTIONS: PathWatchOptions = { silentAfterMs: 2_500, keyFrameEveryMs: 500 };

export class PathWatch {
  readonly #options: PathWatchOptions;
  #lastRtp: number | undefined;
  #wantKeyFrameSince: number | undefined;
  #lastKeyFrameRequest = -Infinity;

  constructor(options: Partial<PathWatchOptions> = {}) {
    this.#options = { ...DEFAULT_PATH_WATCH_OPTIONS, ...options };
  }

  /** An RTP packet arrived (any kind). */
  rtp(now: number): void {
    this.#lastRtp = now;
  }

  /** The path's state from the transport's own state and the media: what the reconnect policy is fed. */
  state(transport: PathState, now: number): PathState {
    if (transport !== 'connected') return transport;
    if (this.#lastRtp === undefined) return 'connected';
    return now - this.#lastRtp >= this.#options.silentAfterMs ? 'disconnected' : 'connected';
  }

  /** The path came back: video needs a key frame (its decoder state is stale) until `keyFrame()`. */
  recovered(now: number): void {
    this.#wantKeyFrameSince = now;
    this.#lastKeyFrameRequest = -Infinity;
  }

  /** A key frame arrived: stop asking. */
  keyFrame(): void {
    this.#wantKeyFrameSince = undefined;
  }

  /** Whether to send a PLI now (true at most once every `keyFrameEveryMs`, until a key frame arrives). */
  shouldRequestKeyFrame(now: number): boolean {
    if (this.#wantKeyFrameSince === undefined || now - this.#lastKeyFrameRequest < this.#options.keyFrameEveryMs) return false;
    this.#lastKeyFrameRequest = now;
    return true;
  }
}

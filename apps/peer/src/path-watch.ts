/**
 * Whether the peer's media path works, sans-IO: werift's own connection state stays `connected` for a long time
 * after the path breaks (its consent checks are slow to give up), so the peer also watches the media itself — no
 * RTP for `silentAfterMs` (default 2.5 s) while the connection says `connected` counts as `disconnected`; media
 * arriving again on a connected transport is `connected`. The result feeds the client's `ReconnectPolicy`, exactly
 * as the browsers feed it their RTCPeerConnection state. Silence is only watched once media has arrived (a peer
 * that never sends is not a broken path), and after a recovery the peer asks for a key frame (PLI) every
 * `keyFrameEveryMs` until one arrives.
 *
 * The outgoing direction too (issue 14: a path that carries the far side's media to us but not ours to it): the far
 * side answers what it receives with transport-wide congestion control feedback (every ~0.1 s while packets arrive).
 * While we keep sending, packets sent `unansweredAfterMs` ago and since, with no answer, count as `disconnected` as
 * well. Only watched while the far side answers often (the last two answers less than `unansweredAfterMs / 2` apart):
 * a far side that never answers is not a broken path. RTCP receiver reports do not serve: Chromium sends them on audio
 * only every 5–15 s, and a report that arrives after the break still shows the progress made before it.
 */

import type { PathState } from '@mtcall/client';

/** Tuning of the watch. */
export interface PathWatchOptions {
  /** How long without RTP means the path is down (ms, default 2 500). */
  silentAfterMs: number;
  /** How often to ask again for a key frame while none has arrived since the path came back (ms, default 500). */
  keyFrameEveryMs: number;
  /** How long, while we send, without the far side's transport-wide feedback means our media no longer arrives (ms, default 2 500). */
  unansweredAfterMs: number;
}

export const DEFAULT_PATH_WATCH_OPTIONS: PathWatchOptions = { silentAfterMs: 2_500, keyFrameEveryMs: 500, unansweredAfterMs: 2_500 };

export class PathWatch {
  readonly #options: PathWatchOptions;
  #lastRtp: number | undefined;
  #wantKeyFrameSince: number | undefined;
  #lastKeyFrameRequest = -Infinity;
  #lastSent: number | undefined;
  /** When the far side last answered (showed it received packets of ours). */
  #lastAnswer: number | undefined;
  /** Whether the last two answers came close enough together to watch the outgoing direction. */
  #answersOften = false;
  /** When we first sent after the last answer. */
  #unansweredSince: number | undefined;

  constructor(options: Partial<PathWatchOptions> = {}) {
    this.#options = { ...DEFAULT_PATH_WATCH_OPTIONS, ...options };
  }

  /** An RTP packet arrived (any kind). */
  rtp(now: number): void {
    this.#lastRtp = now;
  }

  /** We sent an RTP packet of our own. */
  sent(now: number): void {
    this.#lastSent = now;
    this.#unansweredSince ??= now;
  }

  /** The far side showed it received packets of ours just now (transport-wide congestion control feedback). */
  answered(now: number): void {
    this.#answersOften = this.#lastAnswer !== undefined && now - this.#lastAnswer < this.#options.unansweredAfterMs / 2;
    this.#lastAnswer = now;
    this.#unansweredSince = undefined;
  }

  /** The path's state from the transport's own state and the media: what the reconnect policy is fed. */
  state(transport: PathState, now: number): PathState {
    if (transport !== 'connected') return transport;
    return this.#silent(now) || this.#unanswered(now) ? 'disconnected' : 'connected';
  }

  /** No RTP from the far side for `silentAfterMs` (once some has arrived). */
  #silent(now: number): boolean {
    return this.#lastRtp !== undefined && now - this.#lastRtp >= this.#options.silentAfterMs;
  }

  /** We still send, but nothing we sent `unansweredAfterMs` ago or since has been answered (once answers came often). */
  #unanswered(now: number): boolean {
    if (!this.#answersOften || this.#unansweredSince === undefined || this.#lastSent === undefined) return false;
    const sending = now - this.#lastSent < this.#options.unansweredAfterMs;
    return sending && now - this.#unansweredSince >= this.#options.unansweredAfterMs;
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

/**
 * When a call's media path breaks — Wi-Fi drops, a phone changes networks, a relay blacks out — what to do, and
 * when: a sans-IO policy fed with the peer connection's state and the clock. It never touches WebRTC; the session
 * carries out its actions and wakes it at `nextWakeAt()`.
 *
 * - `disconnected`: tell the person ("Reconnecting…"); if the path is still down after `restartAfterMs`, restart
 *   ICE (new candidates and credentials, negotiated over the sealed signaling channel — same key, same seq
 *   counters, same emoji); again every `restartEveryMs` while it stays down.
 * - `failed`: restart ICE at once (the old path is gone for good).
 * - back to `connected`: recovered.
 * - down for `giveUpAfterMs` in all: give up; the call ends with `connection-lost`.
 */

/** Tuning of the policy. */
export interface ReconnectOptions {
  /** How long a `disconnected` path may recover by itself before ICE is restarted (ms, default 2 000). */
  restartAfterMs: number;
  /** How often to restart again while the path stays down (ms, default 8 000). */
  restartEveryMs: number;
  /** How long the path may stay down before the call ends with `connection-lost` (ms, default 30 000). */
  giveUpAfterMs: number;
}

export const DEFAULT_RECONNECT_OPTIONS: ReconnectOptions = { restartAfterMs: 2_000, restartEveryMs: 8_000, giveUpAfterMs: 30_000 };

/** What the policy asks for. */
export type ReconnectAction =
  | { type: 'reconnecting'; since: number }
  | { type: 'restart-ice' }
  | { type: 'recovered'; downForMs: number }
  | { type: 'give-up'; downForMs: number };

/** The peer connection states the policy reads (RTCPeerConnectionState). */
export type PathState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export class ReconnectPolicy {
  readonly #options: ReconnectOptions;
  /** When the path went down; undefined while it is up (or was never up). */
  #downSince: number | undefined;
  #nextRestart: number | undefined;
  #everConnected = false;
  #gaveUp = false;
  /** ICE restarts asked for so far. */
  restarts = 0;

  constructor(options: Partial<ReconnectOptions> = {}) {
    this.#options = { ...DEFAULT_RECONNECT_OPTIONS, ...options };
  }

  /** Whether the path is down right now (between `reconnecting` and `recovered`). */
  get reconnecting(): boolean {
    return this.#downSince !== undefined;
  }

  /** The peer connection's state changed. */
  state(state: PathState, now: number): ReconnectAction[] {
    if (this.#gaveUp || state === 'closed') return [];
    const out: ReconnectAction[] = [];
    if (state === 'connected') {
      this.#everConnected = true;
      if (this.#downSince !== undefined) {
        out.push({ type: 'recovered', downForMs: now - this.#downSince });
        this.#downSince = undefined;
        this.#nextRestart = undefined;
      }
      return out;
    }
    if (!this.#everConnected) return out; // the first connection is ICE's own business
    if (state === 'disconnected' || state === 'failed') {
      if (this.#downSince === undefined) {
        this.#downSince = now;
        this.#nextRestart = now + this.#options.restartAfterMs;
        out.push({ type: 'reconnecting', since: now });
      }
      if (state === 'failed' && this.#nextRestart !== undefined && this.#nextRestart > now) this.#nextRestart = now;
    }
    return [...out, ...this.tick(now)];
  }

  /** Time passed: restart or give up when due. */
  tick(now: number): ReconnectAction[] {
    if (this.#gaveUp || this.#downSince === undefined) return [];
    if (now - this.#downSince >= this.#options.giveUpAfterMs) {
      this.#gaveUp = true;
      const downForMs = now - this.#downSince;
      this.#downSince = undefined;
      this.#nextRestart = undefined;
      return [{ type: 'give-up', downForMs }];
    }
    if (this.#nextRestart !== undefined && now >= this.#nextRestart) {
      this.restarts++;
      this.#nextRestart = now + this.#options.restartEveryMs;
      return [{ type: 'restart-ice' }];
    }
    return [];
  }

  /** When `tick` next has something to do (undefined: nothing pending). */
  nextWakeAt(): number | undefined {
    if (this.#gaveUp || this.#downSince === undefined) return undefined;
    const giveUp = this.#downSince + this.#options.giveUpAfterMs;
    return this.#nextRestart === undefined ? giveUp : Math.min(this.#nextRestart, giveUp);
  }
}

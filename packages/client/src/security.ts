/**
 * What a call's protection really is right now, as a state machine fed with facts (sans-IO: no timers, no
 * WebRTC). It never claims more than the facts show:
 *
 *   agreeing ──keys──▶ keys-agreed ──frames open, no auth failure──▶ media-protected
 *        │                  │  └──auth failures, nothing opens──▶ keys-differ
 *        │                  └──────────── the person confirms the emoji ──────────▶ verified
 *
 * - `keys-agreed`: the DH finished and the emoji exist, but nobody compared them and no media opened yet.
 * - `media-protected`: frames from the peer open under the agreed key and none failed authentication.
 * - `verified`: the person said the four emoji match the other side's (from keys-agreed or media-protected).
 * - `keys-differ`: frames arrive but fail authentication and none opens: the other side holds a different key, so
 *   someone may be in the middle (what a man-in-the-middle server produces). Terminal: a call in this state
 *   should be ended; even a later "they match" does not undo it.
 */

/** The security states, written once. */
export const SECURITY_STATES = ['agreeing', 'keys-agreed', 'media-protected', 'verified', 'keys-differ'] as const;

/** A call's security state. */
export type SecurityState = (typeof SECURITY_STATES)[number];

/** Cumulative counters of received media, from the transport's stats. */
export interface MediaEvidence {
  /** Frames from the peer that opened under the call key. */
  framesOpened: number;
  /** Frames from the peer that failed authentication (a different key, or tampering). */
  authFailures: number;
}

/** Tuning of `SecurityMonitor`. */
export interface SecurityThresholds {
  /** Authentication failures with nothing opened after which the keys are judged different (default 5). */
  authFailuresForDiffer: number;
}

export const DEFAULT_SECURITY_THRESHOLDS: SecurityThresholds = { authFailuresForDiffer: 5 };

/** The state machine. Each input returns the new state when it changed, else `undefined`. */
export class SecurityMonitor {
  readonly #thresholds: SecurityThresholds;
  #state: SecurityState = 'agreeing';
  #evidence: MediaEvidence = { framesOpened: 0, authFailures: 0 };

  constructor(thresholds: Partial<SecurityThresholds> = {}) {
    this.#thresholds = { ...DEFAULT_SECURITY_THRESHOLDS, ...thresholds };
  }

  get state(): SecurityState {
    return this.#state;
  }

  /** The latest media counters seen. */
  get evidence(): MediaEvidence {
    return { ...this.#evidence };
  }

  /** The key is agreed (the emoji can be shown). */
  keysAgreed(): SecurityState | undefined {
    return this.#state === 'agreeing' ? this.#set('keys-agreed') : undefined;
  }

  /** New cumulative media counters (counters never go back; a smaller value is ignored). */
  media(evidence: MediaEvidence): SecurityState | undefined {
    this.#evidence = {
      framesOpened: Math.max(this.#evidence.framesOpened, evidence.framesOpened),
      authFailures: Math.max(this.#evidence.authFailures, evidence.authFailures),
    };
    const { framesOpened, authFailures } = this.#evidence;
    if (this.#state === 'keys-agreed' || this.#state === 'verified') {
      if (framesOpened === 0 && authFailures >= this.#thresholds.authFailuresForDiffer) return this.#set('keys-differ');
    }
    if (this.#state === 'keys-agreed' && framesOpened > 0 && authFailures === 0) return this.#set('media-protected');
    return undefined;
  }

  /**
   * The person compared the emoji. `true` → `verified` (only once keys exist and they do not differ); `false` is
   * not a state: the call must end (`verification-failed`), which the session does.
   */
  confirm(match: boolean): SecurityState | undefined {
    if (!match) return undefined;
    if (this.#state === 'keys-agreed' || this.#state === 'media-protected') return this.#set('verified');
    return undefined;
  }

  #set(state: SecurityState): SecurityState {
    this.#state = state;
    return state;
  }
}

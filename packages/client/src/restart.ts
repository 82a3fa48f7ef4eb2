/**
 * Who offers an ICE restart, and how, without ever rolling back a description — sans-IO: the session feeds it its
 * role, the peer connection's signaling state and descriptions, and carries out the step.
 *
 * Why no rollback: in Chromium (seen in 156) a rolled-back local offer — `setLocalDescription({ type: 'rollback' })`,
 * or the implicit rollback of `setRemoteDescription(offer)` in `have-local-offer` — re-creates the video receive
 * stream without its encoded transform, with either API (`createEncodedStreams` or `RTCRtpScriptTransform`, and a
 * new `RTCRtpScriptTransform` assigned afterwards does not help). Frames then go to the decoder without passing the
 * transform: sealed, so no video decodes again for the rest of the call, and none is authenticated. Audio is not
 * affected; an offer applied twice, a pending offer replaced by a newer one and repeated restarts either way are.
 * Without a transform a rollback is harmless, which is why only an encrypted call sees it. Every path break ran
 * into it: both sides restarted ICE at once and the callee rolled back the caller's colliding offer, or an offer
 * lost with a dead signaling socket was rolled back to offer again (issue 14).
 *
 * So:
 * - only the caller offers ICE restarts; the callee asks it to (a sealed `restart-ice` message), so two restart
 *   offers never collide;
 * - a restart while the caller's own offer is still unanswered (lost with a signaling socket that died, e.g. when
 *   an address changed) sends that offer again as it is — the other side may apply it twice, which is harmless —
 *   instead of rolling it back; if that offer did not restart ICE itself, a restart follows once it is answered.
 */

import type { CallRole } from '@mtcall/common';

/** What the session does for an ICE restart. */
export type RestartStep =
  /** `restartIce()`: `negotiationneeded` makes the offer (stable, caller). */
  | { type: 'restart-ice' }
  /** Send the unanswered offer again; `thenRestart`: it carries no ICE restart, so `restartIce()` too (its offer follows the answer). */
  | { type: 'resend-offer'; thenRestart: boolean }
  /** Callee: ask the caller to restart ICE. */
  | { type: 'ask-caller' }
  /** Nothing now (an answer is being made, or the connection is closed): the reconnect policy asks again later. */
  | { type: 'wait' };

/** The state of a peer connection that `restartStep` reads (strings of `RTCPeerConnection`). */
export interface NegotiationState {
  signalingState: string;
  /** SDP of the local description now in force (`currentLocalDescription`), if any. */
  currentLocal?: string | undefined;
  /** SDP of the local offer awaiting its answer (`pendingLocalDescription`), if any. */
  pendingLocal?: string | undefined;
}

/** The ICE usernames (a=ice-ufrag) of a description, in order. */
function ufrags(sdp: string): string[] {
  return [...sdp.matchAll(/^a=ice-ufrag:(\S+)/gm)].map((m) => m[1]!);
}

/**
 * Whether an offer restarts ICE relative to the description in force: its ICE username differs (RFC 8839 §4.4.1.1.1:
 * an ICE restart changes the ufrag and password). An offer with no description in force before it is not a restart.
 */
export function offerRestartsIce(offer: string, current: string | undefined): boolean {
  if (current === undefined) return false;
  const before = ufrags(current);
  return ufrags(offer).some((ufrag, i) => ufrag !== before[i]);
}

/** The step for an ICE restart asked for now (by this side's reconnect policy, or by the callee). */
export function restartStep(role: CallRole, state: NegotiationState): RestartStep {
  if (role === 'callee') return { type: 'ask-caller' };
  switch (state.signalingState) {
    case 'stable':
      return { type: 'restart-ice' };
    case 'have-local-offer':
      if (state.pendingLocal === undefined) return { type: 'wait' };
      return { type: 'resend-offer', thenRestart: !offerRestartsIce(state.pendingLocal, state.currentLocal) };
    default:
      return { type: 'wait' };
  }
}

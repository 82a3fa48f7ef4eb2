import { describe, expect, it } from 'vitest';
import { offerRestartsIce, restartStep } from './restart.js';

/** A two-section SDP with these ICE usernames (only the lines restart.ts reads, plus context). */
const sdp = (...ufrags: string[]) => ['v=0', ...ufrags.flatMap((u, i) => [`m=${i === 0 ? 'audio' : 'video'} 9 UDP/TLS/RTP/SAVPF 111`, `a=ice-ufrag:${u}`, 'a=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx'])].join('\r\n') + '\r\n';

describe('ICE restarts without rollback (sans-IO)', () => {
  it('the callee never offers a restart: it asks the caller, whatever its signaling state', () => {
    for (const signalingState of ['stable', 'have-local-offer', 'have-remote-offer']) {
      expect(restartStep('callee', { signalingState, currentLocal: sdp('a', 'a'), pendingLocal: sdp('b', 'b') })).toEqual({ type: 'ask-caller' });
    }
  });

  it('the caller restarts ICE when stable', () => {
    expect(restartStep('caller', { signalingState: 'stable', currentLocal: sdp('a', 'a') })).toEqual({ type: 'restart-ice' });
  });

  it('an unanswered offer is sent again, never rolled back; one that restarted ICE needs no second restart', () => {
    expect(restartStep('caller', { signalingState: 'have-local-offer', currentLocal: sdp('a', 'a'), pendingLocal: sdp('b', 'b') })).toEqual({ type: 'resend-offer', thenRestart: false });
    // A renegotiation offer (same ICE credentials) lost on the way: sent again, and a restart follows its answer.
    expect(restartStep('caller', { signalingState: 'have-local-offer', currentLocal: sdp('a', 'a'), pendingLocal: sdp('a', 'a') })).toEqual({ type: 'resend-offer', thenRestart: true });
  });

  it('nothing while an answer is being made, or closed (the policy asks again)', () => {
    expect(restartStep('caller', { signalingState: 'have-remote-offer' })).toEqual({ type: 'wait' });
    expect(restartStep('caller', { signalingState: 'closed' })).toEqual({ type: 'wait' });
    expect(restartStep('caller', { signalingState: 'have-local-offer' })).toEqual({ type: 'wait' });
  });

  it('offerRestartsIce: a changed ICE username in any section', () => {
    expect(offerRestartsIce(sdp('b', 'b'), sdp('a', 'a'))).toBe(true);
    expect(offerRestartsIce(sdp('a', 'b'), sdp('a', 'a'))).toBe(true);
    expect(offerRestartsIce(sdp('a', 'a'), sdp('a', 'a'))).toBe(false);
    expect(offerRestartsIce(sdp('a'), undefined)).toBe(false);
  });
});

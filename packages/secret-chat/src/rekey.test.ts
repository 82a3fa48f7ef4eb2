/** Re-keying ("Perfect Forward Secrecy in Secret Chats"): triggers, the four messages, messages in flight, aborts, concurrency. */
import { describe, expect, it } from 'vitest';
import { bigIntToBytes, computeSharedKey, generateDhKeyPair, keyFingerprint } from '@mtcall/crypto';
import { REKEY_AFTER_MS } from './chat.js';
import { Clock, DH, ScriptedPeer, deliver, pair, settle } from './test-support/harness.js';
import { keyFingerprintBytes } from './message.js';

/** An established pair where only Alice re-keys by count, with both NotifyLayers delivered (2 messages each). */
function quietPair(clock = new Clock()) {
  const p = pair({ bob: { rekeyAfterMessages: 1e9 }, clock });
  settle(p.alice, p.bob);
  return p;
}

describe('triggers', () => {
  it('re-keys at the 101st message under a key (sent and received both count), not before', () => {
    const { alice, bob } = quietPair();
    // Alice has sent 1 and received 1 message: 98 more make 100.
    for (let i = 0; i < 98; i++) alice.chat.sendMessage({ message: `m${i}` });
    expect(alice.of('rekey-started')).toHaveLength(0);
    alice.chat.sendMessage({ message: 'the 101st' });
    expect(alice.of('rekey-started')).toEqual([expect.objectContaining({ initiator: 'local' })]);
    expect(alice.chat.rekeyState).toBe('requested');
    const oldFingerprint = alice.chat.keyFingerprint;
    const visualization = alice.chat.keyVisualization;
    settle(alice, bob);
    expect(bob.texts()).toHaveLength(99);
    expect(alice.of('rekeyed')).toHaveLength(1);
    expect(bob.of('rekeyed')).toHaveLength(1);
    expect(alice.chat.keyFingerprint).toBe(bob.chat.keyFingerprint);
    expect(alice.chat.keyFingerprint).not.toBe(oldFingerprint);
    expect(alice.chat.keyVisualization).toEqual(visualization); // the visualization is of the original key
    // Both discarded the old key: Bob on the commit, Alice on Bob's Noop under the new key.
    expect(bob.of('old-key-discarded')).toHaveLength(1);
    expect(alice.of('old-key-discarded')).toHaveLength(1);
    expect(alice.chat.holdsPreviousKey || bob.chat.holdsPreviousKey).toBe(false);
    alice.chat.sendMessage({ message: 'after' });
    bob.chat.sendMessage({ message: 'after too' });
    settle(alice, bob);
    expect(bob.texts().at(-1)).toBe('after');
    expect(alice.texts().at(-1)).toBe('after too');
    expect(alice.chat.stats.rekeys).toBe(1);
  });

  it('re-keys after a week when the key encrypted a message, not when it only sat there', () => {
    const clock = new Clock();
    const { alice, bob } = quietPair(clock);
    expect(alice.chat.nextTimeout()).toBe(clock.t + REKEY_AFTER_MS + 1);
    clock.advance(REKEY_AFTER_MS);
    alice.chat.tick();
    expect(alice.chat.rekeyState).toBe('idle');
    clock.advance(1);
    alice.chat.tick();
    expect(alice.chat.rekeyState).toBe('requested');
    settle(alice, bob);
    expect(alice.chat.rekeyState).toBe('idle');
    expect(alice.of('rekeyed')).toHaveLength(1);
    // Alice's new key has encrypted nothing yet (the commit went under the old one): it does not age into a re-keying.
    expect(alice.chat.nextTimeout()).toBeUndefined();
    clock.advance(2 * REKEY_AFTER_MS);
    alice.chat.tick();
    expect(alice.chat.rekeyState).toBe('idle');
  });
});

describe('messages in flight', () => {
  it('old-key messages after the commit and new-key messages before it both open; everything is delivered in order', () => {
    const { alice, bob } = quietPair();
    alice.chat.startRekey();
    deliver(bob, alice.take()); // RequestKey → Bob accepts
    bob.chat.sendMessage({ message: 'b: old key, sent after accepting' });
    const [accept, bOld] = bob.take();
    deliver(alice, [accept!]); // Alice commits and switches
    expect(alice.of('rekeyed')).toHaveLength(1);
    expect(alice.chat.holdsPreviousKey).toBe(true);
    alice.chat.sendMessage({ message: 'a: new key' });
    const [commit, aNew] = alice.take();
    deliver(alice, [bOld!]); // under the old key, after Alice switched: still opens
    expect(alice.texts()).toEqual(['b: old key, sent after accepting']);
    deliver(bob, [aNew!]); // under the new key, before the commit: opens with the accepted key, waits for the commit
    expect(bob.texts()).toEqual([]);
    expect(bob.chat.seq.pending).toBe(1);
    const bobResend = bob.take(); // Bob switched to the new key on seeing it, and asks for the commit
    deliver(bob, [commit!]);
    expect(bob.texts()).toEqual(['a: new key']);
    expect(bob.of('rekeyed')).toHaveLength(1);
    deliver(alice, bobResend);
    settle(alice, bob);
    expect(alice.chat.keyFingerprint).toBe(bob.chat.keyFingerprint);
    expect(alice.chat.holdsPreviousKey).toBe(false);
    expect(bob.chat.holdsPreviousKey).toBe(false);
  });

  it('after the old key is discarded, a packet under it no longer opens', () => {
    const { alice, bob } = quietPair();
    bob.chat.sendMessage({ message: 'old' });
    const [old] = bob.take();
    deliver(alice, [old!]);
    alice.chat.startRekey();
    settle(alice, bob);
    expect(alice.chat.holdsPreviousKey).toBe(false);
    deliver(alice, [old!]);
    expect(alice.of('dropped').at(-1)).toEqual({ type: 'dropped', reason: 'unknown-key' });
  });
});

describe('aborts', () => {
  it('the peer aborts our request: rekey-aborted{remote-abort}, and a later request works', () => {
    const peer = ScriptedPeer.asRecipient();
    const chat = peer.side.chat;
    for (const p of peer.side.take()) peer.open(p.packet);
    chat.startRekey();
    const request = peer.open(peer.side.take()[0]!.packet);
    const exchangeId = (request.message as { action: { exchangeId: bigint } }).action.exchangeId;
    peer.send(peer.service({ _: 'decryptedMessageActionAbortKey', exchangeId }));
    expect(peer.side.of('rekey-aborted')).toEqual([{ type: 'rekey-aborted', exchangeId, reason: 'remote-abort' }]);
    expect(chat.rekeyState).toBe('idle');
    expect(chat.startRekey()).toBe(true);
  });

  it('a bad g_b or a wrong key_fingerprint in AcceptKey: we abort with AbortKey and keep the current key', () => {
    for (const fault of ['g_b', 'fingerprint'] as const) {
      const peer = ScriptedPeer.asRecipient();
      const chat = peer.side.chat;
      for (const p of peer.side.take()) peer.open(p.packet);
      const before = chat.keyFingerprint;
      chat.startRekey();
      const request = peer.open(peer.side.take()[0]!.packet).message as { action: { exchangeId: bigint; gA: Uint8Array } };
      const b = generateDhKeyPair(DH.p, DH.g);
      const newKey = computeSharedKey(request.action.gA, b.secret, DH.p);
      const gB = fault === 'g_b' ? bigIntToBytes(1n, 256) : b.publicKey;
      const fp = fault === 'fingerprint' ? keyFingerprint(newKey) ^ 1n : keyFingerprint(newKey);
      peer.send(peer.service({ _: 'decryptedMessageActionAcceptKey', exchangeId: request.action.exchangeId, gB, keyFingerprint: fp }));
      expect(peer.side.of('rekey-aborted')).toEqual([
        { type: 'rekey-aborted', exchangeId: request.action.exchangeId, reason: fault === 'g_b' ? 'dh-check-failed' : 'fingerprint-mismatch' },
      ]);
      const abort = peer.open(peer.side.take().at(-1)!.packet);
      expect(abort.message).toMatchObject({ action: { _: 'decryptedMessageActionAbortKey', exchangeId: request.action.exchangeId } });
      expect(chat.keyFingerprint).toBe(before);
      expect(chat.state).toBe('established');
    }
  });

  it('a bad g_a in RequestKey: AbortKey back, the chat carries on', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.service({ _: 'decryptedMessageActionRequestKey', exchangeId: 7n, gA: bigIntToBytes(1n, 256) }));
    expect(peer.side.of('rekey-aborted')).toEqual([{ type: 'rekey-aborted', exchangeId: 7n, reason: 'dh-check-failed' }]);
    expect(peer.open(peer.side.take().at(-1)!.packet).message).toMatchObject({ action: { _: 'decryptedMessageActionAbortKey', exchangeId: 7n } });
  });

  it('the initiator may abort after our AcceptKey (it has not committed): we drop the accepted key', () => {
    const peer = ScriptedPeer.asOriginator();
    const a = generateDhKeyPair(DH.p, DH.g);
    peer.send(peer.service({ _: 'decryptedMessageActionRequestKey', exchangeId: 9n, gA: a.publicKey }));
    expect(peer.side.chat.rekeyState).toBe('accepted');
    peer.send(peer.service({ _: 'decryptedMessageActionAbortKey', exchangeId: 9n }));
    expect(peer.side.chat.rekeyState).toBe('idle');
    expect(peer.side.of('rekey-aborted')).toEqual([{ type: 'rekey-aborted', exchangeId: 9n, reason: 'remote-abort' }]);
  });

  it('a CommitKey with a fingerprint other than the accepted key closes the chat (the acceptor cannot abort)', () => {
    const peer = ScriptedPeer.asOriginator();
    const a = generateDhKeyPair(DH.p, DH.g);
    peer.send(peer.service({ _: 'decryptedMessageActionRequestKey', exchangeId: 9n, gA: a.publicKey }));
    peer.send(peer.service({ _: 'decryptedMessageActionCommitKey', exchangeId: 9n, keyFingerprint: 123n }));
    expect(peer.side.chat.closeReason).toBe('rekey-protocol-error');
  });

  it('the full exchange with a scripted initiator: AcceptKey carries the new key fingerprint, CommitKey switches, Noop follows', () => {
    const peer = ScriptedPeer.asOriginator();
    const a = generateDhKeyPair(DH.p, DH.g);
    for (const p of peer.side.take()) peer.open(p.packet);
    peer.send(peer.service({ _: 'decryptedMessageActionRequestKey', exchangeId: -3n, gA: a.publicKey }));
    const accept = peer.open(peer.side.take()[0]!.packet).message as { action: { _: string; gB: Uint8Array; keyFingerprint: bigint } };
    expect(accept.action._).toBe('decryptedMessageActionAcceptKey');
    const newKey = computeSharedKey(accept.action.gB, a.secret, DH.p);
    expect(accept.action.keyFingerprint).toBe(keyFingerprint(newKey));
    peer.send(peer.service({ _: 'decryptedMessageActionCommitKey', exchangeId: -3n, keyFingerprint: keyFingerprint(newKey) }));
    const noop = peer.side.take().at(-1)!.packet;
    expect(noop.subarray(0, 8)).toEqual(keyFingerprintBytes(newKey));
    expect(peer.open(noop, newKey).message).toMatchObject({ action: { _: 'decryptedMessageActionNoop' } });
    peer.key = newKey;
    peer.send(peer.text('under the new key'));
    expect(peer.side.texts()).toEqual(['under the new key']);
  });
});

describe('concurrent re-keying', () => {
  it('both request at once: the larger exchange_id wins, both end with the same new key', () => {
    for (let round = 0; round < 4; round++) {
      const { alice, bob } = quietPair();
      alice.chat.startRekey();
      bob.chat.startRekey();
      settle(alice, bob);
      expect(alice.chat.rekeyState).toBe('idle');
      expect(bob.chat.rekeyState).toBe('idle');
      expect(alice.of('rekeyed')).toHaveLength(1);
      expect(bob.of('rekeyed')).toHaveLength(1);
      expect(alice.chat.keyFingerprint).toBe(bob.chat.keyFingerprint);
      const aborted = [...alice.of('rekey-aborted'), ...bob.of('rekey-aborted')];
      expect(aborted).toEqual([expect.objectContaining({ reason: 'concurrent' })]);
      alice.chat.sendMessage({ message: 'ok' });
      settle(alice, bob);
      expect(bob.texts()).toEqual(['ok']);
    }
  });

  it('equal exchange_ids abort both instances without AbortKey', () => {
    const peer = ScriptedPeer.asRecipient({ random: (n) => new Uint8Array(n).fill(1) });
    const chat = peer.side.chat;
    for (const p of peer.side.take()) peer.open(p.packet);
    chat.startRekey();
    const request = peer.open(peer.side.take()[0]!.packet).message as { action: { exchangeId: bigint } };
    const a = generateDhKeyPair(DH.p, DH.g);
    peer.send(peer.service({ _: 'decryptedMessageActionRequestKey', exchangeId: request.action.exchangeId, gA: a.publicKey }));
    expect(chat.rekeyState).toBe('idle');
    expect(peer.side.take()).toHaveLength(0);
  });
});

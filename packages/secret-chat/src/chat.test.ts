/** SecretChat: key exchange, layers, seq numbers, gaps and resends, replays, closing. Re-keying is in rekey.test.ts. */
import { describe, expect, it } from 'vitest';
import { bytesToHex, TELEGRAM_DH_GROUP, bigIntToBytes, bytesToBigInt, keyFingerprint } from '@mtcall/crypto';
import { SecretChat, CHAT_DROP_REASONS, CLOSE_REASONS, MIN_RANDOM_BYTES, type SecretChatOutput } from './chat.js';
import { DH, ScriptedPeer, Side, deliver, pair, settle } from './test-support/harness.js';
import { wireOutSeqNo } from './seq.js';
import { CONSTRUCTOR_IDS, SECRET_CHAT_LAYER } from './tl/schema.js';
import { TlWriter } from './tl/codec.js';
import { SecretChatError } from './errors.js';

describe('key exchange', () => {
  it('two messages: request (g_a) and accept (g_b, key_fingerprint); both sides get the same key, fingerprint and visualization', () => {
    const { alice, bob } = pair();
    expect(alice.events[0]!.type).toBe('request-encryption');
    const accept = bob.of('accept-encryption')[0]!;
    const [ea] = alice.of('established');
    const [eb] = bob.of('established');
    expect(ea!.keyFingerprint).toBe(accept.keyFingerprint);
    expect(eb!.keyFingerprint).toBe(accept.keyFingerprint);
    expect(bytesToHex(ea!.keyVisualization)).toBe(bytesToHex(eb!.keyVisualization));
    expect(ea!.keyVisualization.length).toBe(36);
    expect(alice.chat.state).toBe('established');
    expect(bob.chat.state).toBe('established');
  });

  it('each side notifies its layer as its first message; the remote layer starts at 46 and rises', () => {
    const { alice, bob } = pair();
    expect(alice.chat.remoteLayer).toBe(46);
    expect(alice.wire).toHaveLength(1);
    expect(bob.wire).toHaveLength(1);
    settle(alice, bob);
    expect(alice.chat.remoteLayer).toBe(SECRET_CHAT_LAYER);
    expect(bob.chat.remoteLayer).toBe(SECRET_CHAT_LAYER);
    expect(alice.of('message')).toHaveLength(0); // service messages are not delivered as messages
  });

  it('the originator closes on a key_fingerprint that does not match its key', () => {
    const alice = SecretChat.initiate({ dh: DH });
    const gA = (alice.drain()[0] as Extract<SecretChatOutput, { type: 'request-encryption' }>).gA;
    const bob = SecretChat.accept({ dh: DH, gA });
    const accept = bob.drain().find((o) => o.type === 'accept-encryption') as Extract<SecretChatOutput, { type: 'accept-encryption' }>;
    alice.handleAccepted({ gB: accept.gB, keyFingerprint: accept.keyFingerprint ^ 1n });
    expect(alice.drain()).toEqual([{ type: 'discard-encryption', reason: 'fingerprint-mismatch' }, { type: 'closed', reason: 'fingerprint-mismatch' }]);
    expect(() => alice.sendMessage({ message: 'x' })).toThrow(SecretChatError);
  });

  it('DH checks: a bad g_a closes the recipient, a bad g_b closes the originator, a bad config throws', () => {
    const p = bytesToBigInt(TELEGRAM_DH_GROUP.p);
    for (const bad of [1n, p - 1n, 2n, p - 2n]) {
      const bob = SecretChat.accept({ dh: DH, gA: bigIntToBytes(bad, 256) });
      expect(bob.closeReason).toBe('dh-check-failed');
      expect(bob.drain().map((o) => o.type)).toEqual(['discard-encryption', 'closed']);
      const alice = SecretChat.initiate({ dh: DH });
      alice.drain();
      alice.handleAccepted({ gB: bigIntToBytes(bad, 256), keyFingerprint: 0n });
      expect(alice.closeReason).toBe('dh-check-failed');
    }
    expect(() => SecretChat.initiate({ dh: { p: DH.p, g: 5 } })).toThrow(/g-residue/);
  });

  it('packets that reach the originator before the acceptance are kept and processed once it is established', () => {
    const alice = SecretChat.initiate({ dh: DH });
    const gA = (alice.drain()[0] as Extract<SecretChatOutput, { type: 'request-encryption' }>).gA;
    const bob = new Side(SecretChat.accept({ dh: DH, gA }));
    bob.collect();
    bob.chat.sendMessage({ message: 'early' });
    const a = new Side(alice);
    deliver(a, bob.take()); // NotifyLayer and 'early', before updateEncryption
    expect(a.of('message')).toHaveLength(0);
    const accept = bob.of('accept-encryption')[0]!;
    alice.handleAccepted({ gB: accept.gB, keyFingerprint: accept.keyFingerprint });
    expect(a.texts()).toEqual(['early']);
    expect(alice.remoteLayer).toBe(SECRET_CHAT_LAYER);
  });

  it('handleAccepted is refused outside its state', () => {
    const { bob } = pair();
    expect(() => bob.chat.handleAccepted({ gB: new Uint8Array(256), keyFingerprint: 0n })).toThrow(/not waiting/);
  });
});

describe('messages and seq numbers', () => {
  it('delivers messages in order both ways, with the parity rule on the wire (originator out odd, in even)', () => {
    const { alice, bob } = pair();
    alice.chat.sendMessage({ message: 'a1' });
    bob.chat.sendMessage({ message: 'b1' });
    alice.chat.sendMessage({ message: 'a2' });
    settle(alice, bob);
    expect(bob.texts()).toEqual(['a1', 'a2']);
    expect(alice.texts()).toEqual(['b1']);
    expect(alice.chat.seq).toMatchObject({ out: 3, in: 2 });
    expect(bob.chat.seq).toMatchObject({ out: 2, in: 3 });
    expect(wireOutSeqNo('originator', 0)).toBe(1);
    expect(wireOutSeqNo('recipient', 0)).toBe(0);
  });

  it('the scripted peer sees the same numbers: first messages carry out_seq_no 2·raw+x', () => {
    const peer = ScriptedPeer.asOriginator();
    const notify = peer.open(peer.side.wire[0]!.packet);
    expect([notify.inSeqNo, notify.outSeqNo, notify.layer]).toEqual([1, 0, 73]); // recipient: in odd, out even; layer min(144, 46→73)
    expect(notify.message).toMatchObject({ _: 'decryptedMessageService', action: { _: 'decryptedMessageActionNotifyLayer', layer: SECRET_CHAT_LAYER } });
    expect(notify.randomBytes.length).toBeGreaterThanOrEqual(MIN_RANDOM_BYTES);
    peer.send(peer.text('hi'));
    expect(peer.side.texts()).toEqual(['hi']);
    peer.side.chat.sendMessage({ message: 'back' });
    const back = peer.open(peer.side.take().at(-1)!.packet);
    expect([back.inSeqNo, back.outSeqNo]).toEqual([3, 2]); // it has received 1, sent 1 before
  });

  it('a replayed message is dropped as a duplicate without being delivered twice', () => {
    const { alice, bob } = pair();
    settle(alice, bob);
    alice.chat.sendMessage({ message: 'once' });
    const [packet] = alice.take();
    deliver(bob, [packet!, packet!]);
    expect(bob.texts()).toEqual(['once']);
    expect(bob.of('dropped')).toEqual([{ type: 'dropped', reason: 'duplicate' }]);
    expect(bob.chat.stats.dropped.duplicate).toBe(1);
  });

  it('a message reflected back to its sender does not open (x = 0 vs 8)', () => {
    const { alice } = pair();
    const [notify] = alice.take();
    alice.chat.receive(notify!.packet);
    expect(alice.of('dropped')).toEqual([{ type: 'dropped', reason: 'msg-key-mismatch' }]);
  });

  it('gap: the later message waits, one Resend asks for the hole, the resent message fills it, all delivered in order', () => {
    const { alice, bob } = pair();
    settle(alice, bob);
    for (const text of ['m1', 'm2', 'm3', 'm4']) alice.chat.sendMessage({ message: text });
    const [m1, m2, m3, m4] = alice.take();
    deliver(bob, [m1!, m3!, m4!]);
    expect(bob.texts()).toEqual(['m1']);
    expect(bob.chat.seq.pending).toBe(2);
    const gaps = bob.of('gap');
    expect(gaps).toEqual([{ type: 'gap', fromRawSeqNo: 2, toRawSeqNo: 2 }]); // m2 is Alice's raw 2 (raw 0 was her NotifyLayer)
    const resendRequests = bob.take();
    expect(resendRequests).toHaveLength(1); // one request per hole, not one per message behind it
    deliver(alice, resendRequests);
    const resent = alice.take();
    expect(resent).toHaveLength(1);
    expect(resent[0]).toMatchObject({ resend: true, rawOutSeqNo: 2 });
    expect(bytesToHex(resent[0]!.packet)).toBe(bytesToHex(m2!.packet)); // the stored bytes, unchanged
    deliver(bob, resent);
    expect(bob.texts()).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(bob.chat.seq.pending).toBe(0);
  });

  it('two holes are requested one after the other', () => {
    const { alice, bob } = pair();
    settle(alice, bob);
    for (const text of ['m1', 'm2', 'm3', 'm4', 'm5']) alice.chat.sendMessage({ message: text });
    const [m1, m2, m3, m4, m5] = alice.take();
    deliver(bob, [m1!, m3!, m5!]);
    expect(bob.of('gap')).toEqual([{ type: 'gap', fromRawSeqNo: 2, toRawSeqNo: 2 }]);
    deliver(bob, [m2!]);
    expect(bob.of('gap')).toEqual([
      { type: 'gap', fromRawSeqNo: 2, toRawSeqNo: 2 },
      { type: 'gap', fromRawSeqNo: 4, toRawSeqNo: 4 },
    ]);
    deliver(bob, [m4!]);
    expect(bob.texts()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('a Resend is interpreted on receipt even when it arrives behind a gap, and only once', () => {
    const { alice, bob } = pair();
    settle(alice, bob);
    alice.chat.sendMessage({ message: 'lost' });
    alice.take(); // lost on the way
    bob.chat.sendMessage({ message: 'b1' });
    bob.chat.sendMessage({ message: 'b2' });
    const [b1, b2] = bob.take();
    deliver(alice, [b2!]); // gap on Alice's side: she asks Bob to resend b1 …
    const aliceResend = alice.take();
    expect(aliceResend).toHaveLength(1);
    deliver(bob, aliceResend); // … Bob's side has a gap too (Alice's 'lost'): the Resend is still answered at once
    const fromBob = bob.take();
    expect(fromBob.filter((p) => p.resend).map((p) => p.rawOutSeqNo)).toEqual([1]);
    deliver(alice, [b1!, ...fromBob]); // the original b1, the resent copy (a duplicate now), Bob's own Resend for 'lost'
    expect(alice.texts()).toEqual(['b1', 'b2']);
    expect(alice.of('dropped').map((d) => d.reason)).toEqual(['duplicate']);
    settle(alice, bob);
    expect(bob.texts()).toEqual(['lost']);
    expect(bob.chat.stats.resent).toBe(1);
    expect(alice.chat.stats.resent).toBe(1);
  });
});

describe('checks that abort the chat (scripted peer)', () => {
  it('a seq number with the wrong parity closes the chat (a mirrored message)', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.text('x', { outSeqNo: 0 })); // an originator's out_seq_no must be odd
    expect(peer.side.chat.closeReason).toBe('seq-parity');
    expect(peer.side.of('discard-encryption')).toEqual([{ type: 'discard-encryption', reason: 'seq-parity' }]);
  });

  it('in_seq_no acknowledging messages never sent closes the chat; going down closes it too', () => {
    const ahead = ScriptedPeer.asOriginator();
    ahead.send(ahead.text('x', { inSeqNo: 2 * 5 })); // the chat sent only 1 message
    expect(ahead.side.chat.closeReason).toBe('in-seq-no-invalid');
    const down = ScriptedPeer.asOriginator();
    down.rawIn = 1;
    down.send(down.text('one'));
    down.rawIn = 0;
    down.send(down.text('two'));
    expect(down.side.chat.closeReason).toBe('in-seq-no-invalid');
  });

  it("a sender's layer going down between messages closes the chat", () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.text('at 144'));
    peer.send(peer.text('at 100', { layer: 100 }));
    expect(peer.side.chat.closeReason).toBe('layer-decreased');
  });

  it('a Resend for messages that were never sent closes the chat', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.service({ _: 'decryptedMessageActionResend', startSeqNo: 10, endSeqNo: 20 }));
    expect(peer.side.chat.closeReason).toBe('resend-unsatisfiable');
  });

  it('a Resend for a message already acknowledged (dropped from the outbox) closes the chat', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.rawIn = 1; // acknowledges the NotifyLayer
    peer.send(peer.text('ack'));
    peer.send(peer.service({ _: 'decryptedMessageActionResend', startSeqNo: 0, endSeqNo: 0 }));
    expect(peer.side.chat.closeReason).toBe('resend-unsatisfiable');
  });

  it('more messages behind a gap than the queue holds closes the chat', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.rawOut = 1; // skip raw 0: everything after waits
    for (let i = 0; i < 1001 && peer.side.chat.state !== 'closed'; i++) peer.send(peer.text(`q${i}`));
    expect(peer.side.chat.closeReason).toBe('gap-overflow');
  });

  it('closed chats drop everything and refuse to send; close() tells the server once', () => {
    const { alice, bob } = pair();
    alice.chat.close();
    alice.chat.close();
    expect(alice.of('discard-encryption')).toHaveLength(1);
    deliver(alice, bob.take());
    expect(alice.of('dropped').map((d) => d.reason)).toEqual(['closed']);
    expect(() => alice.chat.sendMessage({ message: 'x' })).toThrow(/closed/);
    bob.chat.handleDiscarded();
    expect(bob.of('closed')).toEqual([{ type: 'closed', reason: 'discarded' }]);
    expect(bob.of('discard-encryption')).toHaveLength(0);
  });
});

describe('drops that leave the chat as it was', () => {
  it('fewer than 15 random bytes, a malformed envelope, a bad packet: dropped, and the chat carries on', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.text('short', { randomBytes: new Uint8Array(14), rawOut: 0 }));
    peer.send(peer.text('x', { rawOut: 0, tl: new Uint8Array(8) }));
    peer.send(new Uint8Array(10));
    expect(peer.side.of('dropped').map((d) => d.reason)).toEqual(['short-random-bytes', 'malformed', 'truncated']);
    peer.rawOut = 0;
    peer.send(peer.text('fine'));
    expect(peer.side.texts()).toEqual(['fine']);
    expect(peer.side.chat.state).toBe('established');
  });
});

describe('layers', () => {
  it('a message from a newer layer raises update-required once, and is still delivered when it parses', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.text('from the future', { layer: 200 }));
    peer.send(peer.text('again', { layer: 200 }));
    expect(peer.side.of('update-required')).toEqual([{ type: 'update-required', remoteLayer: 200, localLayer: SECRET_CHAT_LAYER }]);
    expect(peer.side.texts()).toEqual(['from the future', 'again']);
    expect(peer.side.chat.remoteLayer).toBe(200);
    expect(peer.side.chat.messageLayer).toBe(SECRET_CHAT_LAYER);
  });

  it('a newer layer whose message we cannot read: unsupported-message, its seq number consumed, the next one delivered', () => {
    const peer = ScriptedPeer.asOriginator();
    const tl = new TlWriter()
      .int(CONSTRUCTOR_IDS.decryptedMessageLayer)
      .bytes(new Uint8Array(16))
      .int(201)
      .int(0)
      .int(wireOutSeqNo('originator', 0))
      .int(0x12345678) // a constructor of layer 201
      .int(0)
      .finish();
    peer.send(peer.text('', { tl }));
    peer.rawOut = 1;
    peer.send(peer.text('next', { layer: 201 })); // a sender's layer never goes down
    const unsupported = peer.side.of('unsupported-message');
    expect(unsupported).toHaveLength(1);
    expect(unsupported[0]!.error).toMatchObject({ code: 'unknown-constructor', constructorId: 0x12345678 });
    expect(peer.side.of('update-required')[0]).toMatchObject({ remoteLayer: 201 });
    expect(peer.side.texts()).toEqual(['next']);
  });

  it('a NotifyLayer above ours is recorded without asking for an update; a bare layer-8 NotifyLayer is read too', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.service({ _: 'decryptedMessageActionNotifyLayer', layer: 150 }));
    expect(peer.side.chat.remoteLayer).toBe(150);
    expect(peer.side.of('update-required')).toHaveLength(0);
    const legacy = new TlWriter().int(CONSTRUCTOR_IDS.decryptedMessageService8).long(1n).bytes(new Uint8Array(15)).int(CONSTRUCTOR_IDS.decryptedMessageActionNotifyLayer).int(160).finish();
    expect(peer.side.chat.receiveLegacyNotifyLayer(legacy)).toBe(true);
    expect(peer.side.chat.remoteLayer).toBe(160);
    expect(peer.side.chat.receiveLegacyNotifyLayer(new Uint8Array(3))).toBe(false);
  });

  it('a document for a peer below layer 143 goes out with the layer-46 constructor', () => {
    const peer = ScriptedPeer.asOriginator();
    peer.send(peer.service({ _: 'decryptedMessageActionNotifyLayer', layer: 101 }, { layer: 101 }));
    peer.side.chat.sendMessage({
      message: '',
      media: { _: 'decryptedMessageMediaDocument', thumb: new Uint8Array(0), thumbW: 0, thumbH: 0, mimeType: 'a/b', size: 10n, key: new Uint8Array(32), iv: new Uint8Array(32), attributes: [], caption: '' },
    });
    const sent = peer.open(peer.side.take().at(-1)!.packet);
    expect(sent.layer).toBe(101);
    expect(sent.message).toMatchObject({ media: { _: 'decryptedMessageMediaDocument46' } });
  });
});

it('names reasons once', () => {
  expect(new Set(CHAT_DROP_REASONS).size).toBe(CHAT_DROP_REASONS.length);
  expect(new Set(CLOSE_REASONS).size).toBe(CLOSE_REASONS.length);
  expect(keyFingerprint).toBeTypeOf('function');
});

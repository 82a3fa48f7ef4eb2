import { describe, expect, it } from 'vitest';
import {
  RFC3526_GROUP_14, TELEGRAM_DH_GROUP, bigIntToBytes, bytesToBase64, bytesToBigInt, generateDhKeyPair, computeSharedKey,
  keyFingerprint, sha256, emojiFingerprint,
} from '@mtcall/crypto';
import { CalleeHandshake, CallerHandshake, type DhConfig, type HandshakeStep } from './handshake.js';
import type { ClientMessage, ServerMessage } from './protocol.js';

const dhConfig: DhConfig = { version: 1, p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g };
const CALL_ID = '0123456789abcdef0123456789abcdef';
const P = bytesToBigInt(dhConfig.p);

/** What an honest server turns each client message into. */
function relay(message: ClientMessage): ServerMessage {
  switch (message.type) {
    case 'requestCall':
      return { type: 'phoneCallRequested', callId: CALL_ID, callerId: 'alice', gAHash: message.gAHash, video: message.video };
    case 'acceptCall':
      return { type: 'phoneCallAccepted', callId: message.callId, gB: message.gB };
    case 'confirmCall':
      return { type: 'phoneCall', callId: message.callId, gA: message.gA, keyFingerprint: message.keyFingerprint };
    case 'discardCall':
      return { type: 'phoneCallDiscarded', callId: message.callId, reason: message.reason };
    default:
      throw new Error(`unexpected ${message.type}`);
  }
}

function only<T>(items: T[]): T {
  expect(items.length).toBe(1);
  return items[0]!;
}

function offerFrom(requestCall: ClientMessage) {
  if (requestCall.type !== 'requestCall') throw new Error('not requestCall');
  return { callId: CALL_ID, callerId: 'alice', gAHash: Uint8Array.from(Buffer.from(requestCall.gAHash, 'base64')), video: requestCall.video };
}

/** Runs the protocol up to the point named, returning both machines and the messages in flight. */
function setup(now = 0) {
  const caller = new CallerHandshake({ calleeId: 'bob', video: true, requestId: 'r1', dhConfig, now });
  const request = only(caller.start().send);
  caller.receive({ type: 'callRequested', requestId: 'r1', callId: CALL_ID, devices: 1 });
  const callee = new CalleeHandshake({ offer: offerFrom(request), dhConfig, now });
  return { caller, callee, request };
}

function endedWith(step: HandshakeStep) {
  return step.events.find((e) => e.type === 'ended');
}

describe('legal sequence', () => {
  it('agrees a key; both sides show the same emoji and fingerprint; g_a is revealed only after g_b', () => {
    const { caller, callee, request } = setup();
    expect(request).toMatchObject({ type: 'requestCall', calleeId: 'bob', video: true });
    expect(Object.keys(request)).not.toContain('gA');
    expect(caller.state).toBe('waiting');
    expect(callee.state).toBe('ringing');
    const accept = only(callee.accept(1).send);
    expect(accept.type).toBe('acceptCall');
    // The commitment: before the caller has g_b, nothing it sent contains g_a.
    const confirmStep = caller.receive(relay(accept));
    const confirm = only(confirmStep.send);
    expect(confirm.type).toBe('confirmCall');
    if (confirm.type !== 'confirmCall' || request.type !== 'requestCall') throw new Error();
    expect(bytesToBase64(sha256(Uint8Array.from(Buffer.from(confirm.gA, 'base64'))))).toBe(request.gAHash);
    expect(JSON.stringify(request)).not.toContain(confirm.gA);
    const done = callee.receive(relay(confirm));
    expect(done.send).toEqual([]);
    expect(caller.state).toBe('established');
    expect(callee.state).toBe('established');
    const a = caller.keys!;
    const b = callee.keys!;
    expect(Buffer.from(a.key).equals(Buffer.from(b.key))).toBe(true);
    expect(a.key.length).toBe(256);
    expect(a.emoji).toEqual(b.emoji);
    expect(a.emoji).toHaveLength(4);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).toBe(keyFingerprint(a.key));
    expect(confirm.keyFingerprint).toBe(a.fingerprint.toString());
  });

  it('works with another valid group (RFC 3526, g = 2)', () => {
    const config: DhConfig = { version: 2, p: RFC3526_GROUP_14.p, g: 2 };
    const caller = new CallerHandshake({ calleeId: 'bob', video: false, requestId: 'r', dhConfig: config, now: 0 });
    const request = only(caller.start().send);
    caller.receive({ type: 'callRequested', requestId: 'r', callId: CALL_ID, devices: 1 });
    const callee = new CalleeHandshake({ offer: offerFrom(request), dhConfig: config, now: 0 });
    callee.receive(relay(only(caller.receive(relay(only(callee.accept(0).send))).send)));
    expect(callee.keys!.emoji).toEqual(caller.keys!.emoji);
  });

  it('the callee sends nothing before the user accepts, and declining discards', () => {
    const { caller, callee } = setup();
    expect(callee.tick(1000).send).toEqual([]);
    const decline = callee.decline();
    expect(only(decline.send)).toEqual({ type: 'discardCall', callId: CALL_ID, reason: 'declined' });
    expect(endedWith(caller.receive(relay(decline.send[0]!)))).toMatchObject({ reason: 'declined', byPeer: true });
    expect(caller.state).toBe('ended');
  });
});

describe('duplicates, alternative versions and reordering', () => {
  it('accepts each update once; a second g_b or g_a (even a different one) is ignored and counted', () => {
    const { caller, callee } = setup();
    const accept = only(callee.accept(0).send);
    const confirm = only(caller.receive(relay(accept)).send);
    const key = Buffer.from(caller.keys!.key);
    // The same acceptCall again, and an alternative version with another g_b.
    expect(caller.receive(relay(accept))).toMatchObject({ send: [], events: [{ type: 'ignored', why: 'duplicate' }] });
    const other = generateDhKeyPair(dhConfig.p, dhConfig.g);
    expect(caller.receive({ type: 'phoneCallAccepted', callId: CALL_ID, gB: bytesToBase64(other.publicKey) }).send).toEqual([]);
    expect(Buffer.from(caller.keys!.key).equals(key)).toBe(true);
    expect(caller.counters.duplicates).toBe(2);
    callee.receive(relay(confirm));
    const emoji = callee.keys!.emoji;
    expect(callee.receive(relay(confirm)).events[0]).toMatchObject({ type: 'ignored', why: 'duplicate' });
    expect(callee.keys!.emoji).toEqual(emoji);
    expect(callee.counters.duplicates).toBe(1);
    // A repeated offer and a repeated callRequested change nothing either.
    expect(callee.receive({ type: 'phoneCallRequested', callId: CALL_ID, callerId: 'alice', gAHash: 'x', video: true }).events[0]).toMatchObject({ why: 'duplicate' });
    expect(caller.receive({ type: 'callRequested', requestId: 'r1', callId: CALL_ID, devices: 1 }).events[0]).toMatchObject({ why: 'duplicate' });
    expect(caller.state).toBe('established');
    expect(callee.state).toBe('established');
  });

  it('rejects out-of-order messages with a reason and without changing state', () => {
    const { caller, callee, request } = setup();
    // confirmCall's g_a arriving at a callee that has not accepted: rejected, still ringing.
    const pair = generateDhKeyPair(dhConfig.p, dhConfig.g);
    const early = callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: bytesToBase64(pair.publicKey), keyFingerprint: '1' });
    expect(early.events[0]).toMatchObject({ type: 'ignored', why: 'out-of-order' });
    expect(callee.state).toBe('ringing');
    // A caller given callee-only messages, and accept/decline twice.
    expect(caller.receive({ type: 'phoneCall', callId: CALL_ID, gA: 'AA==', keyFingerprint: '1' }).events[0]).toMatchObject({ why: 'out-of-order' });
    expect(caller.receive({ type: 'phoneCallRequested', callId: CALL_ID, callerId: 'x', gAHash: 'AA==', video: false }).events[0]).toMatchObject({ why: 'out-of-order' });
    callee.accept(0);
    expect(callee.accept(0).events[0]).toMatchObject({ why: 'out-of-order' });
    expect(callee.decline().events[0]).toMatchObject({ why: 'out-of-order' });
    expect(caller.start().events[0]).toMatchObject({ why: 'out-of-order' });
    // Messages of another call are not this call's business.
    expect(caller.receive({ type: 'phoneCallAccepted', callId: 'f'.repeat(32), gB: 'AA==' }).events[0]).toMatchObject({ why: 'other-call' });
    expect(callee.receive({ type: 'phoneCallDiscarded', callId: 'f'.repeat(32), reason: 'hangup' }).events[0]).toMatchObject({ why: 'other-call' });
    expect(caller.state).toBe('waiting');
    expect(callee.state).toBe('accepting');
    expect(request.type).toBe('requestCall');
  });

  it('a phoneCallAccepted before callRequested is not matched to the call', () => {
    const caller = new CallerHandshake({ calleeId: 'bob', video: false, requestId: 'r', dhConfig, now: 0 });
    caller.start();
    const pair = generateDhKeyPair(dhConfig.p, dhConfig.g);
    expect(caller.receive({ type: 'phoneCallAccepted', callId: CALL_ID, gB: bytesToBase64(pair.publicKey) }).events[0]).toMatchObject({ why: 'other-call' });
    expect(caller.state).toBe('requesting');
  });
});

describe('failed checks end the call on both sides', () => {
  function expectBothEnd(reason: string, callerStep: HandshakeStep | undefined, calleeStep: HandshakeStep | undefined, caller: CallerHandshake, callee: CalleeHandshake) {
    const failing = (callerStep && endedWith(callerStep) ? callerStep : calleeStep)!;
    expect(endedWith(failing)).toMatchObject({ reason, byPeer: false });
    const discard = only(failing.send);
    expect(discard).toEqual({ type: 'discardCall', callId: CALL_ID, reason });
    const other = failing === callerStep ? callee : caller;
    expect(endedWith(other.receive(relay(discard)))).toMatchObject({ reason, byPeer: true });
    expect(caller.state).toBe('ended');
    expect(callee.state).toBe('ended');
    expect(caller.endReason).toBe(reason);
    expect(callee.endReason).toBe(reason);
  }

  it('g_a not matching its hash: commitment-mismatch', () => {
    const { caller, callee } = setup();
    const confirm = only(caller.receive(relay(only(callee.accept(0).send))).send);
    if (confirm.type !== 'confirmCall') throw new Error();
    const swapped = generateDhKeyPair(dhConfig.p, dhConfig.g).publicKey;
    const step = callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: bytesToBase64(swapped), keyFingerprint: confirm.keyFingerprint });
    expectBothEnd('commitment-mismatch', undefined, step, caller, callee);
  });

  it('a wrong fingerprint: fingerprint-mismatch', () => {
    const { caller, callee } = setup();
    const confirm = only(caller.receive(relay(only(callee.accept(0).send))).send);
    if (confirm.type !== 'confirmCall') throw new Error();
    const wrong = (BigInt(confirm.keyFingerprint) ^ 1n).toString();
    const step = callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: confirm.gA, keyFingerprint: wrong });
    expectBothEnd('fingerprint-mismatch', undefined, step, caller, callee);
  });

  it.each([
    ['1', 1n],
    ['p-1', P - 1n],
    ['2', 2n],
    ['below 2^1984', (1n << 1984n) - 1n],
    ['above p - 2^1984', P - (1n << 1984n) + 1n],
  ])('g_b = %s: bad-g-b', (_name, value) => {
    const { caller, callee } = setup();
    callee.accept(0);
    const step = caller.receive({ type: 'phoneCallAccepted', callId: CALL_ID, gB: bytesToBase64(bigIntToBytes(value, 256)) });
    expectBothEnd('bad-g-b', step, undefined, caller, callee);
  });

  it('g_a = 1 with a matching commitment: bad-g-a', () => {
    const one = bigIntToBytes(1n, 256);
    const callee = new CalleeHandshake({ offer: { callId: CALL_ID, callerId: 'mallory', gAHash: sha256(one), video: false }, dhConfig, now: 0 });
    callee.accept(0);
    const step = callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: bytesToBase64(one), keyFingerprint: '0' });
    expect(endedWith(step)).toMatchObject({ reason: 'bad-g-a' });
    expect(only(step.send)).toMatchObject({ type: 'discardCall', reason: 'bad-g-a' });
  });

  it('a bad DH config: bad-dh-config, before anything secret is made', () => {
    const notSafe: DhConfig = { version: 9, p: dhConfig.p, g: 2 }; // the Telegram prime is 3 mod 8: 2 is not a residue
    const caller = new CallerHandshake({ calleeId: 'bob', video: false, requestId: 'r', dhConfig: notSafe, now: 0 });
    const step = caller.start();
    expect(step.send).toEqual([]);
    expect(endedWith(step)).toMatchObject({ reason: 'bad-dh-config' });
    expect((endedWith(step) as { detail: string }).detail).toMatch(/g-residue/);
    const small: DhConfig = { version: 9, p: bigIntToBytes(P >> 1n, 256), g: 4 };
    const callee = new CalleeHandshake({ offer: { callId: CALL_ID, callerId: 'a', gAHash: new Uint8Array(32), video: false }, dhConfig: small, now: 0 });
    const declined = callee.accept(0);
    expect(endedWith(declined)).toMatchObject({ reason: 'bad-dh-config' });
    expect(only(declined.send)).toMatchObject({ type: 'discardCall', reason: 'bad-dh-config' });
    expect(declined.send.some((m) => m.type === 'acceptCall')).toBe(false);
  });
});

describe('timeouts and hang-up', () => {
  it('unanswered and unconfirmed calls time out on the injected clock', () => {
    const { caller, callee } = setup(1000);
    expect(caller.tick(1000 + 44_999).events).toEqual([]);
    expect(endedWith(caller.tick(1000 + 45_000))).toMatchObject({ reason: 'timeout' });
    expect(callee.tick(1000 + 45_000).send).toEqual([{ type: 'discardCall', callId: CALL_ID, reason: 'timeout' }]);
    const second = setup(0);
    second.callee.accept(10);
    expect(second.callee.tick(10 + 14_999).events).toEqual([]);
    expect(endedWith(second.callee.tick(10 + 15_000))).toMatchObject({ reason: 'timeout' });
    const custom = new CallerHandshake({ calleeId: 'b', video: false, requestId: 'r', dhConfig, now: 0, timeouts: { ringMs: 5 } });
    custom.start();
    expect(endedWith(custom.tick(5))).toMatchObject({ reason: 'timeout' });
  });

  it('wipes a, b and the key when the call ends', () => {
    const { caller, callee } = setup();
    callee.accept(0);
    const calleeSecret = (callee as unknown as { secret: Uint8Array }).secret;
    const callerSecret = (caller as unknown as { secret: Uint8Array }).secret;
    expect(callerSecret.some((b) => b !== 0)).toBe(true);
    const confirm = only(caller.receive(relay({ type: 'acceptCall', callId: CALL_ID, gB: bytesToBase64(new Uint8Array(0)) } as never)).send);
    expect(confirm).toMatchObject({ type: 'discardCall', reason: 'bad-g-b' });
    expect(callerSecret.every((b) => b === 0)).toBe(true);
    expect(calleeSecret.some((b) => b !== 0)).toBe(true);
    // Established calls: the exponent goes as soon as the key exists; the key at hang-up.
    const two = setup();
    two.callee.receive(relay(only(two.caller.receive(relay(only(two.callee.accept(0).send))).send)));
    const keyA = two.caller.keys!.key;
    const keyB = two.callee.keys!.key;
    expect((two.caller as unknown as { secret?: Uint8Array }).secret).toBeUndefined();
    expect(keyA.some((b) => b !== 0)).toBe(true);
    const hang = two.caller.hangUp();
    expect(only(hang.send)).toEqual({ type: 'discardCall', callId: CALL_ID, reason: 'hangup' });
    two.callee.receive(relay(hang.send[0]!));
    expect(keyA.every((b) => b === 0)).toBe(true);
    expect(keyB.every((b) => b === 0)).toBe(true);
  });

  it('a caller that hangs up before the call has an id discards it once the id arrives', () => {
    const caller = new CallerHandshake({ calleeId: 'bob', video: false, requestId: 'r', dhConfig, now: 0 });
    caller.start();
    expect(caller.hangUp().send).toEqual([]);
    expect(caller.receive({ type: 'callRequested', requestId: 'r', callId: CALL_ID, devices: 1 }).send).toEqual([
      { type: 'discardCall', callId: CALL_ID, reason: 'hangup' },
    ]);
  });
});

describe('man in the middle', () => {
  it('a server running its own DH with each side ends with two keys and different emoji', () => {
    for (let run = 0; run < 5; run++) {
      const caller = new CallerHandshake({ calleeId: 'bob', video: false, requestId: 'r', dhConfig, now: 0 });
      const request = only(caller.start().send);
      caller.receive({ type: 'callRequested', requestId: 'r', callId: CALL_ID, devices: 1 });
      // Mallory commits to her own g_a' towards Bob and answers Alice with her own g_b'.
      const towardsBob = generateDhKeyPair(dhConfig.p, dhConfig.g);
      const towardsAlice = generateDhKeyPair(dhConfig.p, dhConfig.g);
      const callee = new CalleeHandshake({
        offer: { callId: CALL_ID, callerId: 'alice', gAHash: sha256(towardsBob.publicKey), video: false },
        dhConfig,
        now: 0,
      });
      const accept = only(callee.accept(0).send);
      if (accept.type !== 'acceptCall' || request.type !== 'requestCall') throw new Error();
      const confirm = only(caller.receive({ type: 'phoneCallAccepted', callId: CALL_ID, gB: bytesToBase64(towardsAlice.publicKey) }).send);
      if (confirm.type !== 'confirmCall') throw new Error();
      // Mallory learns g_a only now, after she had to commit to g_b' — and computes both keys.
      const keyWithAlice = computeSharedKey(Buffer.from(confirm.gA, 'base64'), towardsAlice.secret, dhConfig.p);
      const keyWithBob = computeSharedKey(Buffer.from(accept.gB, 'base64'), towardsBob.secret, dhConfig.p);
      callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: bytesToBase64(towardsBob.publicKey), keyFingerprint: keyFingerprint(keyWithBob).toString() });
      expect(caller.state).toBe('established');
      expect(callee.state).toBe('established');
      expect(Buffer.from(caller.keys!.key).equals(Buffer.from(keyWithAlice))).toBe(true);
      expect(Buffer.from(callee.keys!.key).equals(Buffer.from(keyWithBob))).toBe(true);
      expect(caller.keys!.emoji).not.toEqual(callee.keys!.emoji);
      expect(caller.keys!.emoji).toEqual(emojiFingerprint(keyWithAlice, Uint8Array.from(Buffer.from(confirm.gA, 'base64'))));
    }
  });
});

describe('replaying a previous call into a new one', () => {
  it("a previous call's confirmCall (its g_a and fingerprint) is refused by the new callee: commitment-mismatch", () => {
    const first = setup();
    const oldConfirm = only(first.caller.receive(relay(only(first.callee.accept(0).send))).send);
    const second = setup();
    second.callee.accept(0);
    if (oldConfirm.type !== 'confirmCall') throw new Error();
    const step = second.callee.receive({ type: 'phoneCall', callId: CALL_ID, gA: oldConfirm.gA, keyFingerprint: oldConfirm.keyFingerprint });
    expect(endedWith(step)).toMatchObject({ reason: 'commitment-mismatch' });
  });

  it("a previous call's acceptCall (its g_b) fed to the new caller leaves the real callee with fingerprint-mismatch", () => {
    const first = setup();
    const oldAccept = only(first.callee.accept(0).send);
    const second = setup();
    second.callee.accept(0); // the real callee's g_b never reaches the caller
    const confirm = only(second.caller.receive(relay(oldAccept)).send);
    const step = second.callee.receive(relay(confirm));
    expect(endedWith(step)).toMatchObject({ reason: 'fingerprint-mismatch' });
  });
});

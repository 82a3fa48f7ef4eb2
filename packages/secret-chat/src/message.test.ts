/** Every check of decryptSecretMessage, one test per rule; packets with bad lengths are built with a valid msg_key. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from '@mtcall/crypto';
import {
  MAX_PADDING,
  MIN_PADDING,
  MESSAGE_DROP_REASONS,
  decryptSecretMessage,
  encryptSecretMessage,
  encryptSecretPayload,
  keyFingerprintBytes,
  paddingLength,
} from './message.js';
import { SecretChatError } from './errors.js';

const key = randomBytes(256);
const otherKey = randomBytes(256);
const tl = new Uint8Array(40).map((_, i) => i);

/** length ‖ body ‖ padding with a chosen length prefix, then encrypted with a valid msg_key. */
function payload(lengthField: number, body: Uint8Array, padding: number): Uint8Array {
  const data = new Uint8Array(4 + body.length + padding);
  new DataView(data.buffer).setUint32(0, lengthField, true);
  data.set(body, 4);
  return encryptSecretPayload(key, 0, data);
}

describe('decryptSecretMessage', () => {
  it('names each rule once', () => {
    expect(new Set(MESSAGE_DROP_REASONS).size).toBe(MESSAGE_DROP_REASONS.length);
  });

  it('opens a message with the minimum (12) and the maximum (1024) padding', () => {
    for (const padding of [12, 1024 - 4]) {
      const body = new Uint8Array(16 - ((4 + padding) % 16 || 16)).fill(1); // align the total to 16
      const length = 4 + body.length + padding;
      expect(length % 16).toBe(0);
      const opened = decryptSecretMessage(key, 0, payload(body.length, body, padding));
      expect(opened.ok).toBe(true);
    }
    const max = payload(0, new Uint8Array(0), 1020); // 4 + 0 + 1020 = 1024: padding 1020 ≤ 1024
    expect(decryptSecretMessage(key, 0, max).ok).toBe(true);
  });

  it('bad padding: fewer than 12 bytes', () => {
    // A valid msg_key over 32 or 48 bytes, with 0, 4 or 8 bytes of padding (TL lengths are multiples of 4, so is the padding).
    for (const [length, padding] of [[28, 0], [24, 4], [20, 8], [36, 8]] as const) {
      expect(decryptSecretMessage(key, 0, payload(length, new Uint8Array(length), padding))).toEqual({ ok: false, reason: 'bad-padding' });
    }
    expect(decryptSecretMessage(key, 0, payload(16, new Uint8Array(16), 12)).ok).toBe(true); // 12 is enough
  });

  it('bad padding: more than 1024 bytes', () => {
    // 4 + 0 + 1036 = 1040: padding 1036 > 1024.
    expect(decryptSecretMessage(key, 0, payload(0, new Uint8Array(0), 1036))).toEqual({ ok: false, reason: 'bad-padding' });
  });

  it('bad length: the prefix exceeds the data, or is not a multiple of 4', () => {
    expect(decryptSecretMessage(key, 0, payload(1000, new Uint8Array(16), 12))).toEqual({ ok: false, reason: 'bad-length' });
    expect(decryptSecretMessage(key, 0, payload(0xffffffff, new Uint8Array(16), 12))).toEqual({ ok: false, reason: 'bad-length' });
    expect(decryptSecretMessage(key, 0, payload(14, new Uint8Array(16), 12))).toEqual({ ok: false, reason: 'bad-length' });
  });

  it('not a multiple of 16: a ciphertext with a stray byte', () => {
    const packet = encryptSecretMessage(key, 0, tl);
    const longer = new Uint8Array(packet.length + 1);
    longer.set(packet);
    expect(decryptSecretMessage(key, 0, longer)).toEqual({ ok: false, reason: 'not-block-aligned' });
    expect(decryptSecretMessage(key, 0, packet.subarray(0, packet.length - 1))).toEqual({ ok: false, reason: 'not-block-aligned' });
  });

  it('wrong msg_key: one bit flipped in msg_key or in the ciphertext', () => {
    const packet = encryptSecretMessage(key, 0, tl);
    for (const at of [8, 23, 24, packet.length - 1]) {
      const bad = packet.slice();
      bad[at]! ^= 1;
      expect(decryptSecretMessage(key, 0, bad)).toEqual({ ok: false, reason: 'msg-key-mismatch' });
    }
  });

  it('wrong direction: a packet sealed at x = 0 does not open at x = 8 (reflection)', () => {
    expect(decryptSecretMessage(key, 8, encryptSecretMessage(key, 0, tl))).toEqual({ ok: false, reason: 'msg-key-mismatch' });
  });

  it('wrong fingerprint: another key, or the right key under a changed fingerprint', () => {
    const packet = encryptSecretMessage(key, 0, tl);
    expect(decryptSecretMessage(otherKey, 0, packet)).toEqual({ ok: false, reason: 'unknown-key' });
    const bad = packet.slice();
    bad[0]! ^= 0x80;
    expect(decryptSecretMessage(key, 0, bad)).toEqual({ ok: false, reason: 'unknown-key' });
    expect(decryptSecretMessage(() => undefined, 0, packet)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it('truncated: shorter than fingerprint ‖ msg_key ‖ one block', () => {
    const packet = encryptSecretMessage(key, 0, tl);
    for (const n of [0, 1, 8, 24, 39]) expect(decryptSecretMessage(key, 0, packet.subarray(0, n))).toEqual({ ok: false, reason: 'truncated' });
    expect(decryptSecretMessage(key, 0, 'nope' as unknown as Uint8Array)).toEqual({ ok: false, reason: 'truncated' });
  });

  it('a lookup picks the key by fingerprint', () => {
    const packet = encryptSecretMessage(otherKey, 8, tl);
    const fpOther = keyFingerprintBytes(otherKey);
    const opened = decryptSecretMessage((fp) => (fp.every((b, i) => b === fpOther[i]) ? otherKey : key), 8, packet);
    expect(opened.ok && opened.tl).toEqual(tl);
  });
});

describe('encryptSecretMessage', () => {
  it('pads with 12..1024 bytes to a multiple of 16, random by default, and round-trips (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }).map((b) => b.subarray(0, b.length & ~3)), fc.integer({ min: 0, max: 80 }), fc.constantFrom(0 as const, 8 as const), (body, extra, x) => {
        const packet = encryptSecretMessage(key, x, body, { extraPaddingBlocks: extra });
        expect((packet.length - 24) % 16).toBe(0);
        const padding = packet.length - 24 - 4 - body.length;
        expect(padding).toBeGreaterThanOrEqual(MIN_PADDING);
        expect(padding).toBeLessThanOrEqual(MAX_PADDING);
        const opened = decryptSecretMessage(key, x, packet);
        expect(opened.ok && opened.tl).toEqual(body);
      }),
      { numRuns: 200 },
    );
  });

  it('two encryptions of one message differ (random padding), and paddingLength stays in bounds', () => {
    expect(encryptSecretMessage(key, 0, tl)).not.toEqual(encryptSecretMessage(key, 0, tl));
    for (let n = 0; n < 64; n++) for (const extra of [0, 5, 100]) {
      const p = paddingLength(n, extra);
      expect(p >= 12 && p <= 1024 && (4 + n + p) % 16 === 0).toBe(true);
    }
  });

  it('refuses padding that would make an invalid message', () => {
    expect(() => encryptSecretMessage(key, 0, tl, { padding: new Uint8Array(4) })).toThrow(SecretChatError);
    expect(() => encryptSecretMessage(key, 0, tl, { padding: new Uint8Array(13) })).toThrow(/padding/);
  });
});

import { expect, it } from 'vitest';
import { EMOJI_TABLE, emojiFingerprint, emojiIndices, keyFingerprint } from './fingerprint.js';
import { hex, vectors } from './test-support/vectors.js';

it('has the 333-entry table of the Telegram clients, all distinct', () => {
  expect(EMOJI_TABLE.length).toBe(333);
  expect(new Set(EMOJI_TABLE).size).toBe(333);
  // Spot checks against TDLib td/telegram/misc.cpp: first, last, a keycap and a flag.
  expect(EMOJI_TABLE[0]).toBe('\u{1F609}');
  expect(EMOJI_TABLE[320]).toBe('0\u20E3');
  expect(EMOJI_TABLE[332]).toBe('\u{1F537}');
  expect(EMOJI_TABLE.some((e) => e.includes('\uFE0F'))).toBe(false);
  expect(Object.isFrozen(EMOJI_TABLE)).toBe(true);
});

it('computes key fingerprints and emoji indices as the independent vectors (Python, TDLib rule)', () => {
  for (const v of [...vectors.fingerprints, vectors.dh]) {
    expect(keyFingerprint(hex(v.key))).toBe(BigInt(v.keyFingerprint));
    expect(emojiIndices(hex(v.key), hex(v.gA))).toEqual(v.emojiIndices);
    expect(emojiFingerprint(hex(v.key), hex(v.gA))).toEqual(v.emojiIndices.map((i) => EMOJI_TABLE[i]));
  }
});

it('reads the fingerprint as little-endian signed bytes 12..20 of SHA1 and masks the top bit for emoji', () => {
  // key = 00..ff: SHA1 = 4916d6bdb7f78e6803698cab32d1586ea457dfc8 → LE int64 of 32d1586ea457dfc8.
  const key = Uint8Array.from({ length: 256 }, (_, i) => i);
  expect(keyFingerprint(key)).toBe(-3972359982579920590n);
  // SHA256(key ‖ g_a) chunks 3 and 4 have the top bit set; unmasked they would give 145 and 103.
  const gA = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
  expect(emojiIndices(key, gA)).toEqual([122, 225, 65, 23]);
});

it('rejects a key that is not 256 bytes', () => {
  expect(() => keyFingerprint(new Uint8Array(255))).toThrow(/256 bytes/);
  expect(() => emojiIndices(new Uint8Array(10), new Uint8Array(256))).toThrow(/256 bytes/);
  expect(() => emojiIndices(new Uint8Array(256), new Uint8Array(255))).toThrow(/gA: expected 256 bytes/);
});

import { expect, it } from 'vitest';
import fc from 'fast-check';
import { base64ToBytes, bigIntToBytes, bytesToBase64, bytesToBigInt, bytesToHex, constantTimeEqual, hexToBytes } from './bytes.js';

it('base64 round-trips and matches Node', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70000 }), (bytes) => {
      const text = bytesToBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(bytesToHex(base64ToBytes(text)!)).toBe(bytesToHex(bytes));
    }),
    { numRuns: 50, seed: 4 },
  );
});

it('base64 rejects anything that is not strict padded base64', () => {
  for (const bad of ['a', 'ab', 'abc', 'ab=', 'ab==c', 'a b=', 'ab-_', '====', 'abc==', 'AB==', 'AAB=', 5 as unknown as string]) {
    expect(base64ToBytes(bad)).toBeNull();
  }
  expect(base64ToBytes('')).toEqual(new Uint8Array(0));
});

it('hex and bigint helpers', () => {
  expect(bytesToHex(hexToBytes('00ff10'))).toBe('00ff10');
  expect(() => hexToBytes('abc')).toThrow(TypeError);
  expect(bytesToBigInt(hexToBytes('0100'))).toBe(256n);
  expect(bytesToHex(bigIntToBytes(256n, 4))).toBe('00000100');
  expect(() => bigIntToBytes(1n << 40n, 4)).toThrow(RangeError);
  expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
  expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
  expect(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false);
});

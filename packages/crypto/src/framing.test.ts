import { expect, it } from 'vitest';
import fc from 'fast-check';
import { frameMessages, parseMessages, SEQ_LIMIT, varintLength } from './framing.js';
import { bytesToHex } from './bytes.js';
import { hex, vectors } from './test-support/vectors.js';

it('frames exactly as the independent vectors', () => {
  for (const v of vectors.framed) {
    const messages = v.messages.map((m) => ({ seq: m.seq, data: hex(m.data) }));
    expect(bytesToHex(frameMessages(messages))).toBe(v.body);
    const parsed = parseMessages(hex(v.body))!;
    expect(parsed.map((m) => ({ seq: m.seq, data: bytesToHex(m.data) }))).toEqual(v.messages);
  }
});

it('round-trips any list of messages', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ seq: fc.integer({ min: 1, max: SEQ_LIMIT - 1 }), data: fc.uint8Array({ maxLength: 400 }) }), { minLength: 1, maxLength: 8 }),
      (messages) => {
        const parsed = parseMessages(frameMessages(messages))!;
        expect(parsed.map((m) => ({ seq: m.seq, data: bytesToHex(m.data) }))).toEqual(messages.map((m) => ({ seq: m.seq, data: bytesToHex(m.data) })));
      },
    ),
    { numRuns: 300, seed: 1 },
  );
});

it('uses 1..5 length bytes', () => {
  expect([0, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 32 - 1].map(varintLength)).toEqual([1, 1, 2, 2, 3, 4, 5, 5]);
  const big = new Uint8Array(70000);
  expect(parseMessages(frameMessages([{ seq: 9, data: big }]))![0]!.data.length).toBe(70000);
});

it('rejects every malformed body', () => {
  const ok = frameMessages([{ seq: 1, data: new Uint8Array([1, 2, 3]) }]);
  expect(parseMessages(ok)).not.toBeNull();
  expect(parseMessages(new Uint8Array(0))).toBeNull(); // no message
  expect(parseMessages(ok.subarray(0, ok.length - 1))).toBeNull(); // data cut short
  expect(parseMessages(new Uint8Array([...ok, 0]))).toBeNull(); // trailing byte
  expect(parseMessages(new Uint8Array([0, 0, 0, 0, 0]))).toBeNull(); // seq 0
  expect(parseMessages(new Uint8Array([0x40, 0, 0, 0, 0]))).toBeNull(); // seq 2^30
  expect(parseMessages(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0]))).toBeNull(); // seq 2^32-1
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0x80, 0]))).toBeNull(); // non-minimal length 0
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0x81, 0x00, 1]))).toBeNull(); // non-minimal length 1
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBeNull(); // 6-byte length
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0x80]))).toBeNull(); // length runs off the end
  // Without the 5-byte cap this would decode to NaN and parse as a second spelling of an empty message.
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, ...new Array(150).fill(0x80), 0x01]))).toBeNull();
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x00]))).toBeNull(); // non-minimal 5-byte zero
  expect(parseMessages(new Uint8Array([0, 0, 0, 1]))).toBeNull(); // no length
  expect(parseMessages(new Uint8Array([0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toBeNull(); // length 2^32-1 > rest
});

it('refuses to write a seq the parser would reject', () => {
  for (const seq of [0, -1, 1.5, SEQ_LIMIT, 2 ** 32 + 5]) {
    expect(() => frameMessages([{ seq, data: new Uint8Array(1) }])).toThrow(RangeError);
  }
});

it('never throws on arbitrary bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => void parseMessages(bytes)), { numRuns: 20000, seed: 2 });
});

/** The end-to-end TL codec: round trips (property), canonical bytes, and a typed error for each way bytes can be wrong. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { layer as layerArb, message as messageArb } from './test-support/arbitraries.js';
import { parseLayer, parseLayerEnvelope, parseMessage, serializeLayer, serializeMessage } from './tl/serialize.js';
import { TlReader, TlWriter } from './tl/codec.js';
import { CONSTRUCTOR_IDS, CONSTRUCTOR_NAMES } from './tl/schema.js';
import { TL_ERROR_CODES } from './errors.js';

describe('round trips', () => {
  it('parse(serialize(layer)) is the layer, and serialize(parse(bytes)) the bytes (property)', () => {
    fc.assert(
      fc.property(layerArb, (layer) => {
        const bytes = serializeLayer(layer);
        expect(bytes.length % 4).toBe(0);
        const parsed = parseLayer(bytes);
        expect(parsed).toEqual({ ok: true, value: layer });
        if (parsed.ok) expect(serializeLayer(parsed.value)).toEqual(bytes);
      }),
      { numRuns: 400 },
    );
  });

  it('every strict prefix of a valid object is refused as truncated, never thrown (property)', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        const bytes = serializeMessage(message);
        for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 16))) {
          const r = parseMessage(bytes.subarray(0, n));
          expect(r.ok).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('bytes and strings', () => {
  it('uses the short form below 254 bytes and the 0xfe form from 254, padded to 4', () => {
    for (const [n, head, total] of [[0, 1, 4], [3, 1, 4], [4, 1, 8], [253, 1, 256], [254, 4, 260], [1000, 4, 1004]] as const) {
      const out = new TlWriter().bytes(new Uint8Array(n).fill(9)).finish();
      expect(out.length).toBe(total);
      expect(out[0]).toBe(head === 1 ? n : 0xfe);
      expect(new TlReader(out).bytes()).toEqual(new Uint8Array(n).fill(9));
    }
  });

  it('refuses the long form for a short length, a 0xff length byte, and invalid UTF-8', () => {
    expect(() => new TlReader(new Uint8Array([0xfe, 3, 0, 0, 1, 2, 3, 0])).bytes()).toThrow(/long length form/);
    expect(() => new TlReader(new Uint8Array([0xff, 0, 0, 0])).bytes()).toThrow(/0xff/);
    expect(() => new TlReader(new Uint8Array([2, 0xc3, 0x28, 0])).string()).toThrow(/UTF-8/);
  });

  it('writers refuse values TL cannot carry', () => {
    expect(() => new TlWriter().signedInt(2 ** 31)).toThrow(RangeError);
    expect(() => new TlWriter().long(1n << 63n)).toThrow(RangeError);
    expect(() => new TlWriter().bytes('x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('typed errors', () => {
  const valid = serializeMessage({ _: 'decryptedMessage', silent: false, randomId: 1n, ttl: 0, message: 'hi' });

  it('unknown constructor, with its id', () => {
    const bytes = valid.slice();
    bytes.set([0x78, 0x56, 0x34, 0x12], 0);
    expect(parseMessage(bytes)).toEqual({ ok: false, error: expect.objectContaining({ code: 'unknown-constructor', constructorId: 0x12345678, offset: 0 }) });
    // A known constructor of the wrong type (an action where a message belongs) is unknown here too.
    const action = new TlWriter().int(CONSTRUCTOR_IDS.decryptedMessageActionNoop).finish();
    expect(parseMessage(action)).toMatchObject({ ok: false, error: { code: 'unknown-constructor' } });
  });

  it('trailing bytes, truncation, unknown flag bits, impossible vector counts, bad UTF-8', () => {
    expect(parseMessage(new Uint8Array([...valid, 0, 0, 0, 0]))).toMatchObject({ ok: false, error: { code: 'trailing-bytes' } });
    expect(parseMessage(valid.subarray(0, valid.length - 4))).toMatchObject({ ok: false, error: { code: 'truncated' } });
    const flags = valid.slice();
    flags[4] = 0x01; // bit 0 is not a flag of decryptedMessage
    expect(parseMessage(flags)).toMatchObject({ ok: false, error: { code: 'bad-flags' } });
    const vector = new TlWriter().int(CONSTRUCTOR_IDS.decryptedMessageService).long(1n).int(CONSTRUCTOR_IDS.decryptedMessageActionReadMessages).int(0x1cb5c415).int(1_000_000).finish();
    expect(parseMessage(vector)).toMatchObject({ ok: false, error: { code: 'bad-length' } });
    const utf8 = new TlWriter().int(CONSTRUCTOR_IDS.decryptedMessage).int(0).long(1n).int(0).raw(new Uint8Array([1, 0xff, 0, 0])).finish();
    expect(parseMessage(utf8)).toMatchObject({ ok: false, error: { code: 'bad-utf8' } });
    expect(parseMessage(null as unknown as Uint8Array)).toMatchObject({ ok: false });
  });

  it('the envelope survives an unreadable message: seq numbers and layer are still there', () => {
    const tl = new TlWriter().int(CONSTRUCTOR_IDS.decryptedMessageLayer).bytes(new Uint8Array(15)).int(300).int(4).int(7).int(0xdeadbeef).finish();
    const envelope = parseLayerEnvelope(tl);
    expect(envelope.ok && [envelope.value.layer, envelope.value.inSeqNo, envelope.value.outSeqNo]).toEqual([300, 4, 7]);
    expect(envelope.ok && envelope.value.message).toMatchObject({ ok: false, error: { code: 'unknown-constructor', constructorId: 0xdeadbeef, offset: 32 } });
    expect(parseLayer(tl).ok).toBe(false);
  });

  it('names each code once, and each constructor id once', () => {
    expect(new Set(TL_ERROR_CODES).size).toBe(TL_ERROR_CODES.length);
    expect(CONSTRUCTOR_NAMES.size).toBe(Object.keys(CONSTRUCTOR_IDS).length);
  });
});

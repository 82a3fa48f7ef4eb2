/**
 * Message framing inside a decrypted packet body (the calls spec leaves it to the implementation):
 *
 *   decrypted_body = message+                         (one or more)
 *   message        = seq ‖ length ‖ data
 *   seq            = uint32, big-endian, 1 ≤ seq < 2^30
 *   length         = byte length of data as unsigned LEB128, 1..5 bytes, minimal encoding
 *   data           = length bytes
 *
 * A body parses in exactly one way or not at all: trailing bytes, a length past the end, a non-minimal
 * length and an out-of-range seq are all malformed.
 */

/** The exclusive upper bound of seq: the call is aborted when the counter reaches it. */
export const SEQ_LIMIT = 2 ** 30;

/** One message of a packet with its seq. */
export interface SeqMessage {
  seq: number;
  data: Uint8Array;
}

/** Bytes the LEB128 length takes for `length`. */
export function varintLength(length: number): number {
  let n = 1;
  while (length >= 0x80) {
    length = Math.floor(length / 0x80);
    n++;
  }
  return n;
}

/** Bytes `messages` take framed. */
export function framedLength(messages: readonly SeqMessage[]): number {
  let total = 0;
  for (const m of messages) total += 4 + varintLength(m.data.length) + m.data.length;
  return total;
}

/**
 * Writes one framed message into `out` at `offset`; returns the offset after it. With `declaredLength`, only the
 * header is written (for `declaredLength` bytes the caller writes itself) and `data` must be empty.
 */
export function writeMessage(out: Uint8Array, offset: number, seq: number, data: Uint8Array, declaredLength?: number): number {
  if (!Number.isInteger(seq) || seq < 1 || seq >= SEQ_LIMIT) throw new RangeError(`seq ${seq} is outside 1..2^30-1`);
  out[offset] = seq >>> 24;
  out[offset + 1] = (seq >>> 16) & 0xff;
  out[offset + 2] = (seq >>> 8) & 0xff;
  out[offset + 3] = seq & 0xff;
  offset += 4;
  let length = declaredLength ?? data.length;
  while (length >= 0x80) {
    out[offset++] = (length & 0x7f) | 0x80;
    length = Math.floor(length / 0x80);
  }
  out[offset++] = length;
  out.set(data, offset);
  return offset + data.length;
}

/** Frames messages into a new body. */
export function frameMessages(messages: readonly SeqMessage[]): Uint8Array {
  const body = new Uint8Array(framedLength(messages));
  let offset = 0;
  for (const m of messages) offset = writeMessage(body, offset, m.seq, m.data);
  return body;
}

/** Splits a decrypted body into its messages (views into `body`), or `null` when it is malformed. */
export function parseMessages(body: Uint8Array): SeqMessage[] | null {
  const messages: SeqMessage[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (body.length - offset < 5) return null;
    const seq = ((body[offset]! << 24) >>> 0) + (body[offset + 1]! << 16) + (body[offset + 2]! << 8) + body[offset + 3]!;
    if (seq < 1 || seq >= SEQ_LIMIT) return null;
    offset += 4;
    let length = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === 5 || offset >= body.length) return null;
      const byte = body[offset++]!;
      length += (byte & 0x7f) * scale;
      scale *= 0x80;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) return null; // non-minimal encoding
        break;
      }
    }
    if (length > body.length - offset) return null;
    messages.push({ seq, data: body.subarray(offset, offset + length) });
    offset += length;
  }
  return messages.length > 0 ? messages : null;
}

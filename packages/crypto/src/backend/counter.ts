/** AES-CTR counter arithmetic shared by the backends that start the counter early to leave room for a header. */

/** Writes `iv - blocks` (128-bit big-endian, wrapping) into `out` and returns it. */
export function counterMinus(iv: Uint8Array, blocks: number, out: Uint8Array): Uint8Array {
  let borrow = blocks;
  for (let i = 15; i >= 0; i--) {
    const v = iv[i]! - (borrow & 0xff);
    borrow = Math.floor(borrow / 256) + (v < 0 ? 1 : 0);
    out[i] = v & 0xff;
  }
  return out;
}

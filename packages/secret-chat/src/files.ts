/**
 * Encrypted files of secret chats (the seed, "Sending Encrypted Files"): every file gets a one-time 256-bit AES key
 * and a 256-bit IV, unrelated to the chat key; its bytes are encrypted with AES-256-IGE as one stream, uploaded in
 * parts (each part continues the IGE chain of the previous one; the last part is zero-padded to a multiple of 16),
 * and key and IV travel inside the message (`decryptedMessageMediaDocument`). The server stores the ciphertext and
 * a 32-bit fingerprint: digest = md5(key ‖ iv), fingerprint = digest[0..4] XOR digest[4..8].
 */

import { AesIge, md5, randomBytes, wipe } from '@mtcall/crypto';
import { SecretChatError } from './errors.js';

/** The largest upload part Telegram accepts (upload.saveFilePart), and the default here. */
export const MAX_FILE_PART_SIZE = 512 * 1024;

/** A file's one-time key and IV. */
export interface FileKey {
  /** 32-byte AES-256 key. */
  key: Uint8Array;
  /** 32-byte IGE IV. */
  iv: Uint8Array;
}

/** A fresh random file key and IV. Wipe both when the file is sent and the message delivered. */
export function generateFileKey(): FileKey {
  return { key: randomBytes(32), iv: randomBytes(32) };
}

/**
 * The key fingerprint the server keeps beside an encrypted file (`inputEncryptedFileUploaded.key_fingerprint`):
 * md5(key ‖ iv), first 4 bytes XOR next 4 bytes, read as a little-endian signed 32-bit int. MD5 here is a
 * fingerprint only (to catch mismatched keys), as the spec uses it.
 */
export function fileKeyFingerprint(fileKey: FileKey): number {
  const digest = md5(fileKey.key, fileKey.iv);
  const view = new DataView(digest.buffer, digest.byteOffset, 8);
  return view.getInt32(0, true) ^ view.getInt32(4, true);
}

function checkPartSize(partSize: number): void {
  // Telegram requires parts divisible by 1 KiB with 512 KiB divisible by the part size.
  if (!Number.isInteger(partSize) || partSize < 1024 || partSize > MAX_FILE_PART_SIZE || partSize % 1024 !== 0 || MAX_FILE_PART_SIZE % partSize !== 0) {
    throw new SecretChatError('bad-part-size', `part size ${partSize} must divide 524288 and be a multiple of 1024`);
  }
}

/**
 * Encrypts a file for a secret chat, part by part: one IGE stream over the file zero-padded to a multiple of 16.
 *
 * @param data the whole file
 * @param partSize bytes per part (a divisor of 512 KiB, multiple of 1 KiB); the last part may be shorter
 * @returns the encrypted parts in order, to upload with upload.saveFilePart (none for an empty file)
 * @throws SecretChatError `bad-part-size`
 */
export function encryptFile(data: Uint8Array, fileKey: FileKey, partSize: number = MAX_FILE_PART_SIZE): Uint8Array[] {
  checkPartSize(partSize);
  const encryptor = new FileEncryptor(fileKey);
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += partSize) {
    const end = Math.min(data.length, offset + partSize);
    parts.push(encryptor.part(data.subarray(offset, end), end === data.length));
  }
  encryptor.destroy();
  return parts;
}

/** Encrypts a file part by part as it is read (a stream), keeping the IGE chain between parts. */
export class FileEncryptor {
  readonly #ige: AesIge;
  #done = false;

  constructor(fileKey: FileKey) {
    this.#ige = new AesIge(fileKey.key, fileKey.iv);
  }

  /**
   * The next encrypted part. Every part but the last must be a multiple of 16 bytes; the last is zero-padded.
   * @throws SecretChatError `bad-part-size` for a non-final part not a multiple of 16, or a part after the last
   */
  part(plain: Uint8Array, last: boolean): Uint8Array {
    if (this.#done) throw new SecretChatError('bad-part-size', 'the last part was already encrypted');
    if (!last && plain.length % 16 !== 0) throw new SecretChatError('bad-part-size', 'only the last part may be shorter than a multiple of 16');
    this.#done = last;
    if (plain.length % 16 === 0) return this.#ige.encrypt(plain);
    const padded = new Uint8Array((plain.length + 15) & ~15);
    padded.set(plain);
    const out = this.#ige.encrypt(padded);
    padded.fill(0);
    return out;
  }

  /** Wipes the key and the chain state. */
  destroy(): void {
    this.#ige.destroy();
  }
}

/**
 * Decrypts a downloaded file: its encrypted parts in order, then the padding cut to the plaintext `size` the
 * message's media carries. Checks the fingerprint first when one is given.
 *
 * @returns the file, or `null` when the fingerprint does not match, a part is not a multiple of 16, or `size`
 *   does not fit the ciphertext (never throws on bad bytes)
 */
export function decryptFile(parts: readonly Uint8Array[], fileKey: FileKey, size: number, expectedFingerprint?: number): Uint8Array | null {
  if (expectedFingerprint !== undefined && fileKeyFingerprint(fileKey) !== expectedFingerprint) return null;
  let total = 0;
  for (const part of parts) {
    if (!(part instanceof Uint8Array) || part.length % 16 !== 0) return null;
    total += part.length;
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > total || total - size >= 16) return null;
  const ige = new AesIge(fileKey.key, fileKey.iv);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(ige.decrypt(part), offset);
    offset += part.length;
  }
  ige.destroy();
  const file = out.slice(0, size);
  wipe(out);
  return file;
}

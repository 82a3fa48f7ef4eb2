/** MD5, for the one place the secret-chat spec uses it: the 32-bit fingerprint of an encrypted file's key. Not for security. */

import { md5 as nobleMd5 } from '@noble/hashes/legacy.js';
import { concatBytes } from './bytes.js';

/**
 * MD5 of the concatenation of `parts` (16 bytes). Used only as a fingerprint (the file key fingerprint of secret
 * chats); MD5 is broken for anything that needs collision resistance.
 *
 * @example
 * const digest = md5(fileKey, fileIv);
 */
export function md5(...parts: readonly Uint8Array[]): Uint8Array {
  return nobleMd5(parts.length === 1 ? parts[0]! : concatBytes(...parts));
}

/** Typed errors of the secret-chat package. `code` is stable and meant for programs; `message` is for people. */

import { MtcallCryptoError } from '@mtcall/crypto';

/** Why a byte string is not a valid end-to-end TL object. Parsers return these; they never throw. */
export const TL_ERROR_CODES = [
  'truncated', // the bytes end inside a field
  'trailing-bytes', // bytes left after the object
  'unknown-constructor', // a constructor id this implementation does not know (or not of the expected type)
  'bad-utf8', // a string field is not valid UTF-8
  'bad-length', // a bytes/string length prefix or vector count that cannot be right
  'bad-flags', // a flags word with bits this schema does not define (they could carry fields of a newer layer)
] as const;

/** One of `TL_ERROR_CODES`. */
export type TlErrorCode = (typeof TL_ERROR_CODES)[number];

/** Base class of every error this package throws on purpose (programming errors and protocol misuse). */
export class SecretChatError extends MtcallCryptoError {}

/** A TL parse failure, as a value: what went wrong and where. */
export interface TlError {
  readonly code: TlErrorCode;
  readonly message: string;
  /** Byte offset where parsing stopped. */
  readonly offset: number;
  /** The constructor id that was not recognized, for `'unknown-constructor'`. */
  readonly constructorId?: number;
}

/** Thrown inside the parser and turned into a `TlError` value at the public boundary (never escapes). */
export class TlParseError extends SecretChatError {
  readonly tlCode: TlErrorCode;
  readonly offset: number;
  readonly constructorId: number | undefined;
  constructor(code: TlErrorCode, message: string, offset: number, constructorId?: number) {
    super(`tl-${code}`, message);
    this.tlCode = code;
    this.offset = offset;
    this.constructorId = constructorId;
  }

  /** The value form returned by parsers. */
  toTlError(): TlError {
    return this.constructorId === undefined
      ? { code: this.tlCode, message: this.message, offset: this.offset }
      : { code: this.tlCode, message: this.message, offset: this.offset, constructorId: this.constructorId };
  }
}

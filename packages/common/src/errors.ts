/**
 * The error base of every mtcall package: an `Error` with a machine-readable `code` (a string union each package
 * defines once as an `as const` list), so apps branch on `error.code`, never on message text.
 */

/** An mtcall error: `code` says what happened, `message` says it in words. */
export class MtcallError<Code extends string = string> extends Error {
  /** What happened, e.g. `'media-permission-denied'`. */
  readonly code: Code;

  /**
   * @param code - the machine-readable reason
   * @param message - the same for people
   * @param options - `cause`: the underlying error, if any
   * @example throw new MtcallError('not-connected', 'call connect() first');
   */
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MtcallError';
    this.code = code;
  }
}

/** Whether `error` is an `MtcallError`, optionally with one of `codes`. */
export function isMtcallError<Code extends string>(error: unknown, ...codes: Code[]): error is MtcallError<Code> {
  return error instanceof MtcallError && (codes.length === 0 || (codes as string[]).includes(error.code));
}

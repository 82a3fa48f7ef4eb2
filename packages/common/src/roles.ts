/** Which side of a call a device is, written once for every package. */
export const CALL_ROLES = ['caller', 'callee'] as const;

/** The caller placed the call (it seals with x = 0 and receives with x = 8); the callee answered it. */
export type CallRole = (typeof CALL_ROLES)[number];

/** Errors of the SFU, each with a code the signaling server passes on to the client. */

import { MtcallError } from '@mtcall/common';

/** Why an SFU operation was refused, written once. */
export const SFU_ERROR_CODES = [
  'worker-unavailable', // the mediasoup worker binary is missing or did not start
  'closed', // the SFU was closed
  'unknown-room', // no such room
  'not-in-room', // the member is not in the room
  'unknown-transport', // no such transport of this member
  'unknown-producer', // no such producer (of this member, or in this room)
  'unknown-consumer', // no such consumer of this member
  'wrong-direction', // produce on a receive transport, or consume on a send transport
  'own-producer', // a member asked to consume its own producer
  'cannot-consume', // the receiver's RTP capabilities cannot decode the producer's codec
  'bad-parameters', // mediasoup refused the DTLS or RTP parameters
  'too-many-transports', // more than 2 transports per direction
  'too-many-producers', // more than 4 producers per member
  'too-many-consumers', // more than 64 consumers per member
  'unknown-peer', // no such peer SFU (or its link closed)
  'bad-peer-message', // a peer SFU sent a malformed control message
  'peer-failed', // a peer SFU failed a pipe request for another reason
  'peer-timeout', // a peer SFU did not answer a pipe request in time
] as const;

/** An SFU error code. */
export type SfuErrorCode = (typeof SFU_ERROR_CODES)[number];

/** An SFU operation failed; `code` says why. */
export class SfuError extends MtcallError<SfuErrorCode> {
  override readonly name = 'SfuError';
}

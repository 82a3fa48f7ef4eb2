/** The SDK's error codes, written once. Every `error` event and every rejected promise carries one. */

import { MtcallError } from '@mtcall/common';

export const CLIENT_ERROR_CODES = [
  'not-connected', // the client is not connected to the signaling server
  'connection-failed', // the signaling server could not be reached, or refused this device (e.g. a bad token)
  'media-permission-denied', // the person (or the browser's policy) refused the microphone, camera or screen
  'media-device-not-found', // no such microphone or camera
  'media-unavailable', // the device exists but could not be opened (in use, hardware error)
  'encryption-unsupported', // this browser has no encoded-transform API: media cannot be encrypted end to end
  'negotiation-failed', // the WebRTC offer/answer exchange failed
  'transport', // the media encryption worker reported a problem
  'signaling', // the signaling server answered with an error
  'not-in-call', // the call has not started, or has ended
  'invalid-state', // the method does not fit the call's state (e.g. accept() on an outgoing call)
  'room-refused', // the server or its SFU refused a room request (room-full, rooms-disabled, …: the message names it)
  'room-left', // the room session ended (left, or the connection closed) before the request was answered
  // Secret chats
  'chat-not-ready', // the other side has not accepted the chat yet
  'chat-closed', // the chat is closed (discarded, accepted elsewhere, a protocol violation, or refused by the server)
  'chat-refused', // the server refused a chat request (unknown-user, queue-full, file-quota, …: the message names it)
  'chat-update-required', // the other side's app speaks a newer secret-chat layer: update this one
  'unknown-message', // no such message (or it carries no file)
  'file-corrupt', // a downloaded file does not decrypt to its announced size
] as const;

/** An SDK error code. */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** An SDK error. */
export class MtcallClientError extends MtcallError<ClientErrorCode> {
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MtcallClientError';
  }
}

/** Maps a getUserMedia/getDisplayMedia failure to a typed error. */
export function mediaError(error: unknown, what: string): MtcallClientError {
  const name = (error as { name?: string } | null)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return new MtcallClientError('media-permission-denied', `${what}: permission denied`, { cause: error });
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new MtcallClientError('media-device-not-found', `${what}: no such device`, { cause: error });
  return new MtcallClientError('media-unavailable', `${what}: ${(error as Error | null)?.message ?? String(error)}`, { cause: error });
}

/**
 * @mtcall/signaling — key agreement and signaling for mtcall: the three-message hash-commitment DH
 * (`CallerHandshake`, `CalleeHandshake`, sans-IO), the wire protocol, `SignalingClient`, and the encrypted
 * in-call signaling channel. The server lives at `@mtcall/signaling/server` (Node only).
 */

export {
  CallerHandshake,
  CalleeHandshake,
  DEFAULT_HANDSHAKE_TIMEOUTS,
  type CallKeys,
  type DhConfig,
  type HandshakeState,
  type HandshakeStep,
  type HandshakeEvent,
  type HandshakeTimeouts,
  type HandshakeCounters,
  type IncomingCallOffer,
  type CallerHandshakeOptions,
  type CalleeHandshakeOptions,
} from './handshake.js';
export {
  PROTOCOL_VERSION,
  CALL_END_REASONS,
  MAX_SIGNALING_DATA_BYTES,
  parseClientMessage,
  parseServerMessage,
  type CallEndReason,
  type ClientMessage,
  type ServerMessage,
  SERVER_ERROR_CODES,
  type ServerErrorCode,
  type PresenceEntry,
  type IceServerInfo,
  type ParseResult,
  ROOM_SERVER_MESSAGE_TYPES,
  type RoomServerMessage,
  type RoomMemberInfo,
  type RoomProducerInfo,
  CHAT_SERVER_MESSAGE_TYPES,
  MAX_CHAT_MESSAGE_BYTES,
  MAX_CHAT_FILE_PART_BYTES,
  type ChatServerMessage,
  type ChatUpdate,
} from './protocol.js';
export { SecureSignalingChannel, inCallMessageSchema, type InCallMessage, type SignalingDropReason, type SignalingOpenResult } from './secure-channel.js';
export {
  SignalingClient,
  Call,
  memoryDhConfigCache,
  CHAT_REQUEST_PREFIX,
  type SignalingClientOptions,
  type SignalingClientEvents,
  type CallEvents,
  type DhConfigCache,
  type WebSocketLike,
  type WebSocketConstructor,
} from './client.js';
export { Emitter, MtcallError, isMtcallError } from '@mtcall/common';

/**
 * @mtcall/client — end-to-end encrypted calls in a web app: `MtcallClient` (one device's connection: calls,
 * presence, secret chats) and `CallSession` (one call: media, the four emoji, an honest security state), and
 * `ChatSession` (one secret chat: messages and files, also while the other side is offline). Browser, ESM.
 */

export { MtcallClient, type MtcallClientOptions, type MtcallClientEvents } from './client.js';
export {
  CallSession,
  type CallRole,
  type CallEnd,
  type EndedBy,
  type MediaRequest,
  type MediaSource,
  type PeerMedia,
  type CallSessionEvents,
  type CallSessionStats,
} from './session.js';
export { SecurityMonitor, SECURITY_STATES, DEFAULT_SECURITY_THRESHOLDS, type SecurityState, type MediaEvidence, type SecurityThresholds } from './security.js';
export { RejoinPolicy, DEFAULT_REJOIN_OPTIONS, type RejoinOptions, type RejoinAction } from './rejoin.js';
export { ReconnectPolicy, DEFAULT_RECONNECT_OPTIONS, type ReconnectOptions, type ReconnectAction, type PathState } from './reconnect.js';
export { MtcallClientError, CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js';
export { RoomSession, type RoomJoinOptions, type RoomSecurityState, type RoomTrack, type RoomSource, type RoomSessionEvents } from './room.js';
export { RoomKeyAgent, ROOM_KEY_WARNINGS, DEFAULT_ROOM_KEY_TIMINGS, type RoomMember, type RoomKeyWarning, type RoomKeyOutput, type RoomKeyTimings } from './room-keys.js';
export {
  SecretChats,
  ChatSession,
  CHAT_STATES,
  type ChatState,
  type ChatMessage,
  type ChatMessageStatus,
  type ChatSendFailure,
  type ChatFile,
  type ChatKeyInfo,
  type ChatSessionEvents,
  type SecretChatsEvents,
  type SecretChatsOptions,
} from './chat.js';
export { Pacer, DEFAULT_CHAT_PACE, type PaceLimit } from './pacer.js';
export { readPeerStats, type PeerStats } from './peer-stats.js';
export { EMOJI_FONT_FAMILY, emojiForDisplay, EMOJI_DISPLAY_TABLE } from './emoji.js';
export { MtcallError, isMtcallError } from '@mtcall/common';
export type { CallEndReason, PresenceEntry } from '@mtcall/signaling';
export type { TransportStats, TransformMode } from '@mtcall/transport';

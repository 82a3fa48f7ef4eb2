/**
 * @mtcall/secret-chat — Telegram secret chats, sans-IO: MTProto 2.0 end-to-end message encryption (AES-256-IGE,
 * x = 0/8), the end-to-end TL layer, the `SecretChat` state machine (two-message DH, layer notification, seq
 * numbers with gaps and resends, re-keying every 100 messages or week) and encrypted files.
 */

export {
  SecretChat,
  CHAT_DROP_REASONS,
  CLOSE_REASONS,
  REKEY_ABORT_REASONS,
  OUTPUT_TYPES,
  REKEY_AFTER_MS,
  REKEY_AFTER_MESSAGES,
  MAX_PENDING_MESSAGES,
  MAX_RESEND_SPAN,
  MAX_EARLY_PACKETS,
  RANDOM_BYTES_LENGTH,
  MIN_RANDOM_BYTES,
  type ChatDropReason,
  type CloseReason,
  type RekeyAbortReason,
  type ChatAction,
  type SecretChatOutput,
  type SecretChatOptions,
  type SecretChatDhConfig,
  type SecretChatStats,
  type OutgoingMessage,
} from './chat.js';
export {
  encryptSecretMessage,
  encryptSecretPayload,
  decryptSecretMessage,
  keyFingerprintBytes,
  fingerprintToLong,
  paddingLength,
  MESSAGE_DROP_REASONS,
  KEY_FINGERPRINT_LENGTH,
  SECRET_MSG_KEY_LENGTH,
  PACKET_HEADER_LENGTH,
  MIN_PADDING,
  MAX_PADDING,
  MIN_PACKET_LENGTH,
  type MessageDropReason,
  type DecryptMessageResult,
  type KeyLookup,
  type EncryptMessageOptions,
} from './message.js';
export { CHAT_ROLES, wireInSeqNo, wireOutSeqNo, rawReceivedSeq, senderOffset, peerRole, type ChatRole } from './seq.js';
export { keyVisualization, KEY_VISUALIZATION_LENGTH } from './visualization.js';
export { generateFileKey, fileKeyFingerprint, encryptFile, decryptFile, FileEncryptor, MAX_FILE_PART_SIZE, type FileKey } from './files.js';
export {
  CONSTRUCTOR_IDS,
  CONSTRUCTOR_NAMES,
  PLAIN_ENTITY_NAMES,
  SECRET_CHAT_LAYER,
  MIN_SECRET_CHAT_LAYER,
  INITIAL_REMOTE_LAYER,
  BIG_FILES_LAYER,
  type ConstructorName,
  type DecryptedMessageLayer,
  type DecryptedMessage,
  type DecryptedMessageService,
  type DecryptedMessageService8,
  type AnyDecryptedMessage,
  type DecryptedMessageMedia,
  type DecryptedMessageMediaEmpty,
  type DecryptedMessageMediaDocument,
  type DocumentAttribute,
  type DecryptedMessageAction,
  type MessageEntity,
  type TlObject,
} from './tl/schema.js';
export { serializeLayer, serializeMessage, parseLayer, parseLayerEnvelope, parseMessage, type TlResult, type LayerEnvelope } from './tl/serialize.js';
export { TlReader, TlWriter, VECTOR_ID, MAX_TL_BYTES } from './tl/codec.js';
export { SecretChatError, TlParseError, TL_ERROR_CODES, type TlError, type TlErrorCode } from './errors.js';

/**
 * @mtcall/crypto — the cryptographic core of mtcall: Telegram's call packet encryption (MTProto 2.0 KDF with
 * AES-256-CTR), seq framing and replay window, DH parameter checks, key and emoji fingerprints. Synchronous
 * and sans-IO; runs on Node (OpenSSL) and in browsers and workers (@noble).
 */

export { sha256, sha1, sha256With } from './hash.js';
export { ChannelOffset, channelOffset, isChannelOffset, type CallChannel, type ChannelEndpoint } from './channel.js';
export {
  PacketCipher,
  computeMsgKey,
  deriveAesKeyIv,
  encryptPacket,
  decryptPacket,
  KEY_LENGTH,
  MSG_KEY_LENGTH,
  PACKET_ROOM,
  type AesKeyIv,
} from './packet.js';
export { ReplayWindow, REPLAY_WINDOW_SIZE, type ReplayVerdict } from './replay-window.js';
export { SEQ_LIMIT, frameMessages, parseMessages, type SeqMessage } from './framing.js';
export {
  PacketSealer,
  PacketOpener,
  DROP_REASONS,
  type DropReason,
  type OpenResult,
  type ContentCheck,
  type ReceivedMessage,
  type SealedPacket,
  type SealerStats,
  type OpenerStats,
  type PacketChannelOptions,
  type PacketSealerOptions,
  type PacketOpenerOptions,
  DEFAULT_MAX_PACKET_BYTES,
} from './sealer.js';
export {
  AesIge,
  aes256IgeEncrypt,
  aes256IgeDecrypt,
  nobleBlockBackend,
  createNodeBlockBackend,
  defaultBlockBackend,
  IGE_KEY_LENGTH,
  IGE_IV_LENGTH,
  AES_BLOCK_LENGTH,
  type AesBlockBackend,
  type AesBlockDecryptor,
} from './ige.js';
export { deriveIgeKeyIv, type SecretChatOffset } from './secret-kdf.js';
export { md5 } from './md5.js';
export { keyFingerprint, emojiIndices, emojiFingerprint, EMOJI_TABLE } from './fingerprint.js';
export {
  GROUP_SECRET_LENGTH,
  ROOM_NONCE_LENGTH,
  hmacSha256,
  hkdfSha256,
  roomSenderKey,
  roomPairHash,
  encodeRoomTranscript,
  roomCodeCommitment,
  roomCodeHash,
  roomCode,
  emojiIndicesOfHash,
  type RoomTranscript,
  type RoomTranscriptMember,
} from './room.js';
export { emojiForDisplay, EMOJI_DISPLAY_TABLE } from './emoji-display.js';
export { checkDhConfig, checkDhPublic, generateDhKeyPair, computeSharedKey, type DhKeyPair, type DhPrime } from './dh.js';
export { TELEGRAM_DH_GROUP, RFC3526_GROUP_14, type DhGroup } from './dh-groups.js';
export { MtcallCryptoError, DhCheckError, SeqExhaustedError, DestroyedError, type DhRule } from './errors.js';
export { createWebCryptoBackend, type AsyncCryptoBackend } from './backend/webcrypto.js';
export {
  defaultBackend,
  nobleBackend,
  getNodeBackend,
  nodeCryptoModule,
  availableBackends,
  createNodeBackend,
  loadWasmBackend,
  wasmBackendIfLoaded,
  preferredBackend,
  type CryptoBackend,
} from './backend/index.js';
export {
  bytesToHex,
  hexToBytes,
  bytesToBase64,
  base64ToBytes,
  bytesToBigInt,
  bigIntToBytes,
  concatBytes,
  constantTimeEqual,
  randomBytes,
  wipe,
} from './bytes.js';

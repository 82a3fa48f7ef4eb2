/**
 * @mtcall/transport — end-to-end media encryption for WebRTC calls: `FrameCryptor` (sans-IO, used by the
 * worker and by Node peers), `SecureCall` (attaches the worker's transforms to an RTCPeerConnection), and the
 * codec rules. The worker entry is `@mtcall/transport/worker`.
 */

export { FrameCryptor, DEFAULT_ASYNC_THRESHOLD, FRAME_DROP_REASONS, emptyFrameCryptorStats, type MediaKind, type MediaStreamRef, type FrameDropReason, type FrameCryptorStats, type DecryptResult, type FrameCryptorOptions } from './frame-cryptor.js';
export { FrameFormat, codecRuleFor, codecRuleForFormat, frameFormatForCodec, type CodecRule } from './codecs/index.js';
export {
  PeerConnectionEncryption,
  detectTransformMode,
  EncodedTransformUnsupportedError,
  type PeerConnectionEncryptionOptions,
  type PeerConnectionEncryptionEvents,
  type TransformMode,
  SecureCall,
  type SecureCallOptions,
  type SecureCallEvents,
} from './secure-call.js';
export type { TransportStats, TransformOptions, ToWorker, FromWorker } from './worker-protocol.js';
export { RoomFrameCryptor, ROOM_FRAME_DROP_REASONS, type RoomStreamRef, type RoomFrameDropReason, type RoomFrameCryptorStats, type RoomDecryptResult, type RoomFrameCryptorOptions } from './room-frame-cryptor.js';
export { RoomWorkerCore, type RoomTransformOptions, type RoomToWorker, type RoomFromWorker, type RoomTransportStats, type RoomWorkerHooks } from './room-worker-core.js';
export { RoomMediaEncryption, roomTransportSettings, type RoomMediaEncryptionOptions, type RoomMediaEncryptionEvents } from './room-media.js';

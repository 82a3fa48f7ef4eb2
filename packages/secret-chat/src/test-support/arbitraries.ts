/** fast-check arbitraries of every object `tl/serialize.ts` writes. */
import fc from 'fast-check';
import { PLAIN_ENTITY_NAMES, type AnyDecryptedMessage, type DecryptedMessageAction, type DecryptedMessageLayer, type DecryptedMessageMedia, type DocumentAttribute, type MessageEntity } from '../tl/schema.js';

const int = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const long = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const bytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 250, maxLength: 260 }));
const text = fc.string({ unit: 'grapheme', maxLength: 80 });

export const entity: fc.Arbitrary<MessageEntity> = fc.oneof(
  fc.record({ _: fc.constantFrom(...PLAIN_ENTITY_NAMES), offset: int, length: int }),
  fc.record({ _: fc.constant('messageEntityPre' as const), offset: int, length: int, language: text }),
  fc.record({ _: fc.constant('messageEntityTextUrl' as const), offset: int, length: int, url: text }),
  fc.record({ _: fc.constant('messageEntityMentionName' as const), offset: int, length: int, userId: int }),
  fc.record({ _: fc.constant('messageEntityCustomEmoji' as const), offset: int, length: int, documentId: long }),
);

export const attribute: fc.Arbitrary<DocumentAttribute> = fc.oneof(
  fc.record({ _: fc.constant('documentAttributeImageSize' as const), w: int, h: int }),
  fc.record({ _: fc.constant('documentAttributeAnimated' as const) }),
  fc.record({ _: fc.constant('documentAttributeFilename' as const), fileName: text }),
  fc.record({ _: fc.constant('documentAttributeVideo66' as const), roundMessage: fc.boolean(), duration: int, w: int, h: int }),
  fc.record(
    { _: fc.constant('documentAttributeAudio' as const), voice: fc.boolean(), duration: int, title: text, performer: text, waveform: bytes },
    { requiredKeys: ['_', 'voice', 'duration'] },
  ),
);

export const media: fc.Arbitrary<DecryptedMessageMedia> = fc.oneof(
  fc.constant({ _: 'decryptedMessageMediaEmpty' as const }),
  fc.record({
    _: fc.constantFrom('decryptedMessageMediaDocument' as const, 'decryptedMessageMediaDocument46' as const),
    thumb: bytes,
    thumbW: int,
    thumbH: int,
    mimeType: text,
    size: fc.bigInt({ min: 0n, max: 0x7fffffffn }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    iv: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    attributes: fc.array(attribute, { maxLength: 4 }),
    caption: text,
  }),
);

export const action: fc.Arbitrary<DecryptedMessageAction> = fc.oneof(
  fc.record({ _: fc.constant('decryptedMessageActionSetMessageTTL' as const), ttlSeconds: int }),
  fc.record({ _: fc.constantFrom('decryptedMessageActionReadMessages' as const, 'decryptedMessageActionDeleteMessages' as const, 'decryptedMessageActionScreenshotMessages' as const), randomIds: fc.array(long, { maxLength: 5 }) }),
  fc.record({ _: fc.constantFrom('decryptedMessageActionFlushHistory' as const, 'decryptedMessageActionNoop' as const) }),
  fc.record({ _: fc.constant('decryptedMessageActionResend' as const), startSeqNo: int, endSeqNo: int }),
  fc.record({ _: fc.constant('decryptedMessageActionNotifyLayer' as const), layer: int }),
  fc.record({ _: fc.constant('decryptedMessageActionRequestKey' as const), exchangeId: long, gA: bytes }),
  fc.record({ _: fc.constant('decryptedMessageActionAcceptKey' as const), exchangeId: long, gB: bytes, keyFingerprint: long }),
  fc.record({ _: fc.constant('decryptedMessageActionAbortKey' as const), exchangeId: long }),
  fc.record({ _: fc.constant('decryptedMessageActionCommitKey' as const), exchangeId: long, keyFingerprint: long }),
);

export const message: fc.Arbitrary<AnyDecryptedMessage> = fc.oneof(
  fc.record(
    {
      _: fc.constant('decryptedMessage' as const),
      silent: fc.boolean(),
      randomId: long,
      ttl: int,
      message: fc.string({ unit: 'grapheme', maxLength: 400 }),
      media,
      entities: fc.array(entity, { maxLength: 4 }),
      viaBotName: text,
      replyToRandomId: long,
      groupedId: long,
    },
    { requiredKeys: ['_', 'silent', 'randomId', 'ttl', 'message'] },
  ),
  fc.record({ _: fc.constant('decryptedMessageService' as const), randomId: long, action }),
  fc.record({ _: fc.constant('decryptedMessageService8' as const), randomId: long, randomBytes: bytes, action }),
);

export const layer: fc.Arbitrary<DecryptedMessageLayer> = fc.record({
  _: fc.constant('decryptedMessageLayer' as const),
  randomBytes: bytes,
  layer: int,
  inSeqNo: int,
  outSeqNo: int,
  message,
});

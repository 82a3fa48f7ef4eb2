/**
 * Fuzz tests of the signaling layer: `parseClientMessage`, `parseServerMessage` (against a hand-written reference
 * of the schemas), `SecureSignalingChannel.open`, and the server's handler through the sans-IO
 * `SignalingServerCore` (open / receive / close / tick) with a fuzzing connection beside two honest devices in a
 * call (and a bystander).
 *
 * Inputs: random strings and JSON values, valid messages with fields deleted, added, retyped or tweaked (base64
 * one character off, ids too long, fingerprints past 64 bits, unknown types), text mutations (truncated,
 * characters inserted or replaced, wrapped, BOM), boundary sizes (empty, 1 character, 15/16/17 bytes, past the
 * frame limit, 1 MiB), sealed packets for the other direction or from a previous call's key, replays.
 * Invariants: nothing throws; a parser accepts exactly what its schema allows; the secure channel never accepts a
 * forged or replayed packet and a drop changes no state, counters add up; the server answers every frame of the
 * fuzzer with a bounded number of outputs addressed only to the fuzzer (except presence, and the effects of calls
 * the fuzzer itself placed), never disturbs the honest call, and relays its signaling correctly after the fuzzing.
 *
 * Reproducible: every target runs under a fixed fast-check seed. Each fast-check run draws one 32-bit batch
 * seed and runs a batch of cases from a small deterministic PRNG seeded with it (amortizing fast-check's
 * per-run overhead); a failure reports the batch seed as the counterexample and the case inside the batch.
 *
 * Volume: at least 100 000 cases per target by default.
 *   Long mode:      MTCALL_FUZZ_RUNS=20 npx vitest run src/fuzz.test.ts   (multiplies every case count; default and minimum 1)
 *   Another seed:   MTCALL_FUZZ_SEED=12345 npx vitest run src/fuzz.test.ts (default: the fixed seeds below)
 *   Case counts:    MTCALL_FUZZ_VERBOSE=1 prints how many cases of each kind every target ran
 * Nothing here measures time (the server's clock is a number the test advances).
 */

import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { PacketSealer, TELEGRAM_DH_GROUP, bytesToBase64, DROP_REASONS, REPLAY_WINDOW_SIZE, type ReplayVerdict } from '@mtcall/crypto';
import { CALL_END_REASONS, MAX_SIGNALING_DATA_BYTES, MAX_TOKEN_CHARS, MAX_WATCH_PER_MESSAGE, parseClientMessage, parseServerMessage, type ParseResult } from './protocol.js';
import { SecureSignalingChannel, type InCallMessage } from './secure-channel.js';
import { SignalingServerCore, type ServerOutput } from './server-core.js';
import { RUNS, TIMEOUT, Rng, fuzz, report, check, randomLength, randomBytes, mutate, ModelWindow } from '@mtcall/testkit';

/**
 * The server draws call ids from `randomBytes`; here they come from a seeded generator, reseeded for every
 * session, so a run (and any failing batch on its own) replays exactly.
 */
const serverRandom = vi.hoisted(() => {
  let state = 1;
  return {
    reseed(seed: number): void {
      state = seed | 0 || 1;
    },
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        out[i] = state;
      }
      return out;
    },
  };
});
vi.mock('@mtcall/crypto', async (importOriginal) => ({ ...(await importOriginal<typeof import('@mtcall/crypto')>()), randomBytes: (n: number) => serverRandom.bytes(n) }));

// ---------------------------------------------------------------------------------------------------------------
// Generators: strings, JSON values, valid messages and their mutations.

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-';
const HEX = '0123456789abcdef';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ODD_CHARS = ['é', '😀', '\ud800', '\udc00', '\u0000', '\u001f', '"', '\\', '/', ' ', '\n', '\t', '\u2028', '\ufeff', '=', '{', '}', '[', ']', ':', ',', '-', '_', '+', 'ÿ', '中'];

function randomString(rng: Rng, maxLength = 12): string {
  const length = rng.int(maxLength + 1);
  const alphabet = rng.pick([ID_CHARS, HEX, B64, ID_CHARS + ODD_CHARS.join('')]);
  let out = '';
  for (let i = 0; i < length; i++) out += rng.chance(0.05) ? rng.pick(ODD_CHARS) : alphabet[rng.int(alphabet.length)]!;
  return out;
}

const id = (rng: Rng, length = rng.range(1, 12)) => Array.from({ length }, () => ID_CHARS[rng.int(ID_CHARS.length)]!).join('');
const freshHexId = (rng: Rng) => Array.from({ length: 32 }, () => HEX[rng.int(16)]!).join('');
const pools = new Rng(0x9001);
/** Pools of call ids and of base64 values of the key-agreement sizes: most draws reuse one (it is cheaper). */
const POOLS = {
  hex: Array.from({ length: 128 }, () => freshHexId(pools)),
  32: Array.from({ length: 64 }, () => bytesToBase64(pools.bytes(32))),
  256: Array.from({ length: 64 }, () => bytesToBase64(pools.bytes(256))),
};
const hexId = (rng: Rng) => (rng.chance(0.9) ? rng.pick(POOLS.hex) : freshHexId(rng));
const b64 = (rng: Rng, n: number) => ((n === 32 || n === 256) && rng.chance(0.9) ? rng.pick(POOLS[n]) : bytesToBase64(rng.bytes(n)));

const NUMBERS = [0, 1, -1, 2, 7, 0.5, -0.5, 1e21, -1e21, 2 ** 31, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 1e308, -1e308, Number.MIN_VALUE, 255, 256, 1024, 1025];
const KEYS = ['type', 'protocol', 'userId', 'deviceId', 'token', 'presence', 'version', 'requestId', 'calleeId', 'gAHash', 'video', 'callId', 'gB', 'gA', 'keyFingerprint', 'reason', 'data', 'users', 'p', 'g', 'code', 'message', 'devices', 'callerId', 'dhVersion', '__proto__', 'constructor', 'toString', '', 'x'];

function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : rng.range(-1000, 1000);
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[rng.chance(0.7) ? rng.pick(KEYS) : randomString(rng, 6)] = randomJson(rng, depth + 1);
      return o;
    }
  }
}

/** A JSON object with `__proto__` as an own key (as JSON.parse makes it), not as the prototype. */
function withOwnKey(o: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}

const FINGERPRINTS = ['0', '-1', '1', '9223372036854775807', '-9223372036854775808', '9223372036854775808', '-9223372036854775809', '01', '-0', '+1', '1.0', '1e3', ' 1', '99999999999999999999', '-'];

/** Mutations of one string field: base64 one character off, padding, ids too long, fingerprints past 64 bits. */
function tweakString(rng: Rng, s: string): unknown {
  switch (rng.int(9)) {
    case 0:
      return s.slice(0, rng.int(s.length + 1));
    case 1:
      return s + rng.pick(['=', 'A', '==', 'AAAA', ' ', '\n', rng.pick(ODD_CHARS)]);
    case 2: {
      const at = rng.int(Math.max(1, s.length));
      return s.slice(0, at) + rng.pick([...B64.split(''), ...ODD_CHARS]) + s.slice(at + 1);
    }
    case 3:
      return s.replace(/=+$/, '');
    case 4:
      return rng.pick(['', 'x', 'A'.repeat(64), 'A'.repeat(65), 'a'.repeat(40), 'a'.repeat(41), 'f'.repeat(31), 'f'.repeat(32), 'F'.repeat(32), 'g'.repeat(32)]);
    case 5:
      return rng.pick(FINGERPRINTS);
    case 6:
      return s.toUpperCase();
    case 7:
      return rng.pick([1, true, null, [s], { s }]);
    default:
      return s + s;
  }
}

/** One structural mutation of a message object (a copy): a field deleted, added, retyped or tweaked, or the type changed. */
function mutateObject(rng: Rng, message: Record<string, unknown>, types: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = { ...message };
  const keys = Object.keys(o).filter((k) => k !== 'type');
  const key = keys.length > 0 ? rng.pick(keys) : 'type';
  switch (rng.int(8)) {
    case 0:
      delete o[key];
      break;
    case 1:
      if (rng.chance(0.2)) return withOwnKey(o, '__proto__', randomJson(rng));
      o[rng.chance(0.6) ? rng.pick(KEYS) : randomString(rng, 8)] = randomJson(rng);
      break;
    case 2:
      o[key] = randomJson(rng);
      break;
    case 3:
    case 4: {
      const value = o[key];
      if (typeof value === 'string') o[key] = tweakString(rng, value);
      else if (typeof value === 'number') o[key] = rng.pick([value + 1, value - 1, -value, value + 0.5, String(value), rng.pick(NUMBERS)]);
      else if (typeof value === 'boolean') o[key] = rng.pick([!value, 'true', 1, 0, null]);
      else o[key] = randomJson(rng);
      break;
    }
    case 5:
      o.type = rng.chance(0.7) ? rng.pick(types) : rng.pick(['', 'Hello', 'hello ', 'HELLO', 'unknown', 'toString', '__proto__', 1, null, ['hello']]);
      break;
    case 6:
      delete o.type;
      break;
    default:
      if (rng.chance(0.5)) for (const k of keys) o[k] = randomJson(rng);
      else delete o[key];
  }
  return o;
}

/** Text mutations of a frame: truncated, characters inserted or replaced, wrapped, BOM, a number spelled oddly. */
function mutateText(rng: Rng, text: string): string {
  const n = text.length;
  const at = rng.int(n + 1);
  switch (rng.int(10)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + rng.pick(ODD_CHARS) + text.slice(at);
    case 2:
      return text.slice(0, at) + rng.pick(ODD_CHARS) + text.slice(at + 1);
    case 3:
      return `[${text}]`;
    case 4:
      return JSON.stringify(text);
    case 5:
      return '\ufeff' + text;
    case 6:
      return ` \n\t${text}\r\n `;
    case 7:
      return text + rng.pick(['', '}', ',', ' ', 'x', '{}', '\u0000']);
    case 8:
      // The same number spelled differently (1e0, 1.0, -0) or out of range (1e400).
      return text.replace(/:(-?\d+)([,}])/, (_m, d: string, end: string) => `:${rng.pick([`${d}e0`, `${d}.0`, '1e400', '-0', `0${d}`, `${d}.5`])}${end}`);
    default:
      // A duplicate key: JSON.parse keeps the last.
      return text.replace(/^\{/, `{"${rng.pick(KEYS)}":${JSON.stringify(randomJson(rng))},`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A hand-written reference of the wire schemas (protocol.ts), for differential testing of both parsers.

type Check = (v: unknown) => boolean;
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
const isInteger = (v: unknown) => isNumber(v) && Number.isInteger(v);
const isBool = (v: unknown) => typeof v === 'boolean';
const matches = (re: RegExp) => (v: unknown) => isString(v) && re.test(v);
const isId = matches(/^[A-Za-z0-9_.@-]{1,64}$/);
const isCallId = matches(/^[0-9a-f]{32}$/);
const isRequestId = matches(/^[A-Za-z0-9_-]{1,40}$/);
/** Bytes of strict padded base64 (Node's decoder as the oracle: canonical = re-encoding gives the text back). */
const base64Length = (s: string): number | null => {
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes.length : null;
};
const isBase64Of = (n: number): Check => (v) => isString(v) && v.length <= Math.ceil(n / 3) * 4 && base64Length(v) === n;
const isBase64Max = (n: number): Check => (v) => isString(v) && v.length <= Math.ceil(n / 3) * 4 && base64Length(v) !== null;
const isFingerprint: Check = (v) => isString(v) && /^-?(0|[1-9][0-9]{0,18})$/.test(v) && BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n;
const isReason: Check = (v) => (CALL_END_REASONS as readonly unknown[]).includes(v);
const literal = (x: unknown): Check => (v) => v === x;

interface Shape {
  required: Record<string, Check>;
  optional?: Record<string, Check>;
}
const CLIENT: Record<string, Shape> = {
  hello: {
    required: { type: literal('hello'), protocol: literal(1), userId: isId, deviceId: isId },
    optional: { token: (v) => isString(v) && v.length <= MAX_TOKEN_CHARS, presence: isBool, resume: (v) => isString(v) && /^[A-Za-z0-9_-]{16,64}$/.test(v),
      rejoin: (v) => Array.isArray(v) && v.length <= 8 && v.every((c) => isObject(c) && Object.keys(c).every((k) => ['callId', 'role', 'proof'].includes(k)) && isCallId(c.callId) && (c.role === 'caller' || c.role === 'callee') && isBase64Of(32)(c.proof)) },
  },
  watch: { required: { type: literal('watch'), users: (v) => Array.isArray(v) && v.length <= MAX_WATCH_PER_MESSAGE && v.every(isId) } },
  getDhConfig: { required: { type: literal('getDhConfig'), version: (v) => isInteger(v) && (v as number) >= 0 } },
  requestCall: { required: { type: literal('requestCall'), requestId: isRequestId, calleeId: isId, gAHash: isBase64Of(32), video: isBool } },
  acceptCall: { required: { type: literal('acceptCall'), callId: isCallId, gB: isBase64Of(256) } },
  confirmCall: { required: { type: literal('confirmCall'), callId: isCallId, gA: isBase64Of(256), keyFingerprint: isFingerprint } },
  discardCall: { required: { type: literal('discardCall'), callId: isCallId, reason: isReason } },
  signalingData: { required: { type: literal('signalingData'), callId: isCallId, data: isBase64Max(MAX_SIGNALING_DATA_BYTES) } },
};
/** A non-negative integer (the server schema's counts and versions). */
const isCount = (v: unknown) => isInteger(v) && (v as number) >= 0;
const isPresenceUser: Check = (v) => isObject(v) && isId(v.userId) && isCount(v.devices) && isBool(v.inCall);

const SERVER: Record<string, Shape> = {
  welcome: {
    required: { type: literal('welcome'), protocol: isCount, userId: isId, deviceId: isId, dhVersion: isCount },
    optional: { resumeToken: (v) => isString(v) && /^[A-Za-z0-9_-]{16,64}$/.test(v), resumed: (v) => Array.isArray(v) && v.length <= 64 && v.every(isCallId) },
  },
  presence: { required: { type: literal('presence'), users: (v) => Array.isArray(v) && v.every(isPresenceUser) }, optional: { truncated: isBool } },
  presenceUpdate: { required: { type: literal('presenceUpdate'), userId: isId, devices: isCount, inCall: isBool } },
  dhConfig: { required: { type: literal('dhConfig'), version: (v) => isInteger(v) && (v as number) >= 1, p: isBase64Of(256), g: isInteger } },
  dhConfigNotModified: { required: { type: literal('dhConfigNotModified'), version: isCount } },
  callRequested: { required: { type: literal('callRequested'), requestId: isRequestId, callId: isCallId, devices: isCount } },
  phoneCallRequested: { required: { type: literal('phoneCallRequested'), callId: isCallId, callerId: isId, gAHash: isBase64Of(32), video: isBool } },
  phoneCallAccepted: { required: { type: literal('phoneCallAccepted'), callId: isCallId, gB: isBase64Of(256) } },
  phoneCall: { required: { type: literal('phoneCall'), callId: isCallId, gA: isBase64Of(256), keyFingerprint: isFingerprint } },
  phoneCallDiscarded: { required: { type: literal('phoneCallDiscarded'), callId: isCallId, reason: isReason } },
  callRejoined: { required: { type: literal('callRejoined'), callId: isCallId } },
  signalingData: { required: { type: literal('signalingData'), callId: isCallId, data: isBase64Max(MAX_SIGNALING_DATA_BYTES) } },
  error: { required: { type: literal('error'), code: isString, message: isString }, optional: { requestId: isString, callId: isString } },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The reference verdict for a frame: the error code, or the message a parser must output (client objects are
 * strict: no other keys; server objects are loose: other keys are dropped, in `presence.users` too).
 */
function referenceParse(text: string, shapes: Record<string, Shape>, strict: boolean): { code: string } | { message: Record<string, unknown> } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { code: 'bad-json' };
  }
  if (!isObject(json)) return { code: 'invalid-message' };
  const type = json.type;
  if (typeof type !== 'string' || !Object.hasOwn(shapes, type)) return { code: 'unknown-type' };
  const shape = shapes[type]!;
  const out: Record<string, unknown> = {};
  for (const [key, ok] of Object.entries(shape.required)) {
    if (!Object.hasOwn(json, key) || !ok(json[key])) return { code: 'invalid-message' };
    out[key] = json[key];
  }
  for (const [key, ok] of Object.entries(shape.optional ?? {})) {
    if (!Object.hasOwn(json, key)) continue;
    if (!ok(json[key])) return { code: 'invalid-message' };
    out[key] = json[key];
  }
  if (strict && Object.keys(json).some((k) => !Object.hasOwn(out, k))) return { code: 'invalid-message' };
  if (type === 'presence') out.users = (out.users as Record<string, unknown>[]).map((u) => ({ userId: u.userId, devices: u.devices, inCall: u.inCall }));
  return { message: out };
}

/** JSON with sorted keys (own `__proto__` keys included), for comparing parsed objects. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

/** True when `v` holds a number JSON cannot carry (1e400 parses to Infinity). */
function hasNonFinite(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(hasNonFinite);
  if (isObject(v)) return Object.values(v).some(hasNonFinite);
  return false;
}

const CLIENT_TYPES = Object.keys(CLIENT);
const SERVER_TYPES = Object.keys(SERVER);

function validClient(rng: Rng, ctx: { callIds?: string[]; token?: string } = {}): Record<string, unknown> {
  const callId = () => (ctx.callIds && ctx.callIds.length > 0 && rng.chance(0.7) ? rng.pick(ctx.callIds) : hexId(rng));
  switch (rng.pick(CLIENT_TYPES)) {
    case 'hello': {
      const m: Record<string, unknown> = { type: 'hello', protocol: 1, userId: rng.chance(0.5) ? rng.pick(['mallory', 'carol', 'eve']) : id(rng), deviceId: rng.chance(0.5) ? rng.pick(['m1', 'm2']) : id(rng) };
      if (ctx.token !== undefined ? rng.chance(0.9) : rng.chance(0.3)) m.token = ctx.token !== undefined && rng.chance(0.9) ? ctx.token : randomString(rng, 20);
      if (rng.chance(0.5)) m.presence = rng.chance(0.5);
      if (rng.chance(0.2)) m.resume = rng.chance(0.7) ? 'R'.repeat(rng.range(14, 66)) : randomString(rng, 24);
      if (rng.chance(0.1)) m.rejoin = Array.from({ length: rng.int(10) }, () => ({ callId: hexId(rng), role: rng.pick(['caller', 'callee']), proof: b64(rng, rng.chance(0.9) ? 32 : 31) }));
      return m;
    }
    case 'getDhConfig':
      return { type: 'getDhConfig', version: rng.pick([0, 1, 7, 8, 2 ** 31]) };
    case 'watch':
      // Sometimes past the fuzz server's cap (5), sometimes naming the honest users.
      return { type: 'watch', users: Array.from({ length: rng.int(rng.chance(0.1) ? 12 : 6) }, () => (rng.chance(0.3) ? rng.pick(['alice', 'bob', 'carol']) : id(rng))) };
    case 'requestCall':
      return { type: 'requestCall', requestId: id(rng).replace(/[.@]/g, '_').slice(0, 40), calleeId: rng.pick(['carol', 'mallory', 'nobody', 'alice', 'bob', id(rng)]), gAHash: b64(rng, 32), video: rng.chance(0.5) };
    case 'acceptCall':
      return { type: 'acceptCall', callId: callId(), gB: b64(rng, 256) };
    case 'confirmCall':
      return { type: 'confirmCall', callId: callId(), gA: b64(rng, 256), keyFingerprint: BigInt.asIntN(64, BigInt(rng.u32()) * 2n ** 32n + BigInt(rng.u32())).toString() };
    case 'discardCall':
      return { type: 'discardCall', callId: callId(), reason: rng.pick(CALL_END_REASONS) };
    default:
      return { type: 'signalingData', callId: callId(), data: b64(rng, rng.chance(0.02) ? rng.pick([MAX_SIGNALING_DATA_BYTES, MAX_SIGNALING_DATA_BYTES + 1]) : rng.int(120)) };
  }
}

function validServer(rng: Rng): Record<string, unknown> {
  switch (rng.pick(SERVER_TYPES)) {
    case 'welcome':
      return { type: 'welcome', protocol: 1, userId: id(rng), deviceId: id(rng), dhVersion: rng.int(10) };
    case 'presence':
      return { type: 'presence', users: Array.from({ length: rng.int(4) }, () => ({ userId: id(rng), devices: rng.int(4), inCall: rng.chance(0.5) })), ...(rng.chance(0.3) ? { truncated: rng.chance(0.5) } : {}) };
    case 'presenceUpdate':
      return { type: 'presenceUpdate', userId: id(rng), devices: rng.int(4), inCall: rng.chance(0.5) };
    case 'dhConfig':
      return { type: 'dhConfig', version: rng.range(1, 9), p: bytesToBase64(TELEGRAM_DH_GROUP.p), g: 3 };
    case 'dhConfigNotModified':
      return { type: 'dhConfigNotModified', version: rng.int(10) };
    case 'callRequested':
      return { type: 'callRequested', requestId: id(rng).replace(/[.@]/g, '-'), callId: hexId(rng), devices: rng.int(3) };
    case 'phoneCallRequested':
      return { type: 'phoneCallRequested', callId: hexId(rng), callerId: id(rng), gAHash: b64(rng, 32), video: rng.chance(0.5) };
    case 'phoneCallAccepted':
      return { type: 'phoneCallAccepted', callId: hexId(rng), gB: b64(rng, 256) };
    case 'phoneCall':
      return { type: 'phoneCall', callId: hexId(rng), gA: b64(rng, 256), keyFingerprint: rng.pick(FINGERPRINTS.slice(0, 5)) };
    case 'phoneCallDiscarded':
      return { type: 'phoneCallDiscarded', callId: hexId(rng), reason: rng.pick(CALL_END_REASONS) };
    case 'callRejoined':
      return { type: 'callRejoined', callId: hexId(rng) };
    case 'signalingData':
      return { type: 'signalingData', callId: hexId(rng), data: b64(rng, rng.int(120)) };
    default: {
      const m: Record<string, unknown> = { type: 'error', code: rng.pick(['bad-json', 'unknown-call', 'x']), message: randomString(rng, 30) };
      if (rng.chance(0.3)) m.callId = hexId(rng);
      if (rng.chance(0.3)) m.requestId = id(rng);
      return m;
    }
  }
}

/** A frame: a valid message (30%), a structurally mutated one, a text-mutated one, or random text/JSON. */
function frame(rng: Rng, valid: () => Record<string, unknown>, types: readonly string[]): { text: string; kind: string } {
  const r = rng.int(100);
  if (r < 30) return { text: JSON.stringify(valid()), kind: 'valid' };
  if (r < 65) {
    let o = mutateObject(rng, valid(), types);
    if (rng.chance(0.3)) o = mutateObject(rng, o, types);
    return { text: JSON.stringify(o), kind: 'mutated-field' };
  }
  if (r < 85) return { text: mutateText(rng, JSON.stringify(valid())), kind: 'mutated-text' };
  if (r < 93) return { text: JSON.stringify(randomJson(rng)), kind: 'random-json' };
  return { text: rng.chance(0.3) ? rng.pick(['', ' ', '{', '}', '{}', '[]', 'null', '"hello"', '{"type":"hello"}', '0'.repeat(16), 'x'.repeat(17)]) : randomString(rng, 24), kind: 'random-text' };
}

// ---------------------------------------------------------------------------------------------------------------
// parseClientMessage, parseServerMessage

describe.each([
  ['parseClientMessage', parseClientMessage as (text: string) => ParseResult<unknown>, CLIENT, true, 0xc1],
  ['parseServerMessage', parseServerMessage as (text: string) => ParseResult<unknown>, SERVER, false, 0x5e],
] as const)('%s', (name, parse, shapes, strict, seed) => {
  const types = Object.keys(shapes);
  const valid = (rng: Rng) => (strict ? validClient(rng) : validServer(rng));

  it('accepts exactly what the schema allows (hand-written reference), outputs it unchanged, never throws', { timeout: TIMEOUT }, () => {
    const outcomes: Record<string, number> = {};
    let maxEcho = 0;
    const done = fuzz(seed, 100_000, 1000, (rng) => {
      const { text, kind } = frame(rng, () => valid(rng), types);
      outcomes[kind] = (outcomes[kind] ?? 0) + 1;
      const want = referenceParse(text, shapes, strict);
      let result: ParseResult<unknown>;
      try {
        result = parse(text);
      } catch (error) {
        throw new Error(`${name}(${JSON.stringify(text).slice(0, 300)}) threw ${String(error)}`);
      }
      outcomes[result.ok ? 'ok' : result.code] = (outcomes[result.ok ? 'ok' : result.code] ?? 0) + 1;
      if ('code' in want) {
        check(!result.ok && result.code === want.code, () => `${name}(${JSON.stringify(text).slice(0, 300)}) = ${result.ok ? 'ok' : result.code}, reference ${want.code}`);
        if (!result.ok) {
          check(typeof result.message === 'string' && result.message.length > 0, () => 'error without a message');
          maxEcho = Math.max(maxEcho, result.message.length - text.length);
          // The reply never amplifies: at most the frame itself plus an explanation (the list of reasons is ~300).
          check(result.message.length <= text.length + 512, () => `error message of ${result.message.length} characters for a frame of ${text.length}`);
        }
        return;
      }
      check(result.ok, () => `${name}(${JSON.stringify(text).slice(0, 300)}) rejected (${result.ok ? '' : `${result.code}: ${result.message}`}); the reference accepts it`);
      if (!result.ok) return;
      check(canonical(result.message) === canonical(want.message), () => `${name}(${JSON.stringify(text).slice(0, 300)}) output ${canonical(result.message).slice(0, 300)}`);
      // Idempotent: what was accepted re-serializes to a frame that parses to the same message. (Not for numbers
      // JSON cannot carry: the loose v.number() fields of server messages accept 1e400 as Infinity, which
      // re-serializes as null. Harmless, counted.)
      if (hasNonFinite(result.message)) {
        outcomes['accepted-non-finite'] = (outcomes['accepted-non-finite'] ?? 0) + 1;
        return;
      }
      const again = parse(JSON.stringify(result.message));
      check(again.ok && canonical(again.message) === canonical(result.message), () => 'the accepted message does not re-parse to itself');
    });
    report(name, { cases: done, maxEchoOverFrame: maxEcho, ...outcomes });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    for (const k of ['ok', 'bad-json', 'unknown-type', 'invalid-message']) expect(outcomes[k], k).toBeGreaterThan(1000);
  });

  it('boundary sizes: empty, 1 character, 15/16/17 characters, 1 MiB', { timeout: TIMEOUT }, () => {
    const rng = new Rng(seed);
    for (const length of [0, 1, 2, 15, 16, 17]) {
      for (let k = 0; k < 200; k++) {
        const text = rng.chance(0.5) ? randomString(rng, length).padEnd(length, '{').slice(0, length) : JSON.stringify(valid(rng)).slice(0, length);
        const want = referenceParse(text, shapes, strict);
        let result: ParseResult<unknown>;
        result = parse(text); // never throws: a throw fails the test
        expect('code' in want ? !result.ok && result.code === want.code : result.ok, JSON.stringify(text)).toBe(true);
      }
    }
    const big = valid(rng);
    for (const text of [
      JSON.stringify({ ...big, padding: 'x'.repeat(1024 * 1024) }),
      JSON.stringify({ type: 'signalingData', callId: 'a'.repeat(32), data: bytesToBase64(rng.bytes(1024 * 1024)) }),
      `{"type":"${'x'.repeat(1024 * 1024)}"}`,
      '['.repeat(100_000),
      `${'['.repeat(5000)}${']'.repeat(5000)}`,
    ]) {
      const result = parse(text);
      const want = referenceParse(text, shapes, strict);
      expect('code' in want ? !result.ok && result.code === want.code : result.ok).toBe(true);
      if (!result.ok) expect(result.message.length).toBeLessThanOrEqual(text.length + 512);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// SecureSignalingChannel.open

const setup = new Rng(0x51c);
const KEY = setup.bytes(256);
const OLD_KEY = setup.bytes(256);

function inCallMessage(rng: Rng): InCallMessage {
  switch (rng.int(5)) {
    case 0:
      return { type: 'sdp', description: { type: rng.pick(['offer', 'answer', 'pranswer', 'rollback'] as const), sdp: rng.chance(0.01) ? 'v'.repeat(24 * 1024) : `v=0\r\no=- ${rng.u32()} 2 IN IP4 127.0.0.1\r\n${randomString(rng, 80)}` } };
    case 1: {
      if (rng.chance(0.1)) return { type: 'ice', candidate: null };
      const candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null } = { candidate: `candidate:${rng.u32()} 1 udp ${rng.u32()} 192.0.2.${rng.int(255)} ${rng.int(65536)} typ host` };
      if (rng.chance(0.7)) candidate.sdpMid = rng.chance(0.9) ? String(rng.int(3)) : null;
      if (rng.chance(0.7)) candidate.sdpMLineIndex = rng.chance(0.9) ? rng.int(1025) : null;
      if (rng.chance(0.5)) candidate.usernameFragment = rng.chance(0.9) ? id(rng, 8) : null;
      return { type: 'ice', candidate };
    }
    case 2:
      return { type: 'media', audio: rng.chance(0.5), video: rng.chance(0.5) };
    case 3:
      return rng.chance(0.2) ? { type: 'restart-ice' } : { type: 'hangup', reason: randomString(rng, 64).slice(0, 64) };
    default:
      return { type: 'app', data: randomJson(rng) };
  }
}

const encoder = new TextEncoder();
/** Bodies a malicious peer (who has the key) could seal: authentic packets whose content is not a valid message. */
function invalidContent(rng: Rng): Uint8Array {
  return rng.pick([
    () => new Uint8Array([0xff, 0xfe, 0x80]), // not UTF-8
    () => encoder.encode('{"type":"media","audio":true'), // not JSON
    () => encoder.encode('null'),
    () => encoder.encode('[{"type":"media","audio":true,"video":false}]'),
    () => encoder.encode('{"type":"media","audio":1,"video":false}'),
    () => encoder.encode('{"type":"media","audio":true,"video":false,"extra":1}'),
    () => encoder.encode(`{"type":"hangup","reason":"${'x'.repeat(65)}"}`),
    () => encoder.encode('{"type":"sdp","description":{"type":"offer"}}'),
    () => encoder.encode(`{"type":"sdp","description":{"type":"offer","sdp":"${'v'.repeat(24 * 1024 + 1)}"}}`),
    () => encoder.encode('{"type":"ice","candidate":{"candidate":"c","sdpMLineIndex":1025}}'),
    () => encoder.encode('{"type":"unknown"}'),
    () => encoder.encode('{"type":"restart-ice","now":true}'),
    () => rng.bytes(rng.int(30)),
  ])();
}

describe('SecureSignalingChannel.open', () => {
  it('delivers genuine packets exactly as the reference window says; drops forgeries, strays and replays without changing state; counters add up', { timeout: TIMEOUT }, () => {
    const SESSION = 500;
    const outcomes: Record<string, number> = {};
    let offeredTotal = 0;

    interface Genuine {
      data: string;
      seqs: number[];
      messages: InCallMessage[];
      /** Content a malicious peer sealed that is not a valid message: the packet is authentic, the content refused. */
      invalid: boolean;
    }
    function newSession() {
      return {
        // The peer: a raw sealer with the caller's x (128), sealing what SecureSignalingChannel.seal seals.
        peer: new PacketSealer(KEY, { outgoing: true, channel: 'signaling' }),
        self: new SecureSignalingChannel(KEY, false),
        /** The callee's own sealing side (x = 136): its packets must never open here. */
        mirror: new SecureSignalingChannel(KEY, false),
        previous: new SecureSignalingChannel(OLD_KEY, true),
        model: new ModelWindow(),
        pending: [] as Genuine[],
        offered: [] as Genuine[],
        sent: [] as { seq: number; data: Uint8Array; message: InCallMessage }[],
        count: 0,
        ok: 0,
        invalid: 0,
      };
    }
    type Session = ReturnType<typeof newSession>;

    function seal(s: Session, rng: Rng): Genuine {
      const invalid = rng.chance(0.03);
      const messages = Array.from({ length: rng.chance(0.8) ? 1 : rng.range(2, 3) }, () => inCallMessage(rng));
      const bodies: Uint8Array[] = messages.map((m) => encoder.encode(JSON.stringify(m)));
      if (invalid) bodies[rng.int(bodies.length)] = invalidContent(rng);
      const resend = !invalid && s.sent.length > 0 && rng.chance(0.1) ? [s.sent[s.sent.length - 1 - rng.int(Math.min(80, s.sent.length))]!] : [];
      const sealed = s.peer.seal(bodies, resend);
      if (!invalid) messages.forEach((message, k) => s.sent.push({ seq: sealed.messages[k]!.seq, data: bodies[k]!, message }));
      // What the receiver should output: the fresh messages in packet order (resends it already had are skipped).
      const all = [...messages, ...resend.map((r) => r.message)];
      return { data: bytesToBase64(sealed.packet), seqs: sealed.messages.map((m) => m.seq), messages: all, invalid };
    }

    function expectCounters(s: Session): void {
      const st = s.self.stats;
      let dropped = 0;
      for (const r of DROP_REASONS) dropped += st.received.dropped[r];
      check(st.received.opened + dropped === s.count, () => `counters: opened ${st.received.opened} + dropped ${dropped} != offered ${s.count}`);
      check(st.invalid === s.invalid && s.ok + s.invalid === st.received.opened, () => `ok ${s.ok} + invalid ${st.invalid} != opened ${st.received.opened}`);
    }

    function offerGenuine(s: Session, g: Genuine): void {
      s.count++;
      const first = s.model.verdict(g.seqs[0]!);
      const result = s.self.open(g.data);
      outcomes[result.ok ? 'ok' : result.reason] = (outcomes[result.ok ? 'ok' : result.reason] ?? 0) + 1;
      if (first !== 'ok') {
        check(!result.ok && result.reason === first, () => `genuine packet (first seq ${g.seqs[0]}, max ${s.model.max}): ${result.ok ? 'ok' : result.reason}, expected ${first}`);
        return;
      }
      const fresh: InCallMessage[] = [];
      g.seqs.forEach((seq, k) => {
        if (s.model.verdict(seq) !== 'ok') return;
        s.model.accept(seq);
        fresh.push(g.messages[k]!);
      });
      if (g.invalid) {
        s.invalid++;
        check(!result.ok && result.reason === 'invalid', () => `invalid content gave ${result.ok ? 'ok' : result.reason}`);
        return;
      }
      s.ok++;
      check(result.ok, () => `genuine packet (first seq ${g.seqs[0]}, max ${s.model.max}) dropped as ${result.ok ? '' : result.reason}`);
      if (result.ok) check(canonical(result.messages) === canonical(JSON.parse(JSON.stringify(fresh))), () => `delivered ${canonical(result.messages).slice(0, 200)}, sent ${canonical(fresh).slice(0, 200)}`);
    }

    function offerForgery(s: Session, rng: Rng, data: string, label: string): void {
      const before = s.self.stats;
      s.count++;
      outcomes[label] = (outcomes[label] ?? 0) + 1;
      const result = s.self.open(data);
      outcomes[result.ok ? 'ok' : result.reason] = (outcomes[result.ok ? 'ok' : result.reason] ?? 0) + 1;
      check(!result.ok && result.reason !== 'invalid', () => `${label}: accepted a forged/stray packet ${JSON.stringify(data).slice(0, 120)} (${result.ok ? 'ok' : result.reason})`);
      const after = s.self.stats;
      check(after.received.opened === before.received.opened && after.received.messages === before.received.messages && after.invalid === before.invalid, () => 'a drop changed state');
      if (s.pending.length > 0 && rng.chance(0.3)) offerGenuine(s, s.pending.shift()!);
    }

    function step(s: Session, rng: Rng): void {
      while (s.pending.length < 2 || (s.pending.length < 60 && rng.chance(0.5))) s.pending.push(seal(s, rng));
      const r = rng.int(100);
      if (r < 40) {
        const at = rng.chance(0.6) ? 0 : rng.int(Math.min(16, s.pending.length));
        const [g] = s.pending.splice(at, 1);
        s.offered.push(g!);
        if (s.offered.length > 200) s.offered.splice(0, 50);
        offerGenuine(s, g!);
      } else if (r < 50 && s.offered.length > 0) {
        offerGenuine(s, s.offered[s.offered.length - 1 - rng.int(Math.min(40, s.offered.length))]!);
      } else if (r < 65) {
        const src = rng.pick(s.pending);
        const bytes = Buffer.from(src.data, 'base64');
        offerForgery(s, rng, bytesToBase64(mutate(rng, new Uint8Array(bytes), new Uint8Array(Buffer.from(rng.pick(s.pending).data, 'base64')))), 'mutated-bytes');
      } else if (r < 75) {
        const src = rng.pick(s.pending).data;
        const tweaked = tweakString(rng, src);
        offerForgery(s, rng, (tweaked === src ? `${src}=` : tweaked) as string, 'mutated-text');
      } else if (r < 82) {
        offerForgery(s, rng, s.mirror.seal(inCallMessage(rng)), 'other-direction');
      } else if (r < 89) {
        offerForgery(s, rng, s.previous.seal(inCallMessage(rng)), 'previous-key');
      } else {
        const junk = rng.pick([
          () => '',
          () => 'A',
          () => bytesToBase64(rng.bytes(rng.pick([1, 15, 16, 17, 32, 33]))),
          () => bytesToBase64(randomBytes(rng, randomLength(rng))),
          () => randomString(rng, 40),
          () => 123 as unknown as string,
          () => null as unknown as string,
        ])();
        offerForgery(s, rng, junk, 'random');
      }
      if ((s.count & 15) === 0) expectCounters(s);
    }

    let session: Session;
    const done = fuzz(0x5c, 100_000, SESSION, (rng, index) => {
      if (index === 0) session = newSession();
      step(session, rng);
      if (index === SESSION - 1) {
        expectCounters(session);
        offeredTotal += session.count;
      }
    });
    report('SecureSignalingChannel.open', { steps: done, offered: offeredTotal, ...outcomes });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    for (const k of ['ok', 'auth', 'malformed', 'replay', 'too-old', 'invalid']) expect(outcomes[k], k).toBeGreaterThan(100);
  });

  it('boundary: empty, 1 MiB of base64, a genuine packet sealed by SecureSignalingChannel itself', { timeout: TIMEOUT }, () => {
    const rng = new Rng(0x5d);
    const caller = new SecureSignalingChannel(KEY, true);
    const callee = new SecureSignalingChannel(KEY, false);
    expect(callee.open('')).toEqual({ ok: false, reason: 'malformed' });
    expect(callee.open(bytesToBase64(rng.bytes(1024 * 1024)))).toEqual({ ok: false, reason: 'auth' });
    expect(callee.open(bytesToBase64(rng.bytes(1024 * 1024 + 1)))).toEqual({ ok: false, reason: 'malformed' });
    const message: InCallMessage = { type: 'sdp', description: { type: 'offer', sdp: 'v'.repeat(24 * 1024) } };
    const data = caller.seal(message, { type: 'media', audio: true, video: false });
    expect(callee.open(data)).toEqual({ ok: true, messages: [message, { type: 'media', audio: true, video: false }] });
    expect(callee.open(data)).toEqual({ ok: false, reason: 'replay' });
    expect(callee.stats.received).toMatchObject({ opened: 1, dropped: { auth: 1, malformed: 2, replay: 1, 'too-old': 0 } });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The server's handler: SignalingServerCore, sans-IO.

const HONEST = {
  alice: { conn: 1, userId: 'alice', deviceId: 'alice-laptop-7c1f', presence: true },
  bob: { conn: 2, userId: 'bob', deviceId: 'bob-phone-81d2', presence: false },
  carol: { conn: 3, userId: 'carol', deviceId: 'carol-tablet-5e0a', presence: true },
} as const;
const HONEST_CONNS = new Set<number>([1, 2, 3]);
const utf8Length = (text: string) => Buffer.byteLength(text, 'utf8');

describe('SignalingServerCore (the WebSocket handler, sans-IO)', () => {
  it('a fuzzing connection never crashes the server, gets bounded replies addressed to itself only, and never disturbs an honest call', { timeout: TIMEOUT }, () => {
    const SESSION = 1000;
    const outcomes: Record<string, number> = {};
    const tally = (k: string) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
    let maxToFuzzer = 0;
    let maxToOther = 0;

    function newSession(rng: Rng) {
      serverRandom.reseed(rng.u32());
      const token = rng.chance(0.5) ? 'shared-secret-token' : undefined;
      const logs: string[] = [];
      const core = new SignalingServerCore({
        dhConfig: { version: 7, p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g },
        ringTimeoutMs: 45_000,
        confirmTimeoutMs: 15_000,
        maxMessageBytes: 64 * 1024,
        rateLimit: { perSecond: 50, burst: 200, maxViolations: 100 },
        ...(token !== undefined ? { auth: { kind: 'shared-token' as const, token } } : {}),
        presence: { maxWatch: 5, directory: { maxUsers: 50 } },
        log: (entry) => logs.push(JSON.stringify(entry)),
      });
      const s = {
        core,
        token,
        logs,
        now: 1_000_000,
        /** Flood sessions do not advance the clock between the fuzzer's frames: rate limiting and the abusive close. */
        flood: rng.chance(0.15),
        fuzzer: 100,
        fuzzerCalls: new Set<string>(),
        callId: undefined as string | undefined,
        /** 0: nothing, 1: requested, 2: accepted, 3: confirmed. */
        stage: 0,
        /** Fuzz frame indices at which the honest call advances (interleaved with the fuzzing). */
        schedule: [rng.int(20), 20 + rng.int(20), 40 + rng.int(20)],
        caller: new SecureSignalingChannel(KEY, true),
        callee: new SecureSignalingChannel(KEY, false),
        gA: b64(rng, 256),
        gB: b64(rng, 256),
        gAHash: b64(rng, 32),
        relayed: [] as string[],
      };
      for (const h of Object.values(HONEST)) {
        core.open(h.conn, s.now);
        const outs = send(s, h.conn, { type: 'hello', protocol: 1, userId: h.userId, deviceId: h.deviceId, presence: h.presence, ...(token !== undefined ? { token } : {}) });
        check(outs.some((o) => o.kind === 'send' && o.to === h.conn && o.message.type === 'welcome'), () => `${h.userId} got no welcome`);
      }
      core.open(s.fuzzer, s.now);
      return s;
    }
    type Session = ReturnType<typeof newSession>;

    function send(s: Session, conn: number, message: unknown): ServerOutput[] {
      const text = JSON.stringify(message);
      return s.core.receive(conn, text, utf8Length(text), s.now);
    }

    /** Outputs caused by the fuzzer (its frames, its disconnects, the clock): only legitimate effects may reach others. */
    function checkFuzzEffects(s: Session, outs: ServerOutput[], what: string, perFrame = true): { closed: boolean } {
      let toFuzzer = 0;
      let closed = false;
      const toOther = new Map<number, number>();
      for (const o of outs) {
        if (o.to === s.fuzzer) {
          toFuzzer++;
          if (o.kind === 'close') closed = true;
          else if (o.kind === 'send' && o.message.type === 'callRequested') s.fuzzerCalls.add(o.message.callId);
          continue;
        }
        check(HONEST_CONNS.has(o.to), () => `${what}: output to unknown connection ${o.to}`);
        toOther.set(o.to, (toOther.get(o.to) ?? 0) + 1);
        check(o.kind === 'send', () => `${what}: closed honest connection ${o.to}`);
        if (o.kind !== 'send') continue;
        const m = o.message;
        const legit = m.type === 'presence' || m.type === 'presenceUpdate' || ((m.type === 'phoneCallRequested' || m.type === 'phoneCallDiscarded') && s.fuzzerCalls.has(m.callId));
        check(legit, () => `${what}: sent ${JSON.stringify(m).slice(0, 200)} to honest connection ${o.to}`);
      }
      // A disconnect or a clock tick ends every call the fuzzer placed (one discard each to the callee): not bounded.
      if (!perFrame) return { closed };
      maxToFuzzer = Math.max(maxToFuzzer, toFuzzer);
      for (const n of toOther.values()) maxToOther = Math.max(maxToOther, n);
      check(toFuzzer <= 4, () => `${what}: ${toFuzzer} outputs to the fuzzer for one frame`);
      for (const [to, n] of toOther) check(n <= 2, () => `${what}: ${n} outputs to honest connection ${to} for one frame`);
      return { closed };
    }

    /** The honest call's next step, checked exactly. */
    function advanceHonestCall(s: Session): void {
      const { alice, bob } = HONEST;
      if (s.stage === 0) {
        const outs = send(s, alice.conn, { type: 'requestCall', requestId: 'req-1', calleeId: 'bob', gAHash: s.gAHash, video: true });
        const requested = outs.find((o) => o.to === alice.conn && o.kind === 'send' && o.message.type === 'callRequested');
        check(requested !== undefined && requested.kind === 'send' && requested.message.type === 'callRequested' && requested.message.devices === 1, () => `requestCall: ${JSON.stringify(outs)}`);
        s.callId = requested!.kind === 'send' && requested!.message.type === 'callRequested' ? requested!.message.callId : undefined;
        expectOutputs(outs, [
          { to: alice.conn, message: { type: 'callRequested', requestId: 'req-1', callId: s.callId, devices: 1 } },
          { to: bob.conn, message: { type: 'phoneCallRequested', callId: s.callId, callerId: 'alice', gAHash: s.gAHash, video: true } },
        ], 'requestCall');
      } else if (s.stage === 1) {
        const outs = send(s, bob.conn, { type: 'acceptCall', callId: s.callId, gB: s.gB });
        expectOutputs(outs, [{ to: alice.conn, message: { type: 'phoneCallAccepted', callId: s.callId, gB: s.gB } }], 'acceptCall');
      } else if (s.stage === 2) {
        const outs = send(s, alice.conn, { type: 'confirmCall', callId: s.callId, gA: s.gA, keyFingerprint: '-1234567890123456789' });
        expectOutputs(outs, [{ to: bob.conn, message: { type: 'phoneCall', callId: s.callId, gA: s.gA, keyFingerprint: '-1234567890123456789' } }], 'confirmCall');
      }
      s.stage++;
    }

    /** `outs` holds exactly `expected` plus presence updates. */
    function expectOutputs(outs: ServerOutput[], expected: { to: number; message: unknown }[], what: string): void {
      const rest = outs.filter((o) => !(o.kind === 'send' && (o.message.type === 'presence' || o.message.type === 'presenceUpdate')));
      check(rest.length === expected.length && expected.every((e, k) => rest[k]!.to === e.to && rest[k]!.kind === 'send' && canonical((rest[k] as { message: unknown }).message) === canonical(e.message)), () => `${what}: expected ${JSON.stringify(expected).slice(0, 300)}, got ${JSON.stringify(outs).slice(0, 600)}`);
    }

    /** One in-call signaling packet through the server, checked end to end (relayed as is, opens on the other side). */
    function exchange(s: Session, rng: Rng, fromCaller: boolean): void {
      const { alice, bob } = HONEST;
      const message: InCallMessage = { type: 'media', audio: rng.chance(0.5), video: rng.chance(0.5) };
      const data = (fromCaller ? s.caller : s.callee).seal(message);
      s.relayed.push(data);
      const outs = send(s, fromCaller ? alice.conn : bob.conn, { type: 'signalingData', callId: s.callId, data });
      expectOutputs(outs, [{ to: fromCaller ? bob.conn : alice.conn, message: { type: 'signalingData', callId: s.callId, data } }], 'signalingData');
      const opened = (fromCaller ? s.callee : s.caller).open(data);
      check(opened.ok && canonical(opened.messages) === canonical([message]), () => 'the relayed signaling did not open on the other side');
      tally('honest-relayed');
    }

    function fuzzFrame(s: Session, rng: Rng): void {
      const r = rng.int(1000);
      if (r < 3) {
        // The fuzzer disconnects and comes back on a new connection.
        const outs = s.core.close(s.fuzzer, s.now);
        checkFuzzEffects(s, outs, 'close', false);
        s.core.open(++s.fuzzer, s.now);
        tally('reconnect');
        return;
      }
      if (r < 5) {
        // Frames and closes for connections that are not open.
        const ghost = rng.pick([0, -1, 99, 12345, s.fuzzer + 1, Number.NaN]);
        check(s.core.receive(ghost, '{}', 2, s.now).length === 0 && s.core.close(ghost, s.now).length === 0, () => 'a ghost connection produced outputs');
        tally('ghost');
        return;
      }
      if (r < 25) {
        checkFuzzEffects(s, s.core.tick(s.now), 'tick', false);
        tally('tick');
        return;
      }
      const callIds = [...s.fuzzerCalls].slice(-5);
      if (s.callId !== undefined) callIds.push(s.callId); // the attacker learned the honest call's id
      const { text, kind } = frame(rng, () => validClient(rng, { callIds, ...(s.token !== undefined ? { token: s.token } : {}) }), CLIENT_TYPES);
      const oversized = rng.chance(0.005);
      const finalText = oversized ? JSON.stringify({ type: 'signalingData', callId: rng.pick(callIds.length > 0 ? callIds : [hexId(rng)]), data: b64(rng, 48 * 1024) }) : text;
      const byteLength = rng.chance(0.01) ? rng.pick([0, 64 * 1024, 64 * 1024 + 1, 10 ** 9]) : utf8Length(finalText);
      tally(oversized ? 'oversized' : kind);
      let outs: ServerOutput[];
      try {
        outs = s.core.receive(s.fuzzer, finalText, byteLength, s.now);
      } catch (error) {
        throw new Error(`receive(${JSON.stringify(finalText).slice(0, 200)}) threw ${String(error)}`);
      }
      for (const o of outs) if (o.to === s.fuzzer) tally(o.kind === 'close' ? `close-${o.code}` : o.kind !== 'send' ? o.kind : o.message.type === 'error' ? `error-${o.message.code}` : o.message.type);
      const { closed } = checkFuzzEffects(s, outs, `frame ${JSON.stringify(finalText).slice(0, 200)}`);
      if (closed) {
        // The adapter closes the socket; the server is told; the fuzzer connects again.
        checkFuzzEffects(s, s.core.close(s.fuzzer, s.now), 'close after a close output', false);
        s.core.open(++s.fuzzer, s.now);
      }
    }

    function finish(s: Session, rng: Rng): void {
      const { alice, bob } = HONEST;
      while (s.stage < 3) advanceHonestCall(s);
      // After the fuzzing the honest call relays both ways, unchanged.
      exchange(s, rng, true);
      exchange(s, rng, false);
      check(s.core.stats.relayedSignaling >= s.relayed.length, () => 'relay counter');
      // Hang up; then a new call between the same devices is served normally.
      const hangup = send(s, alice.conn, { type: 'discardCall', callId: s.callId, reason: 'hangup' });
      expectOutputs(hangup, [{ to: bob.conn, message: { type: 'phoneCallDiscarded', callId: s.callId, reason: 'hangup' } }], 'discardCall');
      s.stage = 0;
      s.caller = new SecureSignalingChannel(KEY, true);
      s.callee = new SecureSignalingChannel(KEY, false);
      while (s.stage < 3) advanceHonestCall(s);
      exchange(s, rng, true);
      exchange(s, rng, false);
      // The logs never carry key-agreement values or signaling payloads.
      const logText = s.logs.join('\n');
      for (const secret of [s.gA, s.gB, s.gAHash, ...s.relayed]) check(!logText.includes(secret), () => 'a key-agreement value or a signaling payload reached the log');
    }

    let session: Session;
    const done = fuzz(0x5e7, 100_000, SESSION, (rng, index) => {
      if (index === 0) session = newSession(rng);
      const s = session;
      if (s.stage < 3 && index >= s.schedule[s.stage]!) advanceHonestCall(s);
      else if (s.stage === 3 && rng.chance(0.03)) exchange(s, rng, rng.chance(0.5));
      fuzzFrame(s, rng);
      s.now += s.flood && rng.chance(0.95) ? 0 : rng.int(60);
      if (index === SESSION - 1) finish(s, rng);
    });
    report('SignalingServerCore', { frames: done, maxToFuzzer, maxToOther, ...outcomes });
    expect(done).toBeGreaterThanOrEqual(100_000 * RUNS);
    for (const k of ['welcome', 'callRequested', 'phoneCallDiscarded', 'error-bad-json', 'error-invalid-message', 'error-unknown-call', 'error-not-a-participant', 'error-rate-limited', 'close-1008', 'honest-relayed']) {
      expect(outcomes[k], k).toBeGreaterThan(0);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Regression tests for the bug these fuzzers found (fixed in protocol.ts; server.ts now also survives a throwing core).
//
// It was: valibot runs every action of a pipe even after one has failed, so the keyFingerprint schema's
// `v.check((s) => BigInt(s) >= INT64_MIN && …)` (protocol.ts) runs on strings its `v.regex` already rejected, and
// BigInt('abc') / BigInt('1.5') / BigInt('1e3') throws a SyntaxError. parseClientMessage and parseServerMessage
// ("Never throws") throw, and so does SignalingServerCore.receive — before any authentication, since parsing
// comes first. In the WebSocket adapter (server.ts) nothing catches it inside the 'message' listener: one such
// frame from any client kills the signaling server process (checked by hand against startSignalingServer:
// the process exits with the SyntaxError). A fix: make the check safe on any string (test the regex inside it,
// or catch), or stop the pipe at the first issue.

describe('regression: a non-decimal keyFingerprint is an invalid message, not a crash', () => {
  const confirm = JSON.stringify({ type: 'confirmCall', callId: '0123456789abcdef0123456789abcdef', gA: bytesToBase64(new Uint8Array(256).fill(1)), keyFingerprint: 'abc' });
  const phoneCall = confirm.replace('confirmCall', 'phoneCall');

  it('parseClientMessage answers invalid-message', () => {
    expect(parseClientMessage(confirm)).toMatchObject({ ok: false, code: 'invalid-message' });
  });

  it('parseServerMessage answers invalid-message', () => {
    expect(parseServerMessage(phoneCall)).toMatchObject({ ok: false, code: 'invalid-message' });
  });

  it('SignalingServerCore.receive answers the first frame of an unauthenticated connection with an error', () => {
    const core = new SignalingServerCore({
      dhConfig: { version: 1, p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g },
      ringTimeoutMs: 45_000,
      confirmTimeoutMs: 15_000,
      maxMessageBytes: 64 * 1024,
      rateLimit: { perSecond: 50, burst: 200, maxViolations: 100 },
    });
    core.open(1, 0);
    expect(core.receive(1, confirm, confirm.length, 0)).toMatchObject([{ kind: 'send', to: 1, message: { type: 'error', code: 'invalid-message' } }]);
  });
});

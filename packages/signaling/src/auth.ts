/**
 * Signed tokens (JWT) for the signaling server's production mode, on `jose`: the app's own server, which knows
 * who its users are, mints a short-lived token whose subject (`sub`) is the user id; the signaling server accepts a
 * `hello` only with a valid, unexpired token for that very id. HS256 (a shared secret) or EdDSA (Ed25519: the app
 * server keeps the private key, the signaling server only the public key). Node only.
 */

import { SignJWT, errors, importJWK, importPKCS8, importSPKI, jwtVerify, type JWK } from 'jose';
import type { TokenVerdict } from './server-core.js';

/** Shortest HS256 secret accepted (bytes of UTF-8): a shorter one could be guessed offline from any token. */
export const MIN_HS256_SECRET_BYTES = 32;

/** How tokens are checked. Exactly one of `secret` and `publicKey`. */
export interface TokenVerifierOptions {
  /** HS256 shared secret (at least 32 bytes), e.g. from `openssl rand -base64 32`. */
  secret?: string;
  /** Ed25519 public key for EdDSA tokens: SPKI PEM text or a JWK (OKP, crv Ed25519). */
  publicKey?: string | JWK;
  /** When set, tokens must carry this `iss`. */
  issuer?: string;
  /** When set, tokens must carry this `aud`. */
  audience?: string;
  /** Clock skew tolerated when checking `exp`/`nbf` (seconds, default 30). */
  clockToleranceSeconds?: number;
}

/** How a token is minted (the app server's side; also `mtcall-signal mint-token`). Exactly one key. */
export interface MintTokenOptions {
  userId: string;
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number;
  /** HS256 shared secret (at least 32 bytes). */
  secret?: string;
  /** Ed25519 private key for EdDSA: PKCS#8 PEM text or a JWK with `d`. */
  privateKey?: string | JWK;
  issuer?: string;
  audience?: string;
  /** Clock in ms (default Date.now). */
  now?: number;
}

type Key = CryptoKey | Uint8Array;

function secretKey(secret: string): Uint8Array {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_HS256_SECRET_BYTES) throw new RangeError(`the HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes (e.g. openssl rand -base64 32)`);
  return bytes;
}

async function edKey(key: string | JWK, kind: 'public' | 'private'): Promise<Key> {
  if (typeof key !== 'string') return (await importJWK(key, 'EdDSA')) as Key;
  return kind === 'public' ? importSPKI(key, 'EdDSA') : importPKCS8(key, 'EdDSA');
}

function oneKey(secret: unknown, key: unknown, what: string): void {
  if ((secret === undefined) === (key === undefined)) throw new TypeError(`give exactly one of secret (HS256) and ${what} (EdDSA)`);
}

/**
 * Builds a verifier: `token → { ok: true, userId }` or `{ ok: false, reason }`. Never rejects. Requires `sub` and
 * `exp`, the configured algorithm only (no `none`, no algorithm switching), and `iss`/`aud` when configured.
 * @throws TypeError/RangeError at build time for a missing, doubled or too short key.
 */
export async function createTokenVerifier(options: TokenVerifierOptions): Promise<(token: string) => Promise<TokenVerdict>> {
  oneKey(options.secret, options.publicKey, 'publicKey');
  const key: Key = options.secret !== undefined ? secretKey(options.secret) : await edKey(options.publicKey!, 'public');
  const algorithms = [options.secret !== undefined ? 'HS256' : 'EdDSA'];
  const verifyOptions = {
    algorithms,
    requiredClaims: ['sub', 'exp'],
    clockTolerance: options.clockToleranceSeconds ?? 30,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, key, verifyOptions);
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) return { ok: false, reason: 'no subject' };
      return { ok: true, userId: payload.sub };
    } catch (error) {
      return { ok: false, reason: describe(error) };
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JOSEError) return 'malformed';
  return 'malformed';
}

/**
 * Mints a token for `userId` valid for `ttlSeconds`: what an app server does after its own login.
 * @example
 * const token = await mintToken({ userId: 'alice', secret: process.env.MTCALL_AUTH_SECRET!, ttlSeconds: 600 });
 * // the browser passes it to SignalingClient({ url, userId: 'alice', token })
 */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  oneKey(options.secret, options.privateKey, 'privateKey');
  const key: Key = options.secret !== undefined ? secretKey(options.secret) : await edKey(options.privateKey!, 'private');
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: options.secret !== undefined ? 'HS256' : 'EdDSA', typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + (options.ttlSeconds ?? 3600));
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return jwt.sign(key);
}

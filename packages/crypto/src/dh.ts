/**
 * Diffie–Hellman over a 2048-bit safe prime with every check of the secret-chat spec:
 * p is a 2048-bit safe prime; g ∈ 2..7 generates the subgroup of order (p-1)/2 (a quadratic residue,
 * decided by p mod 4g); public values satisfy 1 < g_x < p-1 and 2^(2048-64) ≤ g_x ≤ p - 2^(2048-64).
 */

import { defaultBackend, type CryptoBackend } from './backend/index.js';
import { bigIntToBytes, bytesToBigInt, randomBytes } from './bytes.js';
import { DhCheckError } from './errors.js';
import { KEY_LENGTH } from './packet.js';
import { RFC3526_GROUP_14, TELEGRAM_DH_GROUP } from './dh-groups.js';

/** A prime as big-endian bytes or as an integer. */
export type DhPrime = Uint8Array | bigint;

const P_MIN_EXCLUSIVE = 1n << 2047n;
const P_MAX_EXCLUSIVE = 1n << 2048n;
const PUBLIC_MARGIN = 1n << (2048n - 64n);

/**
 * Primes known to be safe: proven in this process (the test costs ~0.25 s in Node, 1–2 s with BigInt in a
 * browser) or published and checked offline — the primes of `TELEGRAM_DH_GROUP` and `RFC3526_GROUP_14`,
 * as TDLib's DhCache trusts its built-in good prime. The p-size and g checks still run for these.
 */
const safePrimes = new Set<bigint>([bytesToBigInt(TELEGRAM_DH_GROUP.p), bytesToBigInt(RFC3526_GROUP_14.p)]);

function toBigInt(value: DhPrime): bigint {
  return typeof value === 'bigint' ? value : bytesToBigInt(value);
}

/** The quadratic-residue condition on p for each g (quadratic reciprocity), as the secret-chat spec lists it. */
function gIsQuadraticResidue(p: bigint, g: number): boolean {
  switch (g) {
    case 2:
      return p % 8n === 7n;
    case 3:
      return p % 3n === 2n;
    case 4:
      return true;
    case 5: {
      const r = p % 5n;
      return r === 1n || r === 4n;
    }
    case 6: {
      const r = p % 24n;
      return r === 19n || r === 23n;
    }
    case 7: {
      const r = p % 7n;
      return r === 3n || r === 5n || r === 6n;
    }
    default:
      return false;
  }
}

/**
 * Checks a DH config from the server. Throws `DhCheckError` naming the violated rule; returns normally
 * when p is a 2048-bit safe prime and g ∈ 2..7 is a quadratic residue mod p. Positive results are cached per p.
 */
export function checkDhConfig(p: DhPrime, g: number, backend: CryptoBackend = defaultBackend): void {
  const prime = toBigInt(p);
  if (!(prime > P_MIN_EXCLUSIVE && prime < P_MAX_EXCLUSIVE)) {
    throw new DhCheckError('p-size', 'p must be a 2048-bit number, 2^2047 < p < 2^2048');
  }
  if (!Number.isInteger(g) || g < 2 || g > 7) {
    throw new DhCheckError('g-range', `g must be one of 2, 3, 4, 5, 6, 7; got ${String(g)}`);
  }
  if (!gIsQuadraticResidue(prime, g)) {
    throw new DhCheckError('g-residue', `g = ${g} is not a quadratic residue mod p, so it does not generate the subgroup of order (p-1)/2`);
  }
  if (safePrimes.has(prime)) return;
  if (!backend.isProbablePrime(prime)) throw new DhCheckError('p-not-prime', 'p is not prime');
  if (!backend.isProbablePrime((prime - 1n) / 2n)) throw new DhCheckError('p-not-safe', '(p-1)/2 is not prime, so p is not a safe prime');
  safePrimes.add(prime);
}

/**
 * Checks a peer's public value g_a or g_b against p: 1 < g_x < p-1 and
 * 2^(2048-64) ≤ g_x ≤ p - 2^(2048-64). Throws `DhCheckError` naming the violated rule.
 */
export function checkDhPublic(gX: Uint8Array | bigint, p: DhPrime): void {
  if (gX instanceof Uint8Array && gX.length > KEY_LENGTH) {
    throw new DhCheckError('public-length', `g_x is ${gX.length} bytes, longer than 256`);
  }
  const value = toBigInt(gX);
  const prime = toBigInt(p);
  if (!(value > 1n && value < prime - 1n)) throw new DhCheckError('public-range', 'g_x must satisfy 1 < g_x < p-1');
  if (!(value >= PUBLIC_MARGIN && value <= prime - PUBLIC_MARGIN)) {
    throw new DhCheckError('public-margin', 'g_x must satisfy 2^1984 ≤ g_x ≤ p - 2^1984');
  }
}

/** A DH key pair: the secret exponent and g^secret mod p, both 256 big-endian bytes. Wipe `secret` when done. */
export interface DhKeyPair {
  secret: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * Picks a random 2048-bit secret 1 < a < p-1 and returns it with g^a mod p (which passes `checkDhPublic`;
 * a value outside the margin, probability ~2^-63, is redrawn). Checks the config first (cached).
 */
export function generateDhKeyPair(p: DhPrime, g: number, backend: CryptoBackend = defaultBackend): DhKeyPair {
  checkDhConfig(p, g, backend);
  const prime = toBigInt(p);
  for (;;) {
    const secret = randomBytes(KEY_LENGTH);
    const a = bytesToBigInt(secret);
    if (a <= 1n || a >= prime - 1n) {
      secret.fill(0);
      continue;
    }
    const publicValue = backend.modPow(BigInt(g), a, prime);
    try {
      checkDhPublic(publicValue, prime);
    } catch {
      secret.fill(0);
      continue;
    }
    return { secret, publicKey: bigIntToBytes(publicValue, KEY_LENGTH) };
  }
}

/**
 * The shared key (g_x)^secret mod p as exactly 256 bytes, left-padded with zeros. Checks g_x first and
 * throws `DhCheckError` when it violates a rule. Precondition: p passed `checkDhConfig` (as it has when
 * `secret` came from `generateDhKeyPair` with the same p).
 */
export function computeSharedKey(gX: Uint8Array | bigint, secret: Uint8Array, p: DhPrime, backend: CryptoBackend = defaultBackend): Uint8Array {
  checkDhPublic(gX, p);
  return bigIntToBytes(backend.modPow(toBigInt(gX), bytesToBigInt(secret), toBigInt(p)), KEY_LENGTH);
}

import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createTokenVerifier, mintToken } from './auth.js';
import { SignalingClient } from './client.js';
import { startSignalingServer, type RunningSignalingServer, type StartSignalingServerOptions } from './server.js';
import { RawClient } from './test-support/raw-client.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes-long!';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let server: RunningSignalingServer | undefined;
const raws: RawClient[] = [];
const clients: SignalingClient[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function start(options: StartSignalingServerOptions): Promise<RunningSignalingServer> {
  server = await startSignalingServer({ port: 0, ...options });
  return server;
}

/** Sends a hello with this token; resolves with the welcome, or the error and close code. */
async function hello(userId: string, token: string | undefined): Promise<{ welcome?: unknown; error?: { code: string; message: string }; close?: number }> {
  const r = await RawClient.connect(server!.url);
  raws.push(r);
  r.send({ type: 'hello', protocol: 1, userId, deviceId: 'd1', ...(token !== undefined ? { token } : {}) });
  const first = await r.next((m) => m.type === 'welcome' || m.type === 'error');
  if (first.type === 'welcome') return { welcome: first };
  return { error: first as { code: string; message: string }, close: (await r.closed).code };
}

describe('signed tokens (JWT)', () => {
  it('verifier: accepts its own tokens, refuses expired, forged, other-algorithm, unsigned and subject-less ones', async () => {
    const verify = await createTokenVerifier({ secret: SECRET });
    expect(await verify(await mintToken({ userId: 'alice', secret: SECRET }))).toEqual({ ok: true, userId: 'alice' });
    expect(await verify(await mintToken({ userId: 'alice', secret: SECRET, ttlSeconds: 60, now: Date.now() - 3600_000 }))).toEqual({ ok: false, reason: 'expired' });
    expect(await verify(await mintToken({ userId: 'alice', secret: 'another-secret-of-at-least-32-bytes!!' }))).toEqual({ ok: false, reason: 'bad signature' });
    expect(await verify(new UnsecuredJWT({ sub: 'alice' }).setExpirationTime('1h').encode())).toMatchObject({ ok: false });
    const noExp = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    expect(await verify(noExp)).toMatchObject({ ok: false, reason: expect.stringMatching(/exp/) });
    const hs512 = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS512' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    expect(await verify(hs512)).toEqual({ ok: false, reason: 'algorithm not allowed' });
    expect(await verify('garbage')).toEqual({ ok: false, reason: 'malformed' });
    const withIssuer = await createTokenVerifier({ secret: SECRET, issuer: 'app', audience: 'mtcall' });
    expect(await withIssuer(await mintToken({ userId: 'alice', secret: SECRET, issuer: 'app', audience: 'mtcall' }))).toEqual({ ok: true, userId: 'alice' });
    expect(await withIssuer(await mintToken({ userId: 'alice', secret: SECRET, issuer: 'other', audience: 'mtcall' }))).toMatchObject({ ok: false });
  });

  it('refuses a short HS256 secret and a doubled or missing key', async () => {
    await expect(createTokenVerifier({ secret: 'short' })).rejects.toThrow(RangeError);
    await expect(createTokenVerifier({})).rejects.toThrow(TypeError);
    await expect(mintToken({ userId: 'a', secret: SECRET, privateKey: 'x' })).rejects.toThrow(TypeError);
  });

  it('server: a device may only be the user its token names; a claimed id without a valid token is refused and closed', async () => {
    await start({ auth: { secret: SECRET } });
    const aliceToken = await mintToken({ userId: 'alice', secret: SECRET });
    expect((await hello('alice', aliceToken)).welcome).toMatchObject({ userId: 'alice' });
    // The impostor: claims alice's id with its own (valid) token for mallory.
    const impostor = await hello('alice', await mintToken({ userId: 'mallory', secret: SECRET }));
    expect(impostor).toMatchObject({ error: { code: 'unauthorized', message: expect.stringMatching(/another user/) }, close: 4001 });
    expect(await hello('alice', undefined)).toMatchObject({ error: { code: 'unauthorized' }, close: 4001 });
    expect(await hello('alice', 'not-a-jwt')).toMatchObject({ error: { code: 'unauthorized', message: 'invalid token: malformed' }, close: 4001 });
    expect(await hello('alice', await mintToken({ userId: 'alice', secret: SECRET, now: Date.now() - 7200_000 }))).toMatchObject({ error: { message: 'invalid token: expired' } });
    // The shared-token mode's value is no JWT.
    expect(await hello('alice', SECRET)).toMatchObject({ close: 4001 });
    // Only alice's genuine device is registered.
    expect(server!.core.stats.users).toBe(1);
  });

  it('server: nothing but hello is served before the token is verified; a second hello while verifying is refused', async () => {
    await start({ auth: { secret: SECRET } });
    const r = await RawClient.connect(server!.url);
    raws.push(r);
    r.send({ type: 'hello', protocol: 1, userId: 'alice', deviceId: 'd1', token: await mintToken({ userId: 'alice', secret: SECRET }) });
    r.send({ type: 'getDhConfig', version: 0 });
    r.send({ type: 'hello', protocol: 1, userId: 'bob', deviceId: 'd1', token: 'x' });
    const replies = [await r.next((m) => m.type !== 'presence'), await r.next((m) => m.type !== 'presence'), await r.next((m) => m.type !== 'presence')];
    expect(replies.map((m) => (m.type === 'error' ? m.code : m.type)).sort()).toEqual(['already-authenticated', 'not-authenticated', 'welcome']);
    expect(replies.find((m) => m.type === 'welcome')).toMatchObject({ userId: 'alice' });
  });

  it('server: TURN credentials go to authenticated devices only', async () => {
    await start({ auth: { secret: SECRET }, turn: { urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 'relay', ttlSeconds: 600 } });
    const ok = await hello('alice', await mintToken({ userId: 'alice', secret: SECRET }));
    expect(ok.welcome).toMatchObject({ iceServers: [{ username: expect.stringMatching(/:alice$/) }] });
    const refused = await hello('bob', 'forged');
    expect(refused.welcome).toBeUndefined();
    expect(JSON.stringify(raws.at(-1)!.received)).not.toContain('iceServers');
  });

  it('EdDSA: the server holds only the public key; SignalingClient calls with minted tokens', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await start({ auth: { publicKey: publicPem } });
    const token = (userId: string) => mintToken({ userId, privateKey: privatePem, ttlSeconds: 300 });
    const alice = new SignalingClient({ url: server!.url, userId: 'alice', token: await token('alice'), WebSocket: WebSocket as never });
    const bob = new SignalingClient({ url: server!.url, userId: 'bob', token: await token('bob'), WebSocket: WebSocket as never });
    clients.push(alice, bob);
    await Promise.all([alice.connect(), bob.connect()]);
    const ring = bob.next('incoming', 10_000);
    const call = alice.call('bob');
    const incoming = await ring;
    const both = Promise.all([call.next('established', 10_000), incoming.next('established', 10_000)]);
    incoming.accept();
    const [a, b] = await both;
    expect(a.emoji).toEqual(b.emoji);
    // An HS256 token signed with the public key's bytes (algorithm confusion) is refused.
    const confused = await new SignJWT({ sub: 'eve' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(publicPem));
    expect(await hello('eve', confused)).toMatchObject({ error: { message: 'invalid token: algorithm not allowed' } });
  });

  it('mtcall-signal mint-token prints a token the server accepts', async () => {
    const result = spawnSync(process.execPath, [cli, 'mint-token', '--user', 'carol', '--ttl', '120'], { encoding: 'utf8', env: { ...process.env, MTCALL_AUTH_SECRET: SECRET } });
    expect(result.status, result.stderr).toBe(0);
    const token = result.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect(await (await createTokenVerifier({ secret: SECRET }))(token)).toEqual({ ok: true, userId: 'carol' });
    const help = spawnSync(process.execPath, [cli, 'mint-token', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/--private-key/);
  });
});

describe('shared token', () => {
  it('is compared whole: a prefix, an extension or a same-length guess is refused', async () => {
    await start({ token: 's3cret-token' });
    for (const guess of ['s3cret', 's3cret-token!', 's3cret-tokeN', '']) {
      expect(await hello('eve', guess), guess).toMatchObject({ error: { code: 'unauthorized' }, close: 4001 });
    }
    expect((await hello('alice', 's3cret-token')).welcome).toBeDefined();
  });
});

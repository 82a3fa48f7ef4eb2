import dgram from 'node:dgram';
import dns from 'node:dns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RTCPeerConnection, useOPUS } from 'werift';
import { PeerConnection } from './peer-connection.js';

/**
 * Whom werift contacts, caught in-process: names it resolves (`dns.promises.lookup`, before a STUN request to a host
 * name; this machine has no DNS, so the request itself never leaves) as `dns:name`, and where its UDP sockets send
 * (`Socket.send(data, port, host)`) as `host:port`.
 */
let sent: string[] = [];
const send = dgram.Socket.prototype.send;
const lookup = dns.promises.lookup;
beforeEach(() => {
  sent = [];
  dns.promises.lookup = ((hostname: string, ...rest: unknown[]) => {
    sent.push(`dns:${hostname}`);
    return (lookup as (...a: unknown[]) => unknown)(hostname, ...rest);
  }) as typeof lookup;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    const [port, host] = args.slice(1).filter((a) => typeof a === 'number' || typeof a === 'string') as [number, string];
    sent.push(`${host}:${port}`);
    return (send as (...a: unknown[]) => void).apply(this, args);
  } as typeof send;
});
afterEach(() => {
  dgram.Socket.prototype.send = send;
  dns.promises.lookup = lookup;
});

/** Gathers an offer's candidates (host ones on 127.0.0.1 besides the machine's) and returns the ICE connections. */
async function gather(pc: RTCPeerConnection) {
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  const complete = new Promise<void>((resolve) => pc.onIceCandidate.subscribe((c) => c === undefined && resolve()));
  await pc.setLocalDescription(await pc.createOffer());
  await complete;
  return pc.dtlsTransports.map((d) => d.iceTransport.connection);
}

const config = { codecs: { audio: [useOPUS()] }, iceAdditionalHostAddresses: ['127.0.0.1'] };

describe('PeerConnection: no STUN server but the configured one', () => {
  it.each([
    ['its default configuration', {}],
    ['no ICE servers', { iceServers: [] }],
  ])('werift alone asks Google with %s (the reason for PeerConnection)', async (_, servers) => {
    const pc = new RTCPeerConnection({ ...config, ...servers });
    try {
      const connections = await gather(pc);
      expect(connections[0]!.stunServer).toEqual(['stun.l.google.com', 19302]);
      expect(sent).toContain('dns:stun.l.google.com');
    } finally {
      await pc.close();
    }
  });

  it('with no ICE servers: no STUN server, no packet sent while gathering, host candidates only', async () => {
    const pc = new PeerConnection(config);
    try {
      const connections = await gather(pc);
      expect(connections.length).toBe(1);
      expect(connections[0]!.stunServer).toBeUndefined();
      expect(sent).toEqual([]);
      expect(connections[0]!.localCandidates.map((c) => c.type)).not.toContain('srflx');
      expect(connections[0]!.localCandidates.map((c) => c.host)).toContain('127.0.0.1');
    } finally {
      await pc.close();
    }
  });

  it('after an ICE restart too', async () => {
    const pc = new PeerConnection(config);
    try {
      await gather(pc);
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      expect(pc.dtlsTransports.map((d) => d.iceTransport.connection.stunServer)).toEqual([undefined]);
      expect(sent).toEqual([]);
    } finally {
      await pc.close();
    }
  });

  it('with a TURN server only: still no STUN server (the relay is asked, nobody else)', async () => {
    const pc = new PeerConnection({ ...config, iceServers: [{ urls: 'turn:127.0.0.1:9', username: 'u', credential: 'p' }] });
    try {
      const connections = await gather(pc);
      expect(connections[0]!.stunServer).toBeUndefined();
      expect(sent).toContain('127.0.0.1:9');
      expect(sent.every((to) => to === '127.0.0.1:9')).toBe(true);
    } finally {
      await pc.close();
    }
  });

  it('a configured STUN server is kept', async () => {
    const pc = new PeerConnection({ ...config, iceServers: [{ urls: 'stun:127.0.0.1:9' }] });
    try {
      const connections = await gather(pc);
      expect(connections[0]!.stunServer).toEqual(['127.0.0.1', 9]);
      expect(sent).toContain('127.0.0.1:9');
    } finally {
      await pc.close();
    }
  });
});

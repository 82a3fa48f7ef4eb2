// A second SFU process for sfu-peer.test.ts: an `Sfu` (built dist: run the package's build first) joined to its parent
// through the IPC channel, and remote-controlled by the parent over the same channel ({ call, id, args } → { reply, id }).
// The parent builds every packet and reads every packet; this side only runs the SFU.
import { Sfu, ipcPeerLink } from '../../dist/index.js';

const sfu = await Sfu.start({
  workers: 1,
  pipeSrtp: process.env.PIPE_SRTP === '1',
  onPeerProducer: (roomId, producer, event) => process.send({ event: 'peer-producer', roomId, producer, what: event }),
});
sfu.addPeer('parent', ipcPeerLink(process));
const injections = new Map();
const taps = new Map();

const calls = {
  addMember: (roomId, memberId) => sfu.addMember(roomId, memberId),
  producers: (roomId) => sfu.producers(roomId),
  pipeToPeer: (roomId, producerId) => sfu.pipeToPeer(roomId, producerId, 'parent'),
  pauseProducer: (roomId, memberId, producerId, paused) => sfu.pauseProducer(roomId, memberId, producerId, paused),
  async inject(roomId, memberId, kind, rtpParameters, source) {
    const injection = await sfu.inject(roomId, memberId, kind, rtpParameters, source);
    injections.set(injection.producer.producerId, injection);
    injection.onRtcp((rtcp) => process.send({ event: 'rtcp', producerId: injection.producer.producerId, data: rtcp.toString('base64') }));
    return injection.producer;
  },
  send: (producerId, rtpBase64) => injections.get(producerId).send(Buffer.from(rtpBase64, 'base64')),
  closeProducer: (producerId) => injections.get(producerId).close(),
  async tap(roomId, producerId) {
    const tap = await sfu.tap(roomId, producerId, (rtp) => process.send({ event: 'rtp', producerId, data: rtp.toString('base64') }));
    taps.set(producerId, tap);
  },
  requestKeyFrame: (producerId) => taps.get(producerId).requestKeyFrame(),
  closeRoom: (roomId) => sfu.closeRoom(roomId),
};

process.on('message', async (message) => {
  if (typeof message !== 'object' || message === null || typeof message.call !== 'string') return;
  try {
    const result = await calls[message.call](...message.args);
    process.send({ reply: message.id, ok: true, result: result ?? null });
  } catch (error) {
    process.send({ reply: message.id, ok: false, code: error.code ?? null, message: String(error.message) });
  }
});
process.on('disconnect', () => {
  sfu.close();
  process.exit(0);
});
process.send({ event: 'ready' });

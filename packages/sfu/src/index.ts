/**
 * @mtcall/sfu — the selective forwarding unit of mtcall rooms: mediasoup workers, one router per room (more on other
 * workers when a room outgrows one, joined by `pipeToRouter`), WebRTC transports, producers and consumers; producers piped to peer SFUs in other processes or on other
 * hosts (`Sfu.addPeer`, `pipeToPeer`: PipeTransport pairs, control over any `SfuPeerLink`). It
 * forwards frames sealed end to end and never holds a key. Node only; the worker binary is built by
 * `scripts/setup-sfu.sh`.
 */

export { Sfu, type SfuOptions, type TransportInfo, type ConsumerInfo, type ProducerInfo, type SfuWorkerStats, type SfuTap, type SfuInjection } from './sfu.js';
export {
  createPeerLinkPair, ipcPeerLink, parsePeerMessage, PeerChannel,
  type SfuPeerLink, type SfuPeerMessage, type SfuPeerRequest, type SfuPeerReply, type SfuPeerNotice, type PipeEndpoint, type IpcChannel,
  type PeerMessageParse, type PeerTimers, type PeerChannelOptions,
} from './peer.js';
export { SfuGroup, type SfuPlacement } from './sfu-group.js';
export { RemoteSfu, serveSfu, type SfuNode } from './sfu-remote.js';
export { SfuError, SFU_ERROR_CODES, type SfuErrorCode } from './errors.js';
export { ROOM_MEDIA_CODECS } from './codecs.js';
export type { types as mediasoupTypes } from 'mediasoup';

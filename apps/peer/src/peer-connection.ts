/**
 * werift's RTCPeerConnection without its built-in STUN server.
 *
 * werift 0.24 asks Google's public STUN server (stun.l.google.com:19302) for a server-reflexive candidate unless told
 * otherwise, twice over: its default configuration's `iceServers` is that server, and its ICE agent (`Connection` in
 * werift-ice) falls back to it whenever the configuration names no STUN server (`iceServers: []` or TURN only). That
 * is a binding request to a third party, which learns the peer's public address and when it places calls. mtcall
 * configures its own ICE servers (the signaling server's TURN relays); no STUN server there means none. So the
 * default `iceServers` here is `[]`, and before each `setLocalDescription` (where werift gathers, the first time and
 * after an ICE restart) every ICE connection of this peer connection gets the configuration's STUN server, or none.
 * werift creates transports only in `addTransceiver`/`addTrack`/data channels and `setRemoteDescription`, all before
 * the local description that gathers their candidates.
 */

import { parseIceServers, RTCPeerConnection, type RTCLocalSessionDescriptionInit, type RTCPeerConnectionConfig, type SessionDescription } from 'werift';

/** An RTCPeerConnection that contacts only the STUN/TURN servers in its configuration. */
export class PeerConnection extends RTCPeerConnection {
  /** @param config werift's configuration; `iceServers` defaults to none (werift's default is Google's STUN server) */
  constructor(config: RTCPeerConnectionConfig = {}) {
    super({ iceServers: [], ...config });
  }

  /**
   * Sets the local description as werift does, after pointing every ICE connection at the configured STUN server
   * (none if the configuration names none) instead of werift's default.
   * @param description the offer or answer (none: werift creates one), or a rollback
   * @returns werift's session description (nothing for a rollback)
   */
  override setLocalDescription(description: { type: 'rollback' }): Promise<void>;
  override setLocalDescription(description?: RTCLocalSessionDescriptionInit): Promise<SessionDescription>;
  override async setLocalDescription(description?: RTCLocalSessionDescriptionInit | { type: 'rollback' }): Promise<SessionDescription | void> {
    this.#pinStunServer();
    return super.setLocalDescription(description as RTCLocalSessionDescriptionInit);
  }

  #pinStunServer(): void {
    const configured = parseIceServers(this.config.iceServers).stunServer;
    for (const dtls of this.dtlsTransports) {
      const connection = dtls.iceTransport.connection;
      if (configured) connection.stunServer = configured;
      else delete connection.stunServer;
    }
  }
}

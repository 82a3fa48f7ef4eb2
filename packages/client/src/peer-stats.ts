/** What a call's `RTCPeerConnection` reports about the media it carries (from `getStats`). */

/** Media and path figures of one peer connection. */
export interface PeerStats {
  videoFramesDecoded: number;
  /** Inbound video streams that decoded at least one frame (2 while the peer shares its screen with the camera on). */
  videoStreamsDecoding: number;
  videoCodec?: string | undefined;
  outboundVideoCodec?: string | undefined;
  audioPacketsReceived: number;
  audioSamplesReceived: number;
  /** Received audio samples the decoder had to conceal (loss, late packets): `audioConcealedSamples / audioSamplesReceived` is the share of audio that was made up. */
  audioConcealedSamples: number;
  audioCodec?: string | undefined;
  /** How media travels: through a TURN relay, or directly (host/srflx/prflx candidates); undefined until connected. */
  path?: 'relay' | 'direct' | undefined;
  /** The selected pair's local and remote candidate types. */
  localCandidateType?: string | undefined;
  remoteCandidateType?: string | undefined;
  connectionState: RTCPeerConnectionState;
  iceGatheringState: RTCIceGatheringState;
  /** Types of the local candidates gathered so far, e.g. ['host', 'relay'] (filled in by a CallSession). */
  localCandidateTypes: string[];
  /** ICE server errors seen (icecandidateerror), e.g. a TURN relay refusing credentials with 401 (filled in by a CallSession). */
  iceErrors: { code: number; text: string; url: string }[];
}

/** Reads `pc.getStats()` into `PeerStats`. */
export async function readPeerStats(pc: RTCPeerConnection): Promise<PeerStats> {
  const report = await pc.getStats();
  const stats: PeerStats = {
    videoFramesDecoded: 0, videoStreamsDecoding: 0, audioPacketsReceived: 0, audioSamplesReceived: 0, audioConcealedSamples: 0,
    connectionState: pc.connectionState, iceGatheringState: pc.iceGatheringState, localCandidateTypes: [], iceErrors: [],
  };
  const codecs = new Map<string, string>();
  report.forEach((s: Record<string, unknown>) => {
    if (s['type'] === 'codec') codecs.set(s['id'] as string, s['mimeType'] as string);
  });
  report.forEach((s: Record<string, unknown>) => {
    if (s['type'] === 'inbound-rtp' && s['kind'] === 'video') {
      const decoded = (s['framesDecoded'] as number | undefined) ?? 0;
      stats.videoFramesDecoded += decoded;
      if (decoded > 0) stats.videoStreamsDecoding++;
      if (s['codecId']) stats.videoCodec = codecs.get(s['codecId'] as string);
    }
    if (s['type'] === 'inbound-rtp' && s['kind'] === 'audio') {
      stats.audioPacketsReceived += (s['packetsReceived'] as number | undefined) ?? 0;
      stats.audioSamplesReceived += (s['totalSamplesReceived'] as number | undefined) ?? 0;
      stats.audioConcealedSamples += (s['concealedSamples'] as number | undefined) ?? 0;
      if (s['codecId']) stats.audioCodec = codecs.get(s['codecId'] as string);
    }
    if (s['type'] === 'outbound-rtp' && s['kind'] === 'video' && s['codecId']) stats.outboundVideoCodec = codecs.get(s['codecId'] as string);
    if (s['type'] === 'candidate-pair' && (s['nominated'] || s['selected']) && s['state'] === 'succeeded') {
      const local = report.get(s['localCandidateId'] as string) as Record<string, unknown> | undefined;
      const remote = report.get(s['remoteCandidateId'] as string) as Record<string, unknown> | undefined;
      if (local) stats.localCandidateType = local['candidateType'] as string;
      if (remote) stats.remoteCandidateType = remote['candidateType'] as string;
      if (local || remote) stats.path = stats.localCandidateType === 'relay' || stats.remoteCandidateType === 'relay' ? 'relay' : 'direct';
    }
  });
  return stats;
}

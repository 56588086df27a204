// The spike's browser peer (evaluated into a blank 127.0.0.1 page by bench/engine_spike.py): answers
// the GStreamer kiosk's offer with Chromium's fake 640x480 camera and microphone, decodes the kiosk's
// video, reads the test picture's capture clock (docs/signalling.md) for latency, echoes chat and
// opens a "files" data channel, and reports getStats().
(() => {
  const peer = { frames: 0, latencies: [], chat: [], files: null, pc: null, maxMessageSize: null };
  window.__peer = peer;
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  document.body.appendChild(video);
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const luma = (d, i) => 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];

  function readClock() {
    const w = video.videoWidth;
    if (!w) return null;
    canvas.width = w;
    canvas.height = 32;
    ctx.drawImage(video, 0, 0, w, 32, 0, 0, w, 32);
    const d = ctx.getImageData(0, 0, w, 32).data;
    const block = w / 32;
    let value = 0;
    for (let bit = 0; bit < 32; bit++) {
      const x = Math.floor(bit * block + block / 2);
      const top = luma(d, (8 * w + x) * 4) > 128;
      const bottom = luma(d, (24 * w + x) * 4) > 128;
      if (top === bottom) return null;
      value = value * 2 + (top ? 1 : 0);
    }
    return value;
  }

  function onFrame() {
    peer.frames += 1;
    if (peer.frames % 3 === 1) {
      const captured = readClock();
      if (captured !== null) {
        let delta = (Date.now() % 2 ** 32) - captured;
        if (delta < -(2 ** 31)) delta += 2 ** 32;
        if (delta >= 0 && delta < 10000) peer.latencies.push(delta);
      }
    }
    video.requestVideoFrameCallback(onFrame);
  }

  peer.answer = async (offerSdp) => {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 480, frameRate: 30 }, audio: true,
    });
    const pc = new RTCPeerConnection();
    peer.pc = pc;
    pc.ontrack = (ev) => {
      if (ev.track.kind === 'video') {
        video.srcObject = new MediaStream([ev.track]);
        video.requestVideoFrameCallback(onFrame);
      }
    };
    pc.ondatachannel = (ev) => {
      const ch = ev.channel;
      ch.onmessage = (m) => {
        peer.chat.push({ label: ch.label, ordered: ch.ordered, size: m.data.length });
        ch.send('echo: ' + m.data);
        ch.send('x'.repeat(60000)); // a big chat message: under the 64 KiB SCTP limit
      };
    };
    await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    for (const t of pc.getTransceivers()) {
      const track = media.getTracks().find((tr) => tr.kind === t.receiver.track.kind);
      if (track) {
        await t.sender.replaceTrack(track);
        t.direction = 'sendrecv';
      }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((resolve) => {
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      });
    }
    return pc.localDescription.sdp;
  };

  // A second, in-band (DCEP) channel opened by the browser, like the console's file transfer.
  peer.sendFiles = () => {
    peer.maxMessageSize = peer.pc.sctp ? peer.pc.sctp.maxMessageSize : null;
    const ch = peer.pc.createDataChannel('files', { ordered: true });
    ch.binaryType = 'arraybuffer';
    ch.onopen = () => {
      for (let i = 0; i < 4; i++) ch.send(new Uint8Array(16384).fill(i));
      peer.files = 'sent 4 x 16 KiB';
    };
  };

  peer.report = async () => {
    const out = { latencies: peer.latencies.slice(), frames: peer.frames, chat: peer.chat,
      files: peer.files, maxMessageSize: peer.maxMessageSize, stats: [] };
    const keep = ['type', 'kind', 'framesDecoded', 'keyFramesDecoded', 'frameWidth', 'frameHeight',
      'framesPerSecond', 'pliCount', 'firCount', 'nackCount', 'packetsLost', 'packetsReceived',
      'framesEncoded', 'decoderImplementation', 'encoderImplementation', 'dtlsState', 'srtpCipher',
      'tlsVersion', 'dtlsRole', 'candidateType', 'mimeType', 'jitterBufferDelay',
      'jitterBufferEmittedCount'];
    const stats = await peer.pc.getStats();
    for (const s of stats.values()) {
      if (!['inbound-rtp', 'outbound-rtp', 'transport', 'codec', 'local-candidate'].includes(s.type)) continue;
      const row = {};
      for (const k of keep) if (s[k] !== undefined) row[k] = s[k];
      out.stats.push(row);
    }
    return out;
  };
})();

// Injected into the adviser console by the e2e tests and the call benchmark (never shipped to
// advisers). It watches #remote-video: counts decoded frames, reads the kiosk's capture clock
// from the test picture (docs/signalling.md), samples the colour bars, and measures audio energy.
(() => {
  if (window.__probe) return;
  const BARS = [
    [191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0],
    [191, 0, 191], [191, 0, 0], [0, 0, 191], [0, 0, 0],
  ];
  const probe = {
    frames: 0,
    firstFrameAt: null, // Date.now() of the first decoded frame of the current call
    latencies: [],
    clockReads: 0,
    barsOk: null,
    barsSeen: null,
    audioRms: 0,
    audioPeakRms: 0,
    watching: null,
  };
  window.__probe = probe;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });

  function luma(d, i) {
    return 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
  }

  function readClock(video) {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return null;
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
      if (top === bottom) return null; // the inverted row disagrees: not a valid code
      value = value * 2 + (top ? 1 : 0);
    }
    return value;
  }

  function checkBars(video) {
    const w = video.videoWidth;
    const h = video.videoHeight;
    const y = Math.floor(h * 0.45);
    canvas.width = w;
    canvas.height = 1;
    ctx.drawImage(video, 0, y, w, 1, 0, 0, w, 1);
    const d = ctx.getImageData(0, 0, w, 1).data;
    const seen = BARS.map((_, i) => {
      const x = Math.floor((i + 0.5) * (w / 8));
      return [d[x * 4], d[x * 4 + 1], d[x * 4 + 2]];
    });
    probe.barsSeen = seen;
    probe.barsOk = seen.every((rgb, i) => rgb.every((c, k) => Math.abs(c - BARS[i][k]) < 48));
  }

  function onFrame(video, handle) {
    return () => {
      if (probe.watching !== handle) return;
      probe.frames += 1;
      if (probe.firstFrameAt === null) probe.firstFrameAt = Date.now();
      if (probe.frames % 3 === 1) {
        const captured = readClock(video);
        if (captured !== null) {
          const now = Date.now() % 2 ** 32;
          let delta = now - captured;
          if (delta < -(2 ** 31)) delta += 2 ** 32;
          if (delta >= 0 && delta < 10000) {
            probe.latencies.push(delta);
            probe.clockReads += 1;
          }
        }
      }
      if (probe.frames === 10 || probe.frames % 60 === 0) checkBars(video);
      video.requestVideoFrameCallback(onFrame(video, handle));
    };
  }

  let audioCtx = null;
  let analyser = null;
  let audioStream = null;

  function sampleAudio() {
    if (analyser) {
      const buf = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const s of buf) sum += s * s;
      probe.audioRms = Math.sqrt(sum / buf.length);
      probe.audioPeakRms = Math.max(probe.audioPeakRms, probe.audioRms);
    }
  }
  setInterval(sampleAudio, 50);

  // Start watching the current call's remote video; resets the per-call counters.
  probe.watch = () => {
    const video = document.querySelector('#remote-video');
    probe.frames = 0;
    probe.firstFrameAt = null;
    probe.barsOk = null;
    probe.audioPeakRms = 0;
    const handle = {};
    probe.watching = handle;
    const attach = () => {
      if (probe.watching !== handle) return;
      const stream = video.srcObject;
      if (!stream || stream.getVideoTracks().length === 0) {
        setTimeout(attach, 5);
        return;
      }
      video.requestVideoFrameCallback(onFrame(video, handle));
      if (stream.getAudioTracks().length > 0 && audioStream !== stream) {
        audioStream = stream;
        audioCtx = audioCtx || new AudioContext();
        const source = audioCtx.createMediaStreamSource(stream);
        analyser = audioCtx.createAnalyser();
        analyser.fftSize = 2048;
        source.connect(analyser);
      }
    };
    attach();
  };
})();

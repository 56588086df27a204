// The adviser's camera and microphone: asked for once and reused for every call, with the
// Mute and Camera off buttons. The preview (#local-video) stays beside the customer's picture.

export class LocalMedia {
  /**
   * @param {object} parts
   * @param {HTMLVideoElement} parts.preview
   * @param {HTMLButtonElement} parts.mute
   * @param {HTMLButtonElement} parts.camera
   * @param {(text: string) => void} parts.onUnavailable said when the browser refuses them
   */
  constructor({ preview, mute, camera, onUnavailable }) {
    this.preview = preview;
    this.muteButton = mute;
    this.cameraButton = camera;
    this.onUnavailable = onUnavailable;
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {Promise<MediaStream | null> | null} */
    this.request = null;
    this.muted = false;
    this.cameraOff = false;
    mute.addEventListener("click", () => this.setMuted(!this.muted));
    camera.addEventListener("click", () => this.setCameraOff(!this.cameraOff));
  }

  /**
   * Camera and microphone, asked for once and reused for every call; null if refused.
   * @returns {Promise<MediaStream | null>}
   */
  ensure() {
    if (this.request === null) {
      this.request = navigator.mediaDevices
        .getUserMedia({ video: true, audio: true })
        .then((stream) => {
          this.stream = stream;
          this.preview.srcObject = stream;
          this.preview.play().catch(() => {});
          return stream;
        })
        .catch(() => {
          this.request = null; // ask again next call
          this.onUnavailable(
            "Camera or microphone not available: the customer will not see or hear you.",
          );
          return null;
        });
    }
    return this.request;
  }

  /** Stop the camera and microphone (signed out). */
  release() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.request = null;
    this.preview.srcObject = null;
  }

  /** A new call starts with sound and picture on. */
  reset() {
    this.setMuted(false);
    this.setCameraOff(false);
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.muteButton.textContent = muted ? "Unmute" : "Mute";
    this.muteButton.setAttribute("aria-pressed", String(muted));
  }

  /** @param {boolean} off */
  setCameraOff(off) {
    this.cameraOff = off;
    for (const track of this.stream?.getVideoTracks() ?? []) track.enabled = !off;
    this.cameraButton.textContent = off ? "Camera on" : "Camera off";
    this.cameraButton.setAttribute("aria-pressed", String(off));
    this.preview.classList.toggle("is-off", off);
  }
}

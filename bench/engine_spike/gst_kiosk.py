"""The spike's GStreamer "kiosk": webrtcbin sending VP8 + Opus, receiving and decoding its peer's.

Run by ``bench/engine_spike.py`` as a child process (its CPU is what the spike measures), under the
project's venv with Debian's PyGObject borrowed (see ``import_gst``). It talks JSON lines:
stdout ``{"offer": sdp}``, then stdin ``{"answer": sdp}``; stdin ``{"cmd": "stats"}`` prints
``{"stats": {...}}``; stdin ``{"cmd": "quit"}`` (or EOF) ends it.

``--mode baseline`` runs the bare codec instead: the same frames through the same vp8enc settings
into vp8dec, unpaced, and prints ``{"baseline_cpu_s_per_video_s": x}``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for drivers/

from drivers.camera.simulated import TestPicture

DEBIAN_GI = "/usr/lib/python3/dist-packages/gi"
APT = (
    "apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 "
    "gir1.2-gst-plugins-base-1.0 gir1.2-nice-0.1 python3-gst-1.0"
)


class GstUnavailable(RuntimeError):
    """GStreamer, webrtcbin or the Python bindings are missing."""


def import_gst() -> tuple[Any, Any, Any, Any]:
    """(Gst, GstSdp, GstWebRTC, GLib), initialised; raises GstUnavailable with the fix."""
    try:
        gi = importlib.import_module("gi")
    except ImportError:
        if not os.path.isdir(DEBIAN_GI):
            raise GstUnavailable(f"no PyGObject: {APT}") from None
        shim = tempfile.mkdtemp(prefix="gi-shim-")
        atexit.register(shutil.rmtree, shim, True)
        os.symlink(DEBIAN_GI, os.path.join(shim, "gi"))
        sys.path.append(shim)
        gi = importlib.import_module("gi")
    try:
        gi.require_version("Gst", "1.0")
        gi.require_version("GstSdp", "1.0")
        gi.require_version("GstWebRTC", "1.0")
        GLib, Gst, GstSdp, GstWebRTC = (
            importlib.import_module(f"gi.repository.{name}")
            for name in ("GLib", "Gst", "GstSdp", "GstWebRTC")
        )
    except (ValueError, ImportError) as exc:
        raise GstUnavailable(f"GStreamer introspection data missing ({exc}): {APT}") from None
    Gst.init(None)
    if Gst.ElementFactory.find("webrtcbin") is None or Gst.ElementFactory.find("nicesrc") is None:
        raise GstUnavailable(f"webrtcbin or libnice elements missing: {APT}")
    return Gst, GstSdp, GstWebRTC, GLib


def import_nice() -> Any:
    """libnice's introspection (to give the ICE agent its host addresses); call after import_gst."""
    try:
        importlib.import_module("gi").require_version("Nice", "0.1")
        Nice = importlib.import_module("gi.repository.Nice")
    except (ValueError, ImportError):
        raise GstUnavailable(f"libnice introspection data missing: {APT}") from None
    return Nice


Gst, GstSdp, GstWebRTC, GLib = import_gst()
Nice = import_nice()

# aiortc 1.16's libvpx settings (aiortc/codecs/vpx.py) at its maximum bitrate, mapped to vp8enc.
VP8ENC = (
    "vp8enc deadline=1 cpu-used=-6 end-usage=cbr target-bitrate=1500000 "
    "keyframe-max-dist=3000 min-quantizer=2 max-quantizer=56 lag-in-frames=0 "
    "noise-sensitivity=4 overshoot=15 undershoot=100 static-threshold=1 token-partitions=0 "
    "threads=1 buffer-size=1000"
)


def emit(obj: dict[str, Any]) -> None:
    """One JSON line to the parent."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def render_frames(width: int, height: int, count: int, fps: int) -> list[bytes]:
    """``count`` frames of the simulated camera's test picture as I420 bytes."""
    picture = TestPicture(width, height)
    start_ms = int(time.time() * 1000)
    return [picture.render(start_ms + i * 1000 // fps, i).tobytes() for i in range(count)]


class Feeder(threading.Thread):
    """Paces the simulated camera into an appsrc, drawing each frame as the kiosk's camera does."""

    def __init__(self, appsrc: Any, width: int, height: int, fps: int) -> None:
        super().__init__(daemon=True, name="camera")
        self.appsrc, self.fps = appsrc, fps
        self.picture = TestPicture(width, height)
        self.stopped = threading.Event()

    def run(self) -> None:
        period = 1.0 / self.fps
        start = time.monotonic()
        index = 0
        while not self.stopped.is_set():
            due = start + index * period
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            plane = self.picture.render(int(time.time() * 1000), index)
            buf = Gst.Buffer.new_wrapped(plane.tobytes())
            buf.pts = index * Gst.SECOND // self.fps
            buf.duration = Gst.SECOND // self.fps
            if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                return
            index += 1


def video_caps(width: int, height: int, fps: int) -> str:
    return f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"


def _run_to_eos(
    description: str, frames: list[Any], caps: str, fps: int
) -> tuple[float, list[Any]]:
    """Push ``frames`` (bytes or Gst.Buffer) through a pipeline unpaced; (CPU-s, buffers out)."""
    pipeline = Gst.parse_launch(f"appsrc name=src format=time caps={caps} ! {description}")
    src = pipeline.get_by_name("src")
    out: list[Any] = []
    sink = pipeline.get_by_name("out")
    if sink is not None:

        def keep(appsink: Any) -> Any:
            out.append(appsink.emit("pull-sample").get_buffer())
            return Gst.FlowReturn.OK

        sink.connect("new-sample", keep)
    pipeline.set_state(Gst.State.PLAYING)
    cpu0 = time.process_time()
    for i, frame in enumerate(frames):
        buf = Gst.Buffer.new_wrapped(frame) if isinstance(frame, bytes) else frame
        buf.pts = i * Gst.SECOND // fps
        buf.duration = Gst.SECOND // fps
        src.emit("push-buffer", buf)
    src.emit("end-of-stream")
    msg = pipeline.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    used = time.process_time() - cpu0
    pipeline.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise SystemExit(f"baseline pipeline failed: {msg.parse_error() if msg else 'timeout'}")
    return used, out


def run_baseline(width: int, height: int, fps: int, seconds: float) -> None:
    """The bare codec work of a call, unpaced, in CPU-s per second of call, part by part.

    The parts follow bench/call_baseline.py: our video encoded and decoded again; the adviser's
    640x480 20 fps VP8 decoded (encoded beforehand, not timed); Opus encoded and decoded for
    each direction. ``video_send`` alone is the old (pre-issue-17) baseline.
    """
    count = int(seconds * fps)
    unique = render_frames(width, height, min(count, 3 * fps), fps)
    frames = [unique[i % len(unique)] for i in range(count)]
    send, _ = _run_to_eos(
        f"{VP8ENC} ! vp8dec ! fakesink sync=false", frames, video_caps(width, height, fps), fps
    )
    adviser = render_frames(640, 480, int(seconds * 20), 20)
    _, packets = _run_to_eos(
        f"{VP8ENC} ! appsink name=out emit-signals=true sync=false",
        adviser,
        video_caps(640, 480, 20),
        20,
    )
    recv, _ = _run_to_eos(
        "vp8dec ! fakesink sync=false",
        packets,
        "video/x-vp8,width=640,height=480,framerate=20/1",
        20,
    )
    audio_pipeline = Gst.parse_launch(
        f"audiotestsrc num-buffers={int(seconds * 50)} samplesperbuffer=960 wave=sine ! "
        "audio/x-raw,rate=48000,channels=2 ! opusenc ! opusdec ! fakesink sync=false"
    )
    cpu0 = time.process_time()
    audio_pipeline.set_state(Gst.State.PLAYING)
    audio_pipeline.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    audio_one_way = time.process_time() - cpu0
    audio_pipeline.set_state(Gst.State.NULL)
    parts = {
        "video_send": send / seconds,
        "video_recv": recv / seconds,
        "audio": 2 * audio_one_way / seconds,
    }
    emit({"baseline_cpu_s_per_video_s": parts["video_send"], "parts": parts, "frames": count})


class Kiosk:
    """webrtcbin with a VP8 camera track, an Opus microphone track and a data channel."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = GLib.MainLoop()
        if args.source == "videotestsrc":
            caps = video_caps(args.width, args.height, args.fps)
            camera = f"videotestsrc is-live=true pattern=smpte ! {caps}"
        else:
            camera = (
                f"appsrc name=cam is-live=true format=time do-timestamp=false "
                f"caps={video_caps(args.width, args.height, args.fps)} max-bytes=0 max-buffers=2 "
                "leaky-type=downstream"
            )
        drop = f"identity drop-probability={args.drop} ! " if args.drop > 0 else ""
        self.pipeline = Gst.parse_launch(
            f"webrtcbin name=rtc bundle-policy=max-bundle latency=50 "
            f"{camera} ! queue max-size-buffers=2 leaky=downstream ! {VP8ENC} ! "
            f"rtpvp8pay pt=96 picture-id-mode=15-bit ! {drop}"
            "application/x-rtp,media=video,encoding-name=VP8,payload=96 ! rtc. "
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! "
            "audio/x-raw,rate=48000,channels=1 ! audioconvert ! opusenc bitrate=32000 ! "
            "rtpopuspay pt=111 ! "
            "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! rtc."
        )
        self.rtc = self.pipeline.get_by_name("rtc")
        # libnice skips loopback interfaces when it picks host candidates; name the address.
        # Keep the Python wrappers for the process's life: PyGObject drops one reference too many
        # on the ICE agent when its wrapper dies (webrtcbin then hits a freed agent).
        self._ice = self.rtc.get_property("ice-agent")
        self._ice.set_property("ice-tcp", False)
        self._nice = self._ice.get_property("agent")
        nice_address = Nice.Address.new()
        nice_address.set_from_string(args.ice_address)
        self._nice.add_local_address(nice_address)
        self.feeder: Feeder | None = None
        if args.source != "videotestsrc":
            self.feeder = Feeder(
                self.pipeline.get_by_name("cam"), args.width, args.height, args.fps
            )
        self.rtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        if args.nack:  # RTX retransmissions on NACK: off in webrtcbin unless asked for
            video = self.rtc.emit("get-transceiver", 0)
            video.set_property("do-nack", True)
        self.rtc.connect("pad-added", self._on_pad_added)
        self.rtc.connect("on-data-channel", self._on_remote_channel)
        self.rtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.rtc.connect("notify::ice-connection-state", self._on_ice_state)
        self.chat: Any = None
        self.dc_events: list[dict[str, Any]] = []
        self.decoded = {"video": 0, "audio": 0}
        self.offer_sent = False
        self.offer_requested = False

    # -- negotiation (non-trickle: the offer carries every candidate; trickle is on-ice-candidate)
    def _on_negotiation_needed(self, _rtc: Any) -> None:
        if self.offer_requested:  # one offer per call: the data channel re-fires this signal
            return
        self.offer_requested = True
        promise = Gst.Promise.new_with_change_func(self._on_offer, None)
        self.rtc.emit("create-offer", None, promise)

    def _open_chat(self) -> None:
        opts = Gst.Structure.new_from_string("opts,ordered=true")
        self.chat = self.rtc.emit("create-data-channel", "chat", opts)
        self.chat.connect("on-open", lambda ch: self._dc_event("open", ch))
        self.chat.connect("on-message-string", self._on_chat_message)

    def _on_offer(self, promise: Any, _data: Any) -> None:
        promise.wait()
        reply = promise.get_reply()
        if not reply.has_field("offer"):
            emit({"error": f"create-offer failed: {reply.to_string()}"})
            self.loop.quit()
            return
        offer = reply.get_value("offer")
        self.rtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_gathering(self, rtc: Any, _pspec: Any) -> None:
        state = rtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.offer_sent:
            self.offer_sent = True
            emit({"offer": rtc.get_property("local-description").sdp.as_text()})

    def _on_ice_state(self, rtc: Any, _pspec: Any) -> None:
        emit({"ice": rtc.get_property("ice-connection-state").value_nick})

    def set_answer(self, sdp_text: str) -> None:
        ok, sdp = GstSdp.SDPMessage.new_from_text(sdp_text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        self.rtc.emit("set-remote-description", answer, Gst.Promise.new())

    # -- receive: decode what the peer sends, as the kiosk shows the adviser
    def _on_pad_added(self, _rtc: Any, pad: Any) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps().get_structure(0)
        media = caps.get_string("media")
        chain = (
            "rtpvp8depay ! vp8dec ! fakesink name=vsink sync=false"
            if media == "video"
            else "rtpopusdepay ! opusdec ! fakesink name=asink sync=false"
        )
        sink = Gst.parse_bin_from_description(chain, True)
        self.pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        fake = sink.get_by_name("vsink" if media == "video" else "asink")
        fake.set_property("signal-handoffs", True)
        fake.connect("handoff", lambda *_a, m=media: self._count(m))

    def _count(self, media: str) -> None:
        self.decoded[media] += 1

    # -- data channels: chat and files need reliable, ordered messages
    def _dc_event(self, kind: str, channel: Any, **extra: Any) -> None:
        self.dc_events.append({"event": kind, "label": channel.props.label, **extra})
        if kind == "open" and channel.props.label == "chat":
            channel.emit("send-string", "hello from gst")

    def _on_chat_message(self, channel: Any, message: str) -> None:
        self._dc_event("message", channel, size=len(message))

    def _on_remote_channel(self, _rtc: Any, channel: Any) -> None:
        self._dc_event("remote-channel", channel, ordered=channel.props.ordered)
        channel.connect("on-message-string", self._on_chat_message)
        channel.connect(
            "on-message-data",
            lambda ch, data: self._dc_event("message", ch, size=data.get_size()),
        )
        channel.connect("on-error", lambda ch, err: self._dc_event("error", ch, error=str(err)))

    # -- stats, as the benchmark would read them
    def stats(self) -> None:
        promise = Gst.Promise.new_with_change_func(self._on_stats, None)
        self.rtc.emit("get-stats", None, promise)

    def _on_stats(self, promise: Any, _data: Any) -> None:
        promise.wait()
        reply = promise.get_reply()
        found: dict[str, Any] = {}

        def visit(_field: int, value: Any) -> bool:
            if isinstance(value, Gst.Structure):
                kind = value.get_value("type")
                nick = kind.value_nick if hasattr(kind, "value_nick") else str(kind)
                entry = {k: value.get_value(k) for k in _KEEP if value.has_field(k)}
                found.setdefault(nick, []).append(
                    {
                        k: (v if isinstance(v, int | float | str) else str(v))
                        for k, v in entry.items()
                    }
                )
            return True

        reply.foreach(visit)
        sctp = self.rtc.get_property("sctp-transport")
        emit(
            {
                "stats": found,
                "decoded": dict(self.decoded),
                "datachannel": self.dc_events,
                "sctp_max_message_size": sctp.get_property("max-message-size") if sctp else None,
            }
        )

    def command(self, line: str) -> bool:
        msg = json.loads(line)
        if "answer" in msg:
            self.set_answer(msg["answer"])
        elif msg.get("cmd") == "stats":
            self.stats()
        elif msg.get("cmd") == "quit":
            self.loop.quit()
        return False

    def run(self) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)
        self._open_chat()
        if self.feeder is not None:
            self.feeder.start()

        def read_stdin() -> None:
            for line in sys.stdin:
                GLib.idle_add(self.command, line)
            GLib.idle_add(self.loop.quit)

        threading.Thread(target=read_stdin, daemon=True).start()
        self.loop.run()
        if self.feeder is not None:
            self.feeder.stopped.set()
        self.pipeline.set_state(Gst.State.NULL)


_KEEP = (
    "kind",
    "ssrc",
    "packets-sent",
    "bytes-sent",
    "packets-received",
    "bytes-received",
    "packets-lost",
    "jitter",
    "pli-count",
    "fir-count",
    "nack-count",
    "round-trip-time",
    "state",
    "candidate-type",
    "address",
)


def main() -> None:
    """Parse the arguments and run the kiosk or the baseline."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["call", "baseline"], default="call")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", choices=["simulated", "videotestsrc"], default="simulated")
    parser.add_argument("--ice-address", default="127.0.0.1", help="the only host candidate")
    parser.add_argument("--nack", action="store_true", help="retransmit on NACK (RTX)")
    parser.add_argument("--drop", type=float, default=0.0, help="drop this share of sent RTP")
    args = parser.parse_args()
    if args.mode == "baseline":
        run_baseline(args.width, args.height, args.fps, args.seconds)
    else:
        Kiosk(args).run()


if __name__ == "__main__":
    main()

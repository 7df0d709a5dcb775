"""Session-wide real media, encoded once with PyAV (small and fast)."""

from __future__ import annotations

import pytest

from bwc_core.capture.synthetic import SyntheticCamera


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def av_clip(media_dir):
    """8 s of 320x240 H.264 with B-frames (bf=2, 1 s GOP) + mono AAC, in MP4."""
    return SyntheticCamera(seconds=8, bframes=2, gop=30).write(media_dir / "av_bf2.mp4")


@pytest.fixture(scope="session")
def video_clip(media_dir):
    """4 s of video only, no B-frames, half-second GOP."""
    return SyntheticCamera(seconds=4, audio=False, gop=15).write(media_dir / "video.mp4")


@pytest.fixture(scope="session")
def audio_clip(media_dir):
    """3 s of AAC only."""
    return SyntheticCamera(seconds=3, video=False).write(media_dir / "audio.mp4")


# --- signed evidence for the verifier and CLI tests (test_verify.py, test_cli.py) ----------


def build_evidence(out, clips, signer, cert, *, segment_seconds=2, clock=None, close=True,
                   container="mp4", progress_seconds=None):
    """An evidence directory: one recording per clip, segmented and journaled.

    With *progress_seconds* the prefixes written are journaled as the camera
    does (``segment.progress``), before the segment records.
    """
    from bwc_core.capture.recorder import progress_body, segment_body
    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.format.journal import Journal
    from bwc_core.media.source import MediaSource

    journal = Journal.create(out, signer, cert, clock=clock, sync="none")
    try:
        for n, clip in enumerate(clips):
            rid = f"REC-{n + 1:03d}"
            journal.append("recording.open", {
                "recording": rid, "trigger": "test", "officer": "P-1234",
                "policy": {"pre_event_seconds": 0, "pre_event_audio": False,
                           "segment_seconds": segment_seconds, "container": container},
                "pre_event": {"packets": 0, "first": None}})
            journal.append("event", {"kind": "notice", "recording": rid, "media": None, "last_frame": None})
            with MediaSource(clip) as src:
                seg = Segmenter(out / "media" / rid, streams=src.streams, target_seconds=segment_seconds,
                                container=container, name=rid, fsync=False, progress_seconds=progress_seconds)
                infos = []
                for packet in src.packets():
                    info = seg.push(packet)
                    while seg.progress:
                        journal.append("segment.progress", progress_body(out, rid, seg.progress.popleft()))
                    if info is not None:
                        infos.append(info)
                if progress_seconds is not None:  # what was still being digested
                    seg.wait_progress()
                    while seg.progress:
                        journal.append("segment.progress", progress_body(out, rid, seg.progress.popleft()))
                infos += seg.close()
            for info in infos:
                journal.append("segment", segment_body(out, rid, info))
            if close or n + 1 < len(clips):
                journal.append("event", {"kind": "deactivate", "recording": rid, "media": None,
                                         "last_frame": None, "reason": "victim_request", "note": None})
                journal.append("recording.close", {"recording": rid, "reason": "victim_request",
                                                   "segments": len(infos)})
    finally:
        journal.close()
    return out


@pytest.fixture(scope="session")
def trust(tmp_path_factory):
    """An agency root (key + ID.pub.json), a camera identity and its certificate."""
    from types import SimpleNamespace

    from bwc_core.format.keys import Identity

    keys = tmp_path_factory.mktemp("keys")
    root = Identity.generate("root", "CPD-ROOT")
    cam = Identity.generate("camera", "BWC-0001")
    cert = root.certify(cam, days=365, not_before=int(__import__("time").time()) - 86400)
    root.save(keys / "CPD-ROOT.key")
    root.save_public(keys / "CPD-ROOT.pub.json")
    cam.save(keys / "BWC-0001.key")
    cam.save_public(keys / "BWC-0001.pub.json")
    cert.save(keys / "BWC-0001.cert.json")
    server = Identity.generate("server", "CPD-EVIDENCE")
    server_cert = root.certify(server, days=365, not_before=int(__import__("time").time()) - 86400)
    server.save(keys / "CPD-EVIDENCE.key")
    server_cert.save(keys / "CPD-EVIDENCE.cert.json")
    return SimpleNamespace(dir=keys, root=root, cam=cam, cert=cert, root_pub=keys / "CPD-ROOT.pub.json",
                           cam_key=keys / "BWC-0001.key", cert_path=keys / "BWC-0001.cert.json",
                           server=server, server_cert=server_cert, server_key=keys / "CPD-EVIDENCE.key",
                           server_cert_path=keys / "CPD-EVIDENCE.cert.json",
                           signed={"identity": server, "cert": server_cert})


@pytest.fixture(scope="session")
def evidence(tmp_path_factory, trust, av_clip, video_clip):
    """Pristine evidence: REC-001 (A+V, 4 segments) and REC-002 (video only). Copy before tampering."""
    out = tmp_path_factory.mktemp("evidence") / "evidence"
    return build_evidence(out, [av_clip, video_clip], trust.cam, trust.cert)


@pytest.fixture(scope="session")
def make_evidence():
    """:func:`build_evidence` for tests that need their own keys or options."""
    return build_evidence


def encode_clip(path, seconds, *, video=None, audio=None, fps=25):
    """A moving pattern and/or a tone, encoded with PyAV's encoders into *path* (container by suffix).

    *video* is ``(encoder, options)`` (e.g. ``("libx265", {...})``), *audio*
    ``(encoder, sample_rate, frame_size)``: for codecs and encoder settings
    the synthetic camera does not make (x265, open GOPs, MP3).
    """
    import av
    import numpy as np

    out = av.open(str(path), "w")
    v = a = None
    if video is not None:  # every stream before the first packet: the header goes out with it
        v = out.add_stream(video[0], rate=fps)
        v.width, v.height, v.pix_fmt = 160, 128, "yuv420p"
        v.options = video[1]
    if audio is not None:
        encoder, rate, size = audio
        a = out.add_stream(encoder, rate=rate)
    if v is not None:
        for i in range(seconds * fps):
            img = np.zeros((128, 160, 3), np.uint8)
            img[:, :, 0] = (i * 5) % 255
            img[(i * 3) % 128, :, 1] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    if a is not None:
        for k in range(seconds * rate // size):
            samples = np.full((1, size), np.float32(0.1 * np.sin(k)), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, k * size
            for p in a.encode(frame):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    out.close()
    return path


# --- identities and a clock shared by test_journal, test_keys, test_recorder and
# test_attacks_recovery (folded here from those modules).

#: A fixed wall clock (ns since the epoch) for reproducible records.
CLOCK_T0 = 1_790_000_000 * 10**9


class FakeClock:
    """Injectable wall clock: 1 ms per reading, strictly increasing."""

    def __init__(self, start: int = CLOCK_T0) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


@pytest.fixture(scope="module")
def root():
    from bwc_core.format.keys import Identity

    return Identity.generate("root", "CPD-ROOT")


@pytest.fixture(scope="module")
def cam():
    from bwc_core.format.keys import Identity

    return Identity.generate("camera", "BWC-0001")


@pytest.fixture(scope="module")
def anchors(root):
    from bwc_core.format.keys import TrustAnchors

    return TrustAnchors([root.public_info()])


@pytest.fixture(scope="module")
def pki():
    """(root, camera, camera certificate valid from a minute before CLOCK_T0)."""
    from bwc_core.format.keys import Identity

    root = Identity.generate("root", "CPD-ROOT")
    cam = Identity.generate("camera", "BWC-0001")
    return root, cam, root.certify(cam, days=365, not_before=CLOCK_T0 // 10**9 - 60)

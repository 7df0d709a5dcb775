"""The PyAV adapters and the synthetic camera."""

from __future__ import annotations

import hashlib
import io
import os

import av
import blake3
import pytest

from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.errors import ContainerError, CorruptMediaError, MediaError, UnsupportedCodecError
from bwc_core.format.codec import strip_adts
from bwc_core.media.source import MediaSource, decode_first_frame
from bwc_core.media.writers import HashingSink, add_streams, container_options, open_output, write_packets


def test_synthetic_clip_has_bframes_and_audio(av_clip):
    with MediaSource(av_clip) as src:
        kinds = {s.kind for s in src.streams}
        records = list(src)
    assert kinds == {"video", "audio"}
    video = [r for r in records if r.kind == "video"]
    assert video[0].keyframe
    assert any(r.dts < r.pts for r in video), "expected B-frames (dts < pts)"
    assert sum(r.keyframe for r in video) == 8  # 8 s at a 1 s GOP


def test_stream_copy_round_trip_keeps_every_payload(av_clip, tmp_path):
    with MediaSource(av_clip) as src:
        records = list(src)
        write_packets(tmp_path / "copy.mp4", src.streams, records)
    with MediaSource(tmp_path / "copy.mp4") as copy:
        again = list(copy)
    assert [bytes(r.payload) for r in again] == [bytes(r.payload) for r in records]


def test_missing_and_garbage_files_are_typed_errors(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        MediaSource(tmp_path / "absent.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not media at all" * 100)
    with pytest.raises(CorruptMediaError, match="junk.mp4"):
        MediaSource(junk)


# --- writer side: hashing sink, output factory, first-frame decode -------------

class _Digests:
    """A minimal digester (the real one lives in bwc_core.format.content)."""

    def __init__(self):
        self.h = {"blake3": blake3.blake3(), "sha256": hashlib.sha256()}

    def update(self, data, /):
        for h in self.h.values():
            h.update(data)

    def hexdigests(self):
        return {k: h.hexdigest() for k, h in self.h.items()}


@pytest.mark.parametrize("threaded", [True, False])
def test_hashing_sink_digests_exactly_the_bytes_written(tmp_path, threaded):
    chunks = [os.urandom(n) for n in (1, 100, 5000, 70_000, 3)]
    sink = HashingSink(tmp_path / "out.bin", _Digests(), threaded=threaded)
    assert not sink.seekable() and sink.writable() and not sink.readable()
    for c in chunks:
        assert sink.write(c) == len(c)
    sink.write(bytearray(b"tail"))
    digests = sink.close()
    data = (tmp_path / "out.bin").read_bytes()
    assert data == b"".join(chunks) + b"tail" and sink.size == len(data)
    assert digests == {"blake3": blake3.blake3(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def test_hashing_sink_refuses_seeks_and_overwrites(tmp_path):
    sink = HashingSink(tmp_path / "out.bin", _Digests())
    sink.write(b"header")
    with pytest.raises(ContainerError, match="seek"):
        sink.seek(0)
    with pytest.raises(ContainerError, match="seek"):
        sink.write(b"patched")
    with pytest.raises(ContainerError, match="no digest"):
        sink.close()
    with pytest.raises(ContainerError, match="already exists"):
        HashingSink(tmp_path / "out.bin", _Digests())


def test_fragmented_mp4_options_keep_start_offsets(av_clip):
    with MediaSource(av_clip) as src:
        opts = container_options("mp4", src.streams)
    flags = opts["movflags"].split("+")
    assert "frag_keyframe" in flags and "delay_moov" in flags and "empty_moov" not in flags
    assert opts["flush_packets"] == "1"
    # video 1/15360 and audio 48 kHz both divide the movie timescale exactly
    assert int(opts["movie_timescale"]) % 15360 == 0 and int(opts["movie_timescale"]) % 48000 == 0


def test_mkv_written_to_a_forward_only_sink_plays(av_clip, tmp_path):
    path = tmp_path / "live.mkv"
    with MediaSource(av_clip) as src:
        sink = HashingSink(path, _Digests())
        out, streams = open_output(sink, "mkv", src.streams)
        for r in src:
            out.mux(r.to_av(streams[r.stream]))
        out.close()
        digests = sink.close()
    assert digests["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert decode_first_frame(path).width == 320
    assert decode_first_frame(path, "audio").sample_rate == 48000


def test_output_refuses_codecs_the_container_cannot_hold(audio_clip):
    # IVF holds only VP8/VP9/AV1: an AAC stream must be refused with a typed error.
    with MediaSource(audio_clip) as src, av.open(io.BytesIO(), "w", format="ivf") as out:
        with pytest.raises(UnsupportedCodecError, match="aac"):
            add_streams(out, src.streams)


def test_truncated_and_unsupported_inputs_are_typed(av_clip, tmp_path):
    data = open(av_clip, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # plain MP4: moov at the end is gone
    with pytest.raises(CorruptMediaError, match="cut.mp4"):
        with MediaSource(cut) as src:
            list(src)
    with pytest.raises(UnsupportedCodecError, match="h264"):
        MediaSource(av_clip, codecs={"aac"})
    with pytest.raises(CorruptMediaError):
        decode_first_frame(tmp_path / "cut.mp4")
    with pytest.raises(MediaError, match="no such file"):
        decode_first_frame(tmp_path / "absent.mp4")


def test_writing_after_the_source_closed_is_a_typed_error_not_a_crash(av_clip, tmp_path):
    from bwc_core.errors import ContainerError

    with MediaSource(av_clip) as src:
        records = list(src)
        streams = src.streams
    assert all(s.template is None for s in streams)
    with pytest.raises(ContainerError, match="template"):
        write_packets(tmp_path / "late.mp4", streams, records)


@pytest.fixture(scope="module")
def mkv_bframes(tmp_path_factory):
    """H.264 with B-frames + AAC in Matroska (no stored dts)."""
    path = tmp_path_factory.mktemp("mkvin") / "bf.mkv"
    path.write_bytes(SyntheticCamera(seconds=5, bframes=2, gop=30).encode("mkv"))
    return path


def test_matroska_b_frames_get_a_decode_order(mkv_bframes):
    """Matroska stores no dts: FFmpeg gives none for the first packets of a
    B-frame stream; MediaSource fills them in so decode order holds."""
    with av.open(str(mkv_bframes)) as raw:
        raw_video = [(p.pts, p.dts) for p in raw.demux(video=0) if p.size]
    assert raw_video[0][1] is None  # what the demuxer alone gives
    with MediaSource(mkv_bframes) as src:
        records = list(src.packets())
    with MediaSource(mkv_bframes) as src:
        from_av = [(p.stream_index, p.pts, p.dts) for p in src.av_packets()]
    assert [(r.stream, r.pts, r.dts) for r in records] == from_av
    for stream in {r.stream for r in records}:
        dts = [r.dts for r in records if r.stream == stream]
        assert all(a < b for a, b in zip(dts, dts[1:], strict=False)), "dts strictly increasing"
    video = [r for r in records if r.kind == "video"]
    assert [r.pts for r in video] == [p for p, _ in raw_video]  # pts untouched
    assert all(r.dts <= r.pts for r in video)
    assert any(r.dts < r.pts for r in video)
    assert [r.dts for r in video[2:]] == [d for _, d in raw_video[2:]]  # known dts untouched


def test_matroska_b_frames_segment_and_seal(mkv_bframes, tmp_path):
    """What used to fail (dts = pts for the first packets): segmenting and
    sealing an MKV with B-frames; every segment's content root is its file's."""
    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.media.commit import content_root

    with MediaSource(mkv_bframes) as src:
        seg = Segmenter(tmp_path / "seg", streams=src.streams, target_seconds=2, fsync=False)
        infos = [i for i in map(seg.push, src.packets()) if i is not None]
        infos += seg.close()
    assert len(infos) >= 2
    with MediaSource(mkv_bframes) as src:
        source = [(r.stream, r.pts, bytes(r.payload)) for r in src.packets() if r.kind == "video"]
    out = []
    for info in infos:
        assert content_root(info.path).root == info.content_root
        with MediaSource(info.path) as seg_src:
            out += [(r.stream, bytes(r.payload)) for r in seg_src.packets() if r.kind == "video"]
    assert [(s, p) for s, _, p in source] == out  # every video packet, in decode order


def test_adts_aac_from_mpeg_ts_goes_into_mp4_raw_with_its_config(tmp_path):
    """TS AAC (ADTS, no config from the demuxer) segmented into MP4: each frame
    without its header, the AudioSpecificConfig its headers carry, same roots."""
    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.media.commit import content_root

    ts = tmp_path / "in.ts"
    ts.write_bytes(SyntheticCamera(seconds=5, bframes=2, gop=30).encode("ts"))
    with av.open(str(ts)) as raw:
        assert not raw.streams.audio[0].codec_context.extradata  # what the demuxer gives
    with MediaSource(ts) as src:
        audio = next(s for s in src.streams if s.kind == "audio")
        assert len(audio.extradata) == 2  # read from the first ADTS header
        frames = [bytes(r.payload) for r in src.packets() if r.kind == "audio"]
    assert all(f[0] == 0xFF and (f[1] & 0xF6) == 0xF0 for f in frames)
    roots, configs = {}, {}
    for container in ("mp4", "mkv", "ts"):
        with MediaSource(ts) as src:
            seg = Segmenter(tmp_path / container, streams=src.streams, target_seconds=2,
                            container=container, fsync=False)
            infos = [i for i in map(seg.push, src.packets()) if i is not None] + seg.close()
        out = []
        payload_roots = []
        for info in infos:
            result = content_root(info.path)
            assert result.root == info.content_root
            payload_roots += [c.payload_root for c in result.chunks]
            configs.setdefault(container, {s.index: s.config_digest for s in result.streams})
            with MediaSource(info.path) as back:
                if container != "ts":
                    a = next(s for s in back.streams if s.kind == "audio")
                    assert a.extradata == audio.extradata
                out += [bytes(r.payload) for r in back.packets() if r.kind == "audio"]
        expected = frames if container == "ts" else [strip_adts(f) for f in frames]
        assert out == expected
        roots[container] = payload_roots
    # Timing is committed in each container's own time base; the packets
    # (leaves, config digests aside) are the same in all three.
    assert roots["mp4"] == roots["mkv"] == roots["ts"]
    assert configs["mp4"] == configs["mkv"] == configs["ts"]  # ASC in the file = ADTS-derived


def test_strip_adts():
    frame = bytes([0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]) + b"raw"
    assert strip_adts(frame) == b"raw"
    crc = bytes([0xFF, 0xF0, 0x50, 0x80, 0x02, 0x5F, 0xFC, 0x12, 0x34]) + b"raw"
    assert strip_adts(crc) == b"raw"
    assert strip_adts(b"\x21\x10raw") == b"\x21\x10raw"


def test_codec_names_are_codecs_not_decoders(tmp_path):
    """FFmpeg decodes MP3 with its "mp3float" decoder; the stream's codec is "mp3", which
    the content format frames and the segmenter accepts."""
    from conftest import encode_clip

    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.media.commit import content_root

    path = encode_clip(tmp_path / "tone.mkv", 1, audio=("libmp3lame", 44100, 1152))
    with av.open(str(path)) as probe:
        assert probe.streams.audio[0].codec_context.name != "mp3"  # the premise: a decoder name
    with MediaSource(path) as src:
        assert src.streams[0].codec == "mp3"
        seg = Segmenter(tmp_path / "seg", streams=src.streams, target_seconds=10, container="mkv", fsync=False)
        for packet in src.packets():
            seg.push(packet)
        (info,) = seg.close()
    assert content_root(info.path).root == info.content_root

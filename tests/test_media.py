"""The PyAV adapters and the synthetic camera."""

from __future__ import annotations

import pytest

from bwc_core.errors import CorruptMediaError, MediaError
from bwc_core.media import MediaSource, write_packets


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

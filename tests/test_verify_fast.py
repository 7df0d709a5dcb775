"""The verifier's fast re-demux gives exactly the content commitment of the reference path.

``bwc verify`` opens MP4 and MKV segments with a light stream probe and
hashes packets straight from FFmpeg's buffers; these tests hold its roots,
per-packet leaves and damage reports equal to :func:`content_root` and to
the default-probe path, for every container and for damaged files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.media import presentation as verify_presentation
from bwc_core.media.commit import content_root
from bwc_core.media.source import MediaSource
from bwc_core.verify import evidence as verify


@pytest.fixture(scope="module", params=["mp4", "mkv", "ts"])
def clip(request, tmp_path_factory):
    """3 s of H.264 with B-frames + AAC in each container bwc-core writes."""
    path = tmp_path_factory.mktemp("fast") / f"clip.{request.param}"
    path.write_bytes(SyntheticCamera(seconds=3, bframes=2, gop=30).encode(request.param))
    return path


def _rows(result):
    return [(p.chunk, p.stream, p.flags, p.size, p.pts, p.leaf) for p in result.packets]


def test_light_probe_applies_to_mp4_and_mkv_only(clip):
    assert verify_presentation.header_declares_streams(clip) is (clip.suffix in (".mp4", ".mkv"))


def test_light_probe_sees_the_same_streams_exactly_where_it_is_used(clip):
    """MP4 / MKV: the light probe finds every stream parameter. MPEG-TS: it misses
    the AAC parameters, which is why verify keeps the default probe there."""
    with MediaSource(clip) as full, MediaSource(clip, options=verify._LIGHT_PROBE) as light:
        fields = ("index", "kind", "codec", "time_base", "extradata", "width", "height",
                  "sample_rate", "channels")
        same = [[getattr(s, f) for f in fields] for s in light.streams] == \
               [[getattr(s, f) for f in fields] for s in full.streams]
    assert same is verify_presentation.header_declares_streams(clip)


def test_fast_content_equals_content_root(clip):
    reference = content_root(clip)
    for options in (None, verify._LIGHT_PROBE):
        result, problems = verify.content_of(clip, options)
        assert problems == []
        assert result.root == reference.root
        assert _rows(result) == _rows(reference)


def test_measure_content_falls_back_on_mismatch(clip):
    """A wrong expected root (what a tampered file looks like) still yields the true root."""
    reference = content_root(clip)
    content, problems, error = verify._measure_content(clip, "00" * 32)
    assert error is None and problems == []
    assert content.root == reference.root
    content, _, _ = verify._measure_content(clip, reference.root.hex())
    assert content.root == reference.root


def test_truncated_file_same_damage_report(clip, tmp_path):
    """Cut mid-file: both probes keep the same packets and report the same problems."""
    cut = tmp_path / f"cut{clip.suffix}"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    outcomes = []
    for options in (None, verify._LIGHT_PROBE):
        try:
            result, problems = verify.content_of(cut, options)
            outcomes.append((result.root, _rows(result), problems))
        except Exception as exc:  # noqa: BLE001 - both paths must fail alike
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


def test_not_media_is_an_error_not_a_crash(tmp_path):
    bogus = tmp_path / "x.mp4"
    shutil.copyfile(Path(__file__), bogus)
    content, problems, error = verify._measure_content(bogus, "00" * 32)
    assert content is None and error

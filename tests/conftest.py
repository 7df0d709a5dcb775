"""Session-wide real media, encoded once with PyAV (small and fast)."""

from __future__ import annotations

import pytest

from bwc_core.media import SyntheticCamera


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

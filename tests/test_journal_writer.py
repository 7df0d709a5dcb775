"""The journal's writer thread: the capture thread never waits for an fsync (issue 10).

Real files, real fsync, real libsodium: the journal is never mocked. The tests
count ``os.fsync`` calls per thread with a wrapper around the real call, and
make the storage fail with a real ENOSPC (``/dev/full`` under the journal's
descriptor).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bwc_core.capture.recorder import DeactivationReason, Recorder, RecorderState, RecordingPolicy
from bwc_core.errors import JournalError, StateError
from bwc_core.format.journal import CLOCK_SYNC, Journal, read_lines, validate_journal
from bwc_core.format.keys import UNSAFE_NO_ORIGIN, Identity, TrustAnchors
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

T0 = 1_790_000_000 * 10**9


class FakeClock:
    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


@pytest.fixture(scope="module")
def pki():
    root = Identity.generate("root", "CPD-ROOT")
    cam = Identity.generate("camera", "BWC-0001")
    cert = root.certify(cam, days=365, not_before=T0 // 10**9 - 60)
    return root, cam, cert


@pytest.fixture(scope="module")
def clip(media_dir):
    from bwc_core.capture.synthetic import SyntheticCamera

    return SyntheticCamera(seconds=12, bframes=2, gop=30).write(media_dir / "writer12.mp4")


def _anchors(root):
    return TrustAnchors([root.public_info()])


class FsyncCounter:
    """Counts real ``os.fsync`` calls per thread (the call itself still happens)."""

    def __init__(self, monkeypatch) -> None:
        self.real = os.fsync
        self.by_thread: dict[str, int] = {}
        self.on_capture = 0
        self.capturing = False
        self.capture_ident = threading.get_ident()
        self._lock = threading.Lock()
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        name = threading.current_thread().name
        with self._lock:
            self.by_thread[name] = self.by_thread.get(name, 0) + 1
            if self.capturing and threading.get_ident() == self.capture_ident:
                self.on_capture += 1
        self.real(fd)


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_capture_thread_never_waits_for_an_fsync(tmp_path, pki, clip, container, monkeypatch):
    """Steady recording: push() journals progress and segment records, and not one fsync
    runs on the capture thread; the writer thread fsyncs them; the evidence verifies."""
    root, cam, cert = pki
    counter = FsyncCounter(monkeypatch)
    src = MediaSource(clip)
    packets = list(src)
    rec = Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams, clock=FakeClock(),
                   policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2, container=container),
                   progress_seconds=1)
    it = iter(packets)
    for p in it:  # standby
        rec.push(p)
        if p.pts_seconds >= 1.5:
            break
    rec.activate()
    seq = rec.journal.seq
    latencies = []
    counter.capturing = True
    for p in it:
        t = time.perf_counter_ns()
        rec.push(p)
        latencies.append(time.perf_counter_ns() - t)
    counter.capturing = False
    journaled = [r.type for r in rec.journal.records if r.seq > seq]
    assert journaled.count("segment") >= 1 and journaled.count("segment.progress") >= 3, journaled
    assert counter.on_capture == 0, counter.by_thread
    assert counter.by_thread.get("bwc-journal-writer", 0) >= 1, counter.by_thread
    rec.deactivate(DeactivationReason.EVENT_COMPLETE)
    # A control call returns only once its record (and all before it) is on storage.
    assert rec.journal.durable_seq == rec.journal.seq
    rec.close()
    report = verify_evidence(tmp_path, _anchors(root))
    assert report.ok, [(f.code, f.message) for f in report.findings if f.failed]
    print(container, "push latency ns: min", min(latencies), "median", sorted(latencies)[len(latencies) // 2])


def test_control_calls_return_only_once_durable(tmp_path, pki, clip):
    """An officer's deactivation is on storage when deactivate() returns (its line is in the
    file), while the capture thread's own records may still be queued."""
    _, cam, cert = pki
    src = MediaSource(clip)
    packets = list(src)
    durable = []
    rec = Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams, clock=FakeClock(),
                   policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2),
                   on_durable=lambda seq, head: durable.append((seq, head)))
    for p in packets[:40]:
        rec.push(p)
    rec.activate()
    for p in packets[40:200]:
        rec.push(p)
    for call in (lambda: rec.mark("arrest"), rec.notify, rec.mute, rec.unmute,
                 lambda: rec.deactivate(DeactivationReason.EVENT_COMPLETE), rec.sleep, rec.wake,
                 lambda: rec.clock_sync("ntp", 5)):
        call()
        last = rec.journal.records[-1]
        assert rec.journal.durable_seq == last.seq and rec.journal.durable_head == last.hash
        on_disk = read_lines(tmp_path)[-1]
        assert on_disk == (last.envelope.dumps() + "\n").encode()
    assert durable and durable[-1] == (rec.journal.seq, rec.journal.head)
    assert [s for s, _ in durable] == sorted({s for s, _ in durable})  # in order, each once
    rec.close()
    assert rec.state is RecorderState.CLOSED


def test_writer_error_surfaces_and_written_evidence_stays(tmp_path, pki, clip):
    """ENOSPC on the writer thread (the journal's descriptor now points at /dev/full): the next
    capture call raises JournalError, the recorder says FAILED, control calls and close raise
    too, and every record reported durable is in the file, which recovery then closes."""
    root, cam, cert = pki
    src = MediaSource(clip)
    packets = list(src)
    durable = []
    rec = Recorder(tmp_path / "ev", identity=cam, cert=cert, streams=src.streams, clock=FakeClock(),
                   policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2), progress_seconds=1,
                   on_durable=lambda seq, head: durable.append((seq, head)))
    it = iter(packets)
    for p in it:
        rec.push(p)
        if p.pts_seconds >= 1.5:
            break
    rec.activate()
    for p in it:
        rec.push(p)
        if p.pts_seconds >= 5:
            break
    rec.flush()
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, rec.journal._fd)  # the storage under the journal is now full
    os.close(full)
    with pytest.raises(JournalError, match="No space left"):
        for p in it:  # the writer fails on the next record it writes; a push after that raises
            rec.push(p)
            time.sleep(0.002)
    assert rec.state is RecorderState.FAILED
    assert rec.journal.error is not None and rec.journal.lost >= 1
    with pytest.raises(JournalError):
        rec.push(packets[-1])
    with pytest.raises(JournalError):
        rec.mark("after the failure")
    with pytest.raises(JournalError):
        rec.flush()
    with pytest.raises(JournalError):
        rec.close()
    assert rec.state is RecorderState.CLOSED
    with pytest.raises(StateError):
        rec.push(packets[-1])
    # Everything reported durable is there, the chain validates, recovery closes the recording.
    journal = Journal.open(tmp_path / "ev")
    by_seq = {r.seq: r.hash for r in journal.records}
    assert durable and all(by_seq.get(seq) == head for seq, head in durable)
    assert max(by_seq) == durable[-1][0]
    report = Recorder.recover(tmp_path / "ev", identity=cam, cert=cert)
    assert report.recording is not None
    verdict = verify_evidence(tmp_path / "ev", _anchors(root))
    assert verdict.ok, [(f.code, f.message) for f in verdict.findings if f.failed]


def _group(tmp_path: Path, cam, cert, n: int) -> tuple[Path, list[bytes]]:
    """A journal whose last *n* records were written by one group commit of the writer thread."""
    journal = Journal.create(tmp_path, cam, cert, clock=FakeClock())
    journal.append(CLOCK_SYNC, {"source": "dock", "offset_ns": 0})
    journal.start_writer()
    for i in range(n):
        journal.append(CLOCK_SYNC, {"source": "ntp", "offset_ns": i}, wait=False)
    journal.close()
    return tmp_path / "journal.jsonl", read_lines(tmp_path)


def test_power_cut_in_a_group_write_leaves_a_damaged_tail_the_camera_cuts(tmp_path, pki):
    """A power cut before the group's fsync: the storage kept the file's new size but not all
    its blocks (zeros over the last three lines, the last newline kept). Opening the journal
    for writing cuts every damaged line (none was reported durable) and keeps every record
    before them; the journal validates and appends continue."""
    _, cam, cert = pki
    path, lines = _group(tmp_path, cam, cert, 5)
    keep = sum(len(x) for x in lines[:-3])
    # storage kept the blocks holding the ends of two lines and the start of the last one
    damaged = b"".join(x[:30] + bytes(len(x) - 60) + x[-30:] for x in lines[-3:-1]) + lines[-1][:len(lines[-1]) // 2]
    path.write_bytes(b"".join(lines[:-3]) + damaged)
    # A reader (the verifier) is not told a story: several damaged lines are errors to it.
    assert any(f.code == "journal.malformed_line" and f.failed for f in validate_journal(path, UNSAFE_NO_ORIGIN))
    journal = Journal.open(tmp_path, cam, clock=FakeClock())
    assert journal.torn_tail is not None and journal.torn_tail.offset == keep
    assert journal.torn_tail.data == damaged
    assert [f.code for f in journal.findings if f.code != "cert.unchecked"] == ["journal.torn_tail"]
    assert journal.seq == len(lines) - 4
    journal.append(CLOCK_SYNC, {"source": "ntp", "offset_ns": -1})
    journal.close()
    assert [f for f in validate_journal(path, UNSAFE_NO_ORIGIN) if f.failed] == []


def test_a_record_after_a_damaged_line_is_never_cut(tmp_path, pki):
    """A damaged line followed by a whole signed record is not a crash of a group write the
    camera may cut (a record there may have been reported durable): opening refuses."""
    _, cam, cert = pki
    path, lines = _group(tmp_path, cam, cert, 4)
    lines[-2] = bytes(len(lines[-2]) - 1) + b"\n"
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    with pytest.raises(JournalError):
        Journal.open(tmp_path, cam)
    assert path.read_bytes() == before


def test_append_wait_false_without_a_writer_is_still_durable(tmp_path, pki):
    """Without start_writer() (recovery, tools) every append is written and fsynced inline."""
    _, cam, cert = pki
    journal = Journal.create(tmp_path, cam, cert, clock=FakeClock())
    rec = journal.append(CLOCK_SYNC, {"source": "ntp", "offset_ns": 1}, wait=False)
    assert journal.durable_seq == rec.seq
    assert read_lines(tmp_path)[-1] == (rec.envelope.dumps() + "\n").encode()
    journal.close()


def test_backlogged_writer_skips_progress_records_and_counts_them(tmp_path, pki, clip):
    """While the writer is behind by its bound, the capture thread leaves prefix attestations
    out (counted), never segment records; the evidence still verifies."""
    root, cam, cert = pki
    src = MediaSource(clip)
    packets = list(src)
    rec = Recorder(tmp_path, identity=cam, cert=cert, streams=src.streams, clock=FakeClock(),
                   policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=2), progress_seconds=1,
                   write_behind=False)
    rec.journal.start_writer(max_records=0)  # the bound: "behind" whatever the queue holds
    for p in packets[:40]:
        rec.push(p)
    rec.activate()
    for p in packets[40:]:
        rec.push(p)
    rec.deactivate(DeactivationReason.EVENT_COMPLETE)
    rec.close()
    assert rec.progress_skipped > 0
    records = Journal.open(tmp_path).records
    segments = [r for r in records if r.type == "segment"]
    assert len(segments) >= 5
    report = verify_evidence(tmp_path, _anchors(root))
    assert report.ok, [(f.code, f.message) for f in report.findings if f.failed]

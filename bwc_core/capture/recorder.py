"""The camera state machine: standby, recording, sleep, closed.

The :class:`Recorder` sits on the camera's capture thread. In standby it
feeds the pre-event buffer; on activation it drains the buffer into the first
segment (flagged ``pre_event``) and journals ``recording.open`` with the
policy in force; every completed segment, every event and every stop becomes
a signed, chained journal record, so a court can tell not only that footage
is intact but that nothing is missing and why recording stopped.
"""

from __future__ import annotations

import enum
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bwc_core.capture.buffer import PreEventBuffer
from bwc_core.capture.segmenter import Segmenter, SegmentInfo, SegmentProgress, salvage
from bwc_core.errors import BwcValueError, JournalError, PolicyError, StateError
from bwc_core.format.codec import StreamInfo
from bwc_core.format.content import file_digests
from bwc_core.format.journal import Journal, SyncMode
from bwc_core.format.keys import Certificate, Signer
from bwc_core.format.layout import MEDIA_DIR, UNATTESTED_DIR
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import CONTAINER_FORMATS
from bwc_core.media.writers import check_streams

__all__ = [
    "DeactivationReason",
    "Recorder",
    "RecorderState",
    "RecordingPolicy",
    "RecoveryReport",
    "progress_body",
    "segment_body",
]

log = logging.getLogger("bwc_core.capture.recorder")

#: Seconds of video between two fragment boundaries (keyframes) of a segment
#: being written, each attested by a ``segment.progress`` record once the
#: fragment before it is written: a power cut loses at most the fragment in
#: flight; ~0.74 kB of journal each (docs/camera.md: ~1.9 MB per hour in all).
PROGRESS_SECONDS = 3
#: The digests a ``segment.progress`` record carries (format 1.5; 1.4 wrote
#: every digest of the segment): enough to identify the prefix.
PROGRESS_DIGESTS = ("blake3",)
#: Journal records a camera keeps in memory (the chain needs only the head;
#: a device journal grows for years).
JOURNAL_KEEP = 256

#: The most audio (media seconds) an MP4 recording holds after an unmute while it waits for the
#: keyframe that opens a segment with an audio track (docs/camera.md "Silent streams").
AUDIO_HOLD_SECONDS = 10


class RecorderState(str, enum.Enum):
    """Where the camera is: buffering, recording, asleep (nothing captured) or closed."""

    STANDBY = "standby"
    RECORDING = "recording"
    SLEEP = "sleep"
    CLOSED = "closed"
    #: The journal's writer thread failed (disk full, I/O error): nothing more can be
    #: journaled; every capture and control call raises :class:`JournalError`.
    FAILED = "failed"


class DeactivationReason(str, enum.Enum):
    """Why an officer stopped recording; journaled with every deactivation."""

    EVENT_COMPLETE = "event_complete"
    VICTIM_REQUEST = "victim_request"
    WITNESS_REQUEST = "witness_request"
    OCCUPANT_REQUEST = "occupant_request"
    SUPERVISOR_ORDER = "supervisor_order"
    TECHNICAL = "technical"
    OTHER = "other"


@dataclass(frozen=True)
class RecordingPolicy:
    """The recording settings in force; written into every ``recording.open``.

    ``pre_event_audio`` is off by default: Massachusetts is an all-party-consent
    state (G.L. c.272 s.99), and audio captured before the officer notifies
    people risks being a secret recording.
    """

    pre_event_seconds: int = 30
    pre_event_audio: bool = False
    segment_seconds: int = 10
    container: str = "mp4"
    pre_event_max_bytes: int = 64 * 2**20

    def __post_init__(self) -> None:
        if self.container not in CONTAINER_FORMATS:
            raise BwcValueError(f"unknown container {self.container!r}; expected one of {sorted(CONTAINER_FORMATS)}")
        for name in ("pre_event_seconds", "segment_seconds", "pre_event_max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BwcValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.segment_seconds == 0:
            raise BwcValueError("segment_seconds must be at least 1")

    def to_json(self) -> dict[str, Any]:
        """The policy as journaled (integers, booleans and strings only)."""
        d = asdict(self)
        d.pop("pre_event_max_bytes")
        return d


def _time_base_json(record: PacketRecord) -> list[int]:
    return [record.time_base.numerator, record.time_base.denominator]


def _frame_json(record: PacketRecord | None) -> dict[str, Any] | None:
    """Where in the media an event happened: the last packet pushed before it."""
    if record is None:
        return None
    return {
        "stream": record.stream,
        "pts": record.pts,
        "dts": record.dts,
        "time_base": _time_base_json(record),
        "keyframe": record.keyframe,
    }


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _file_part(text: str) -> str:
    cleaned = "".join(c if c in _SAFE else "_" for c in text).strip(".")
    return cleaned or "device"


@dataclass
class RecoveryReport:
    """What :meth:`Recorder.recover` found and did after a crash."""

    torn_tail: bool = False
    recording: str | None = None
    salvaged: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    #: Paths (under ``unattested/``) of what recovery moved aside: not evidence.
    unattested: list[str] = field(default_factory=list)
    records: list[int] = field(default_factory=list)  #: seqs appended by the recovery


class Recorder:
    """The camera: pre-event buffer + segmenter + signed journal behind one lock.

    ``streams`` describes the encoder's streams (codec configuration is copied
    from their templates into every segment). Packets go to :meth:`push` from
    the capture thread; the control methods may be called from another thread.
    An illegal transition raises :class:`StateError` and changes nothing.
    """

    def __init__(
        self,
        evidence_dir: str | os.PathLike[str],
        *,
        identity: Signer,
        cert: Certificate,
        streams: Sequence[StreamInfo],
        policy: RecordingPolicy | None = None,
        clock: Callable[[], int] | None = None,
        sync: SyncMode = "always",
        progress_seconds: int = PROGRESS_SECONDS,
        write_behind: bool = True,
        on_durable: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self.evidence_dir = Path(evidence_dir)
        if not isinstance(progress_seconds, int) or isinstance(progress_seconds, bool) or progress_seconds < 1:
            raise BwcValueError(f"progress_seconds must be a positive integer, got {progress_seconds!r}")
        self.progress_seconds = progress_seconds
        self.policy = policy or RecordingPolicy()
        self.streams = list(streams)
        if not self.streams:
            raise BwcValueError("a recorder needs the encoder's streams")
        check_streams(self.streams, self.policy.container)  # at power-on, not at the first activation
        self._clock = clock or time.time_ns
        self._lock = threading.RLock()
        if (self.evidence_dir / "journal.jsonl").exists():
            self.journal = Journal.open(self.evidence_dir, identity, clock=self._clock, sync=sync, keep=JOURNAL_KEEP)
            if self._open_recording(self.journal) is not None:
                self.journal.close()
                raise StateError(
                    f"{self.evidence_dir}: a recording was left open by a crash; run Recorder.recover first"
                )
        else:
            self.journal = Journal.create(
                self.evidence_dir, identity, cert, clock=self._clock, sync=sync, keep=JOURNAL_KEEP
            )
        if write_behind:
            # Capture-thread records are signed on the capture thread and written and
            # fsynced by the journal's writer thread (docs/camera.md "Crash recovery").
            self.journal.start_writer(on_durable=on_durable)
        #: ``segment.progress`` records left out because the journal writer was behind
        #: (storage stalled): a power cut then loses more, nothing else changes.
        self.progress_skipped = 0
        self._state = RecorderState.STANDBY
        self._buffer = self._new_buffer()
        self._segmenter: Segmenter | None = None
        self._recording: str | None = None
        self._segments = 0
        self._muted = False
        self._last: PacketRecord | None = None
        self._last_video: PacketRecord | None = None
        #: Packets not kept: camera asleep, standby without a pre-event buffer
        #: (``pre_event_seconds=0``), audio muted, or video delta frames
        #: at an activation before the first keyframe (a segment must start on one).
        self.dropped = {"sleep": 0, "standby": 0, "muted_audio": 0, "awaiting_keyframe": 0}
        self._awaiting_keyframe = False
        #: After an unmute while the MP4 segment being written has no audio
        #: track: audio is held until the next video keyframe, which opens a
        #: segment with one; the held audio then goes into that segment,
        #: before its first video pts (None: not waiting; False: waiting).
        self._audio_resume: Any = None
        self._held_audio: list[PacketRecord] = []
        self._audio = frozenset(s.index for s in self.streams if s.kind == "audio")
        with self._control():
            self._append("power.on", {"policy": self.policy.to_json()})

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> RecorderState:
        """The current state."""
        return self._state

    @property
    def recording_id(self) -> str | None:
        """The id of the recording in progress, if any."""
        return self._recording

    @property
    def muted(self) -> bool:
        """True while audio is being dropped."""
        return self._muted

    @property
    def buffer_stats(self) -> Any:
        """Statistics of the pre-event buffer (None when pre-event buffering is off)."""
        return None if self._buffer is None else self._buffer.stats

    def _require(self, *states: RecorderState, action: str) -> None:
        if self._state not in states:
            allowed = ", ".join(s.value for s in states)
            raise StateError(f"cannot {action} while {self._state.value} (allowed: {allowed})")

    def _new_buffer(self) -> PreEventBuffer | None:
        if self.policy.pre_event_seconds == 0:
            return None  # pre-event buffering off: standby keeps nothing
        return PreEventBuffer(
            max_seconds=float(self.policy.pre_event_seconds),
            max_bytes=self.policy.pre_event_max_bytes,
            keep_audio=self.policy.pre_event_audio,
        )

    def _drain(self) -> list[PacketRecord]:
        return [] if self._buffer is None else self._buffer.drain()

    def _append(self, rtype: str, body: dict[str, Any]) -> Any:
        """Chain, sign and queue a record (never waits for storage; see :meth:`_control`)."""
        try:
            record = self.journal.append(rtype, body, wait=False)
        except JournalError:
            if self.journal.error is not None:
                self._state = RecorderState.FAILED
            raise
        log.debug("journaled %s seq=%d", rtype, record.seq)
        return record

    def _check_journal(self) -> None:
        """Raise :class:`JournalError` (and enter FAILED) if the journal writer failed."""
        error = self.journal.error
        if error is not None:
            if self._state is not RecorderState.CLOSED:
                self._state = RecorderState.FAILED
            raise JournalError(f"{self.journal.path}: {error}")

    @contextmanager
    def _control(self) -> Iterator[None]:
        """A control call: its records are appended under the lock, then waited for *outside* it.

        The call returns only once everything it journaled is durable, while the
        capture thread keeps pushing (it never waits for a control call's fsync).
        """
        with self._lock:
            self._check_journal()
            yield
            seq = self.journal.seq
        try:
            self.journal.wait_durable(seq)
        except JournalError:
            with self._lock:
                if self._state is not RecorderState.CLOSED:
                    self._state = RecorderState.FAILED
            raise

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record journaled so far is on storage (False if *timeout* s passed first).

        Raises :class:`JournalError` if the journal's writer failed.
        """
        with self._lock:
            self._check_journal()
            seq = self.journal.seq
        try:
            return self.journal.wait_durable(seq, timeout)
        except JournalError:
            with self._lock:
                self._check_journal()
            raise

    # -- capture thread ----------------------------------------------------------------

    def push(self, packet: PacketRecord, /) -> None:
        """Hand one encoded packet to the camera (decode order per stream)."""
        with self._lock:
            state = self._state
            if state is RecorderState.CLOSED:
                raise StateError("recorder is closed")
            if self.journal.error is not None:  # the writer thread failed
                self._check_journal()
            if state is RecorderState.SLEEP:
                self.dropped["sleep"] += 1
                return
            if self._muted and packet.kind == "audio":
                self.dropped["muted_audio"] += 1
                return
            release = False
            if self._audio_resume is not None:
                if packet.kind == "audio":
                    self._hold_audio(packet)
                    self._last = packet
                    return
                if packet.kind == "video" and packet.keyframe and self._segmenter is not None:
                    self._segmenter.cut_at_next_keyframe()
                    release = True
            if state is RecorderState.STANDBY:
                if self._buffer is None:
                    self.dropped["standby"] += 1
                    return
                self._buffer.push(packet)
            else:
                assert self._segmenter is not None
                if self._awaiting_keyframe and packet.kind == "video":
                    if not packet.keyframe:
                        self.dropped["awaiting_keyframe"] += 1
                        return
                    self._awaiting_keyframe = False
                self._to_segmenter(packet)
                if release:
                    self._release_audio()
            self._last = packet
            if packet.kind == "video":
                self._last_video = packet

    def _to_segmenter(self, packet: PacketRecord) -> None:
        assert self._segmenter is not None
        info = self._segmenter.push(packet)
        if self._segmenter.progress:
            self._journal_progress()
        if info is not None:
            self._journal_segment(info)

    def _hold_audio(self, packet: PacketRecord) -> None:
        """Keep audio after an unmute for the segment the next keyframe opens (at most
        :data:`AUDIO_HOLD_SECONDS` of it: a stalled video stream drops the oldest)."""
        held = self._held_audio
        held.append(packet)
        while held[-1].pts_seconds - held[0].pts_seconds > AUDIO_HOLD_SECONDS:
            held.pop(0)
            self.dropped["muted_audio"] += 1

    def _release_audio(self) -> None:
        """The keyframe after an unmute opened a segment with an audio track: the held audio goes
        into it (pts before its first video pts: such packets join chunk 0, format 1.5)."""
        held, self._held_audio = self._held_audio, []
        self._audio_resume = None
        for packet in held:
            self._to_segmenter(packet)

    def _drop_held_audio(self) -> None:
        self.dropped["muted_audio"] += len(self._held_audio)
        self._held_audio = []
        self._audio_resume = None

    def flush_progress(self, timeout: float | None = None) -> None:
        """Journal every prefix attestation still being digested (waiting up to *timeout* s).

        push() journals them as they become ready; a control thread may call
        this between pushes (e.g. when capture pauses), so nothing written
        stays unattested for longer than digesting it takes.
        """
        with self._control():
            if self._segmenter is not None:
                self._segmenter.wait_progress(timeout)
                self._journal_progress(skip=False)

    # -- officer controls --------------------------------------------------------------

    def activate(self, *, trigger: str = "button", officer: str | None = None) -> str:
        """Start a recording: journal ``recording.open``, drain the pre-event buffer into it.

        Returns the recording id.
        """
        with self._control():
            self._require(RecorderState.STANDBY, action="activate")
            rid = f"{_file_part(self.journal.device or 'device')}-{self.journal.seq + 1:06d}"
            held = self._drain()
            segmenter = Segmenter(
                self.evidence_dir / MEDIA_DIR / rid,
                streams=self.streams,
                target_seconds=self.policy.segment_seconds,
                container=self.policy.container,
                name=rid,
                pre_event=True,
                progress_seconds=self.progress_seconds,
            )
            self._append(
                "recording.open",
                {
                    "recording": rid,
                    "trigger": str(trigger),
                    "officer": None if officer is None else str(officer),
                    "policy": self.policy.to_json(),
                    "pre_event": {
                        "packets": len(held),
                        "first": _frame_json(held[0]) if held else None,
                    },
                },
            )
            if self._muted:
                segmenter.silent = self._audio
            self._recording, self._segmenter, self._segments = rid, segmenter, 0
            self._state = RecorderState.RECORDING
            for record in held:
                info = segmenter.push(record)
                if segmenter.progress:
                    self._journal_progress()
                if info is not None:
                    self._journal_segment(info)
            segmenter.mark_live()
            # An empty buffer (just woken, or pre-event off): live video starts
            # at the next keyframe.
            self._awaiting_keyframe = not any(r.kind == "video" for r in held)
            return rid

    def notify(self) -> None:
        """Journal that the officer told the people present they are being recorded."""
        with self._control():
            self._event("notice", RecorderState.RECORDING)

    def mark(self, label: str) -> None:
        """Journal a marker (an officer's bookmark) at the current media time."""
        with self._control():
            self._event("marker", RecorderState.RECORDING, label=str(label))

    def mute(self) -> None:
        """Drop audio until :meth:`unmute`; journaled."""
        with self._control():
            if self._muted:
                raise StateError("already muted")
            self._event("mute", RecorderState.STANDBY, RecorderState.RECORDING)
            self._muted = True
            self._drop_held_audio()  # the segment being written has no audio track for it
            if self._segmenter is not None:
                self._segmenter.silent = self._audio
                if self._segmenter.container == "mp4" and self._audio:
                    # MP4 holds video back while a track is silent: the next
                    # keyframe opens a segment without audio (see Segmenter).
                    self._segmenter.cut_at_next_keyframe()

    def unmute(self) -> None:
        """Keep audio again; journaled."""
        with self._control():
            if not self._muted:
                raise StateError("not muted")
            self._event("unmute", RecorderState.STANDBY, RecorderState.RECORDING)
            self._muted = False
            if self._segmenter is not None:
                self._segmenter.silent = frozenset()
                if not all(self._segmenter.carries(s) for s in self._audio):
                    self._audio_resume = False

    def deactivate(self, reason: DeactivationReason | str, note: str | None = None) -> list[SegmentInfo]:
        """Stop recording, documenting why; returns the segments finished by the stop.

        A deactivation without a reason is refused; ``other`` needs a note.
        The event records the reason, the time and the last frame before it;
        then the last segment is finished and ``recording.close`` journaled.
        Returns once the deactivation and everything before it is on storage.
        """
        with self._control():
            self._require(RecorderState.RECORDING, action="deactivate")
            if reason is None or reason == "":
                raise PolicyError("a deactivation needs a reason (DeactivationReason)")
            try:
                reason = DeactivationReason(reason)
            except ValueError:
                raise PolicyError(
                    f"unknown deactivation reason {reason!r}; expected one of "
                    f"{[r.value for r in DeactivationReason]}"
                ) from None
            if reason is DeactivationReason.OTHER and not (note and note.strip()):
                raise PolicyError("deactivation reason 'other' needs a note")
            self._event("deactivate", RecorderState.RECORDING, reason=reason.value, note=note)
            return self._finish_recording(reason.value)

    def sleep(self) -> None:
        """Stop capture and buffering entirely (the buffer is emptied); journaled."""
        with self._control():
            if self._state is RecorderState.RECORDING:
                raise StateError("cannot sleep while recording: deactivate first, with a reason")
            self._require(RecorderState.STANDBY, action="sleep")
            stats = self.buffer_stats
            self._event("sleep", RecorderState.STANDBY, discarded=0 if stats is None else stats.packets)
            self._drain()
            self._state = RecorderState.SLEEP

    def wake(self) -> None:
        """Leave sleep; buffering starts again; journaled."""
        with self._control():
            self._require(RecorderState.SLEEP, action="wake")
            self._event("wake", RecorderState.SLEEP)
            self._state = RecorderState.STANDBY

    def clock_sync(self, source: str, offset_ns: int) -> None:
        """Journal a wall-clock correction (``clock.sync``): ``offset_ns`` = correct minus device.

        Call it when the device clock was set from ``source`` (``dock``, ``ntp``,
        ...). A clock stepped *back* never dates a record before the previous
        one: the journal keeps each record's time at least the previous
        record's until the clock catches up (format 2.5), so the verifier's
        ``journal.time_backwards`` never fires on a camera's own journal.
        """
        if type(offset_ns) is not int:
            raise BwcValueError("offset_ns must be an integer (nanoseconds)")
        with self._control():
            if self._state is RecorderState.CLOSED:
                raise StateError("recorder is closed")
            self._append("clock.sync", {"source": str(source), "offset_ns": offset_ns})

    def close(self) -> None:
        """Power off: journal ``power.off``, wait for the journal's writer and close the journal.

        Not while recording. After a journal writer failure (state FAILED) it
        releases everything it can (a segment being written is closed on
        storage as it is, for :meth:`recover`) and raises :class:`JournalError`.
        """
        with self._lock:
            if self._state is RecorderState.CLOSED:
                return
            if self._state is RecorderState.RECORDING and self.journal.error is None:
                raise StateError("cannot close while recording: deactivate first, with a reason")
            if self.journal.error is None:
                self._append("power.off", {"dropped": dict(self.dropped)})
            elif self._segmenter is not None:
                try:
                    self._segmenter.close()  # its files stay on storage; recover() attests what it can
                except Exception:  # noqa: BLE001 - the journal error below is the one to report
                    log.exception("closing the segmenter after a journal failure")
                self._segmenter = None
            self._drain()
            self._state = RecorderState.CLOSED
        self.journal.close()  # waits for the writer outside the lock; raises if it failed

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state is not RecorderState.RECORDING:
            self.close()

    # -- internals -------------------------------------------------------------------------

    def _event(self, kind: str, *states: RecorderState, **extra: Any) -> None:
        with self._lock:  # callers hold it already (_control): the record is waited for there
            self._require(*states, action=kind)
            body: dict[str, Any] = {
                "kind": kind,
                "recording": self._recording,
                "media": _frame_json(self._last),
                "last_frame": _frame_json(self._last_video),
            }
            body.update(extra)
            self._append("event", body)

    def _journal_progress(self, skip: bool = True) -> None:
        """Journal the prefixes the segmenter has written since the last push (``segment.progress``).

        While the journal writer is behind (storage stalled) the capture thread
        does not wait and does not grow the queue with optional records: a
        prefix attestation is left out (counted in :attr:`progress_skipped`,
        logged); the next one, of a longer prefix, supersedes it for recovery.
        """
        assert self._segmenter is not None
        queue = self._segmenter.progress
        while queue:
            progress = queue.popleft()
            if skip and self.journal.backlogged:
                self.progress_skipped += 1
                log.warning("journal writer behind (%d records, %d bytes queued): prefix attestation of %s "
                            "at %d bytes left out", *self.journal.backlog, progress.path, progress.size)
                continue
            self._append("segment.progress", progress_body(self.evidence_dir, self._recording, progress))

    def _journal_segment(self, info: SegmentInfo, *, recovered: bool = False) -> None:
        body = segment_body(self.evidence_dir, self._recording, info, recovered=recovered)
        self._append("segment", body)
        self._segments += 1

    def _finish_recording(self, reason: str) -> list[SegmentInfo]:
        assert self._segmenter is not None
        infos = self._segmenter.close()
        for info in infos:
            self._journal_segment(info)
        self._append(
            "recording.close",
            {"recording": self._recording, "reason": reason, "segments": self._segments},
        )
        self._segmenter, self._recording = None, None
        self._drop_held_audio()
        self._state = RecorderState.STANDBY
        return infos

    @staticmethod
    def _open_recording(journal: Journal) -> str | None:
        open_ = None
        for record in journal.records:
            if record.type == "recording.open":
                open_ = record.body["recording"]
            elif record.type in ("recording.close",):
                open_ = None
        return open_

    # -- crash recovery --------------------------------------------------------------------

    @classmethod
    def recover(
        cls,
        evidence_dir: str | os.PathLike[str],
        *,
        identity: Signer,
        cert: Certificate | None = None,
        clock: Callable[[], int] | None = None,
    ) -> RecoveryReport:
        """Bring an evidence directory back to a closed, verifiable state after a crash.

        Every record written before the crash is kept (a torn last line is cut
        off and reported). Recovery never signs as evidence what the camera
        did not attest while capturing: a segment file of the open recording
        that was never journaled is salvaged only up to the longest prefix a
        ``segment.progress`` record attests whose bytes still match, and is
        journaled as a ``recovered`` segment of exactly that prefix. What no
        attestation covers (bytes past that prefix, files with no matching
        attestation, links, stray sidecars) is moved, never deleted, under
        ``unattested/`` and listed by path in the ``recovery`` record. A
        file the camera attested of which nothing is left is reported lost.
        The recording is closed with reason ``power_loss``. Links are never
        followed.
        """
        evidence = Path(evidence_dir)
        journal = Journal.open(evidence, identity, clock=clock)
        report = RecoveryReport(torn_tail=journal.torn_tail is not None)
        try:
            rid = cls._open_recording(journal)
            report.recording = rid
            if rid is None:
                return report
            segments = [r.body for r in journal.records if r.type == "segment" and r.body.get("recording") == rid]
            journaled = {body.get("file") for body in segments}
            journaled |= {body["leaves"].get("file") for body in segments if isinstance(body.get("leaves"), dict)}
            attested: dict[str, list[tuple[int, dict[str, str], int]]] = {}
            for r in journal.records:
                if r.type == "segment.progress" and r.body.get("recording") == rid:
                    attested.setdefault(r.body["file"], []).append((r.body["size"], r.body["digests"], r.seq))
            opened = next(r.body for r in reversed(journal.records) if r.type == "recording.open")
            had_pre_event = bool(opened.get("pre_event", {}).get("packets"))
            count = len(segments)
            salvaged_records = []
            aside = _Aside(evidence, rid)
            made: set[Path] = set()  # sidecars salvage wrote
            for path in _leftovers(evidence, rid, journaled):
                if path in made or not _lexists(path):
                    continue  # a sidecar already moved with its segment file, or just written
                rel = path.relative_to(evidence).as_posix()
                index = _segment_index(path)
                is_segment = path.suffix.lstrip(".") in CONTAINER_FORMATS and index >= 0
                prefix = _attested_prefix(path, attested.get(rel, [])) if is_segment else None
                sidecar = Path(str(path) + ".leaves")
                if prefix is None:
                    report.unattested.append(aside.move(path))
                    if is_segment and _lexists(sidecar):
                        report.unattested.append(aside.move(sidecar))
                    continue
                size, digests, seq = prefix
                if _lexists(sidecar):
                    report.unattested.append(aside.move(sidecar))
                copied = path.lstat().st_size != size
                if copied:
                    # Keep the file as found beside the evidence; the evidence is
                    # a copy of exactly the attested prefix.
                    moved = aside.move(path)
                    report.unattested.append(moved)
                    _copy_prefix(evidence / moved, path, size)
                info = salvage(path, index=index, pre_event=had_pre_event and index == 0)
                if info is None or info.size != size or any(info.digests.get(k) != v for k, v in digests.items()):
                    # An attested prefix without one complete packet (a header
                    # only): nothing to salvage. Our copy goes; the file as
                    # found is already aside.
                    for left in (sidecar, path) if info is not None else (path,):
                        if copied or left is sidecar:
                            left.unlink()
                        else:
                            report.unattested.append(aside.move(left))
                    continue
                made.add(sidecar)
                body = segment_body(evidence, rid, info, recovered=True)
                body["progress"] = seq
                # The prefix copy, its sidecar (fsynced by salvage) and the moves
                # reach storage before the record that names them.
                aside.sync()
                _sync_dir(evidence / MEDIA_DIR / rid)
                salvaged_records.append(journal.append("segment", body))
                report.salvaged.append(rel)
                count += 1
            # Files the camera attested of which nothing could be salvaged.
            report.lost = sorted(rel for rel in attested if rel not in journaled and rel not in report.salvaged)
            aside.sync()
            _sync_dir(evidence / MEDIA_DIR / rid)
            rec = journal.append(
                "recovery",
                {"recording": rid, "reason": "power_loss", "salvaged": report.salvaged, "lost": report.lost,
                 "unattested": report.unattested},
            )
            close = journal.append("recording.close", {"recording": rid, "reason": "power_loss", "segments": count})
            report.records = [r.seq for r in salvaged_records] + [rec.seq, close.seq]
            return report
        finally:
            journal.close()


def progress_body(evidence_dir: Path, recording: str | None, progress: SegmentProgress) -> dict[str, Any]:
    """The journaled body of a ``segment.progress`` record (format 1.5: BLAKE3 only).

    A progress record only has to identify a prefix: the recovered segment's
    ``segment`` record signs every digest of it, and the verifier matches the
    two by size and each digest the progress record carries.
    """
    digests = {k: v for k, v in progress.digests.items() if k in PROGRESS_DIGESTS} or dict(progress.digests)
    return {
        "recording": recording,
        "index": progress.index,
        "file": Path(progress.path).relative_to(evidence_dir).as_posix(),
        "size": progress.size,
        "digests": digests,
    }


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _lexists(path: Path) -> bool:
    try:
        path.lstat()
        return True
    except FileNotFoundError:
        return False


def _real_dir(path: Path) -> bool:
    """True if *path* is a directory itself, not a link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _leftovers(evidence: Path, recording: str, journaled: set[Any]) -> list[Path]:
    """Entries of the recording's media directory no ``segment`` record names (files, links, anything)."""
    media, directory = evidence / MEDIA_DIR, evidence / MEDIA_DIR / recording
    if not _real_dir(media) or not _real_dir(directory):
        return []
    return [path for path in sorted(directory.iterdir())
            if path.relative_to(evidence).as_posix() not in journaled]


def _attested_prefix(
    path: Path, attested: list[tuple[int, dict[str, str], int]]
) -> tuple[int, dict[str, str], int] | None:
    """The longest attested prefix ``(size, digests, seq)`` of *path* whose bytes still match, or None.

    The file is opened without following a link and must be a regular file;
    it is read once, front to back, comparing the digests at each attested size.
    """
    from bwc_core.format.content import FileDigester

    if not attested:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None  # a link (ELOOP), gone, unreadable
    best = None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        wanted = sorted(attested, key=lambda a: a[0])
        algorithms = sorted({name for _, digests, _ in wanted for name in digests})
        try:
            digester = FileDigester(algorithms)
        except BwcValueError:
            return None
        done = 0
        for size, digests, seq in wanted:
            while done < size:
                chunk = os.read(fd, min(size - done, 1 << 20))
                if not chunk:
                    return best
                digester.update(chunk)
                done += len(chunk)
            found = digester.hexdigests()
            if all(found.get(k) == v for k, v in digests.items()):
                best = (size, dict(digests), seq)
        return best
    finally:
        os.close(fd)


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    """Create *target* with the first *size* bytes of *source* (no link followed either side), fsynced.

    Written under a temporary name and renamed, so a crash during recovery
    never leaves a partial copy under the segment's name.
    """
    n = 0
    while True:
        partial = target.with_name(f"{target.name}.partial{n or ''}")
        try:
            _copy_bytes(source, partial, size)
            break
        except FileExistsError:  # left by an earlier interrupted recovery (set aside later)
            n += 1
    os.rename(partial, target)


def _copy_bytes(source: Path, target: Path, size: int) -> None:
    src = os.open(source, os.O_RDONLY | _NOFOLLOW)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        try:
            left = size
            while left:
                chunk = os.read(src, min(left, 1 << 20))
                if not chunk:
                    raise StateError(f"{source}: shorter than its attested prefix while copying")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
                left -= len(chunk)
            os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


class _Aside:
    """Moves what no attestation covers under ``unattested/`` (renamed, never copied or followed)."""

    def __init__(self, evidence: Path, recording: str) -> None:
        self.evidence = evidence
        self.recording = recording
        self.dirs: list[Path] = []
        self._target: Path | None = None

    def _dir(self) -> Path:
        if self._target is None:
            # A planted link (or file) named unattested must not redirect the move.
            n = 0
            while True:
                top = self.evidence / (UNATTESTED_DIR if n == 0 else f"{UNATTESTED_DIR}-{n}")
                if not _lexists(top):
                    os.mkdir(top)
                if _real_dir(top):
                    break
                n += 1
            target = top / MEDIA_DIR
            if not _lexists(target):
                os.mkdir(target)
            target = target / self.recording
            if not _lexists(target):
                os.mkdir(target)
            if not (_real_dir(top / MEDIA_DIR) and _real_dir(target)):
                raise StateError(f"{target}: not a directory; move it away and run recovery again")
            self.dirs = [self.evidence, top, top / MEDIA_DIR, target]
            self._target = target
        return self._target

    def move(self, path: Path) -> str:
        """Rename *path* (a link is moved, not followed) into the unattested tree; returns its new relative path."""
        target = self._dir() / path.name
        n = 0
        while _lexists(target):
            n += 1
            target = self._dir() / f"{path.name}.{n}"
        os.rename(path, target)
        return target.relative_to(self.evidence).as_posix()

    def sync(self) -> None:
        for d in self.dirs:
            _sync_dir(d)


def unjournaled_segments(evidence: Path, recording: str, journaled: set[Any]) -> list[Path]:
    """Segment files of *recording* under media/ that no ``segment`` record names (*journaled*)."""
    directory = evidence / MEDIA_DIR / recording
    if not directory.is_dir():
        return []
    return [path for path in sorted(directory.iterdir())
            if path.suffix.lstrip(".") in CONTAINER_FORMATS and not path.is_symlink() and path.is_file()
            and path.relative_to(evidence).as_posix() not in journaled]


def lost_file_entry(evidence: Path, path: Path) -> dict[str, Any]:
    """A ``lost_files`` entry: a segment file kept as found, never journaled as a segment.

    Its size and digests (and those of a sidecar left beside it) go into the
    signed record that reports it, so the verifier can tell it was not
    replaced later (format: ``recovery``, ``recording.close``).
    """
    def kept(found: Path) -> dict[str, Any]:
        return {"file": found.relative_to(evidence).as_posix(), "size": found.stat().st_size,
                "digests": file_digests(found)}

    index = _segment_index(path)
    entry = {**kept(path), "index": index if index >= 0 else None, "leaves": None}
    leaves = Path(str(path) + ".leaves")
    if leaves.is_file() and not leaves.is_symlink():
        entry["leaves"] = kept(leaves)
    return entry


def _segment_index(path: Path) -> int:
    """The index a Segmenter wrote into a file name ``NAME-00012.mp4``."""
    stem = path.stem
    digits = stem.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else -1


def segment_body(
    evidence_dir: Path, recording: str | None, info: SegmentInfo, *, recovered: bool = False
) -> dict[str, Any]:
    """The journaled body of a finished segment (paths relative to the evidence dir)."""
    body = info.to_json()
    media = Path(info.path)
    leaves = Path(info.leaves_path)
    body["recording"] = recording
    body["file"] = media.relative_to(evidence_dir).as_posix()
    body["leaves"] = {
        "file": leaves.relative_to(evidence_dir).as_posix(),
        "size": leaves.stat().st_size,
        "digests": file_digests(leaves),
    }
    body["recovered"] = recovered
    return body

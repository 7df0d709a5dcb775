"""The fields of each journal record type, checked exactly as ``docs/format.md`` 2.5 lists them.

Every record body is a JSON object with the common fields (``type``, ``seq``,
``prev``, ``device``, ``time``; checked by the journal) plus the fields of its
type below. A field marked optional may be absent; every other field is
required, and a field not listed (at any depth) is refused, so a verifier
never has to guess what an unknown field means. :func:`check_fields` raises
``ValueError`` naming the first offending field; the journal reports it as
``journal.malformed_record``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bwc_core import errors

__all__ = [
    "COMMON_FIELDS",
    "DEACTIVATION_REASONS",
    "EVENT_KINDS",
    "RECORD_FIELDS",
    "check_fields",
]

Check = Callable[[Any], None]

_HEX = re.compile(r"[0-9a-f]+\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class _Invalid(Exception):
    """A field breaks its rule; ``path`` is filled in on the way out (no cost when valid)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []


def _string(value: Any) -> None:
    if type(value) is not str:
        raise _Invalid("must be a string")


def _integer(value: Any) -> None:
    if type(value) is not int:  # a boolean is not an integer
        raise _Invalid("must be an integer")


def _natural(value: Any) -> None:
    if type(value) is not int or value < 0:
        raise _Invalid("must be a non-negative integer")


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise _Invalid("must be true or false")


def _hex64(value: Any) -> None:
    if type(value) is not str or not _HEX64.match(value):
        raise _Invalid("must be 64 lowercase hex digits")


def _fraction(value: Any) -> None:
    """``[num, den]``: two integers, den > 0."""
    if (type(value) is not list or len(value) != 2 or type(value[0]) is not int
            or type(value[1]) is not int or value[1] <= 0):
        raise _Invalid("must be [numerator, denominator] integers with denominator > 0")


def _null_or(check: Check) -> Check:
    def run(value: Any) -> None:
        if value is not None:
            check(value)
    return run


def _one_of(*values: str) -> Check:
    allowed = frozenset(values)

    def run(value: Any) -> None:
        if type(value) is not str or value not in allowed:
            raise _Invalid(f"must be one of {', '.join(sorted(allowed))}")
    return run


def _list_of(check: Check) -> Check:
    def run(value: Any) -> None:
        if type(value) is not list:
            raise _Invalid("must be a list")
        i = 0
        try:
            for i, item in enumerate(value):  # noqa: B007 - i names the failing item below
                check(item)
        except _Invalid as exc:
            exc.path.append(f"[{i}]")
            raise
    return run


def _object(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """A JSON object with exactly the ``required`` fields plus any of ``optional``."""
    optional = dict(optional or {})
    need = frozenset(required)
    known = need | frozenset(optional)
    checks = [(name, check) for name, check in required.items() if check is not _any]
    maybe = list(optional.items())

    def run(value: Any) -> None:
        if type(value) is not dict:
            raise _Invalid("must be an object")
        keys = value.keys()
        if not need <= keys:
            raise _Invalid(f"missing field(s) {', '.join(sorted(need - keys))}")
        if not keys <= known:
            raise _Invalid(f"unknown field(s) {', '.join(sorted(keys - known))}")
        name = ""
        try:
            for name, check in checks:
                check(value[name])
            for name, check in maybe:
                if name in value:
                    check(value[name])
        except _Invalid as exc:
            exc.path.append("." + name)
            raise
    return run


def _any(value: Any) -> None:
    """Checked elsewhere (the common fields: the journal)."""


def _digests(value: Any) -> None:
    """``{name: lowercase hex}``, at least one entry (bwc-core writes ``blake3`` and ``sha256``)."""
    if type(value) is not dict or not value:
        raise _Invalid("must be a non-empty object of digests")
    for name, digest in value.items():
        if type(digest) is not str or not _HEX.match(digest):
            exc = _Invalid("must be lowercase hex")
            exc.path.append("." + str(name))
            raise exc


def _envelope(value: Any) -> None:
    """A certificate envelope (its own fields are checked where it is parsed, 2.2 / 2.6)."""
    if type(value) is not dict:
        raise _Invalid("must be an envelope object")


#: The fields every record body carries (their rules are the journal's, 2.5).
COMMON_FIELDS = ("type", "seq", "prev", "device", "time")
_COMMON: dict[str, Check] = {name: _any for name in COMMON_FIELDS}

#: Event kinds and deactivation reasons (the recorder's DeactivationReason).
EVENT_KINDS = ("notice", "mute", "unmute", "marker", "deactivate", "sleep", "wake")
DEACTIVATION_REASONS = ("event_complete", "victim_request", "witness_request", "occupant_request",
                        "supervisor_order", "technical", "other")
_CLOSE_REASONS = DEACTIVATION_REASONS + ("power_loss", "import_complete", "import_failed")

_FRAME = _object({"stream": _natural, "pts": _integer, "dts": _integer, "time_base": _fraction,
                  "keyframe": _boolean})
_POLICY = _object({"pre_event_seconds": _natural, "pre_event_audio": _boolean,
                   "segment_seconds": _natural, "container": _string})
_FILE_REF = _object({"file": _string, "size": _natural, "digests": _digests})
_LOST_FILE = _object({"file": _string, "index": _null_or(_natural), "size": _natural,
                      "digests": _digests, "leaves": _null_or(_FILE_REF)})
_CHUNK = _object({"index": _natural, "start": _fraction, "duration": _fraction,
                  "payload_root": _hex64, "timing_hash": _hex64, "root": _hex64,
                  "first_packet": _natural, "packet_count": _natural})
def _int_list(length: int, check: Check) -> Check:
    def run(value: Any) -> None:
        if type(value) is not list or len(value) != length:
            raise _Invalid(f"must be a list of {length} integers")
        for item in value:
            check(item)
    return run


def _hex_map(value: Any) -> None:
    """``{name: lowercase hex}`` (possibly empty): a presentation's ``side_data``."""
    if type(value) is not dict:
        raise _Invalid("must be an object")
    for name, data in value.items():
        if type(data) is not str or (data and not _HEX.match(data)):
            exc = _Invalid("must be lowercase hex")
            exc.path.append("." + str(name))
            raise exc


#: A stream's presentation metadata (format 1.15): ``discarded`` for every kind, the rest for video.
_PRESENTATION = _object({"discarded": _natural},
                        {"display_matrix": _int_list(9, _integer), "sar": _fraction,
                         "color": _object({"primaries": _natural, "transfer": _natural, "matrix": _natural,
                                           "range": _natural}),
                         "side_data": _hex_map, "size": _int_list(2, _natural)})
_STREAM = _object({"index": _natural, "kind": _one_of("video", "audio", "data"), "codec": _string,
                   "time_base": _fraction},
                  {"width": _natural, "height": _natural, "sample_rate": _natural, "channels": _natural,
                   "presentation": _PRESENTATION})
_SPAN = _object({"stream": _natural, "time_base": _fraction, "first_pts": _integer, "last_pts": _integer,
                 "end_pts": _integer, "first_dts": _integer, "last_dts": _integer, "packets": _natural})
_STRINGS = _list_of(_string)

_EVENT_COMMON = {**_COMMON, "kind": _one_of(*EVENT_KINDS), "recording": _null_or(_string),
                 "media": _null_or(_FRAME), "last_frame": _null_or(_FRAME)}
#: event kind -> the fields that kind adds (required).
_EVENT_EXTRA: dict[str, dict[str, Check]] = {
    "notice": {}, "mute": {}, "unmute": {}, "wake": {},
    "marker": {"label": _string},
    "sleep": {"discarded": _natural},
    "deactivate": {"reason": _one_of(*DEACTIVATION_REASONS), "note": _null_or(_string)},
}
_EVENTS = {kind: _object({**_EVENT_COMMON, **extra}) for kind, extra in _EVENT_EXTRA.items()}


def _event(body: Any) -> None:
    kind = body.get("kind")
    if type(kind) is not str or kind not in _EVENTS:
        exc = _Invalid(f"must be one of {', '.join(EVENT_KINDS)}")
        exc.path.append(".kind")
        raise exc
    _EVENTS[kind](body)
    if kind == "deactivate" and body["reason"] == "other" and not (body["note"] or "").strip():
        exc = _Invalid("a deactivation for reason 'other' needs a non-empty note")
        exc.path.append(".note")
        raise exc


_CLOSE = _object({**_COMMON, "recording": _string, "segments": _natural, "reason": _one_of(*_CLOSE_REASONS)})
_CLOSE_FAILED = _object({**_COMMON, "recording": _string, "segments": _natural,
                         "reason": _one_of(*_CLOSE_REASONS), "lost": _list_of(_string),
                         "lost_files": _list_of(_LOST_FILE)})


def _close(body: Any) -> None:
    (_CLOSE_FAILED if body.get("reason") == "import_failed" else _CLOSE)(body)


_RECOVERY_BASE = {**_COMMON, "recording": _string, "reason": _one_of("power_loss"),
                  "salvaged": _STRINGS, "lost": _STRINGS}
_RECOVERY = _object({**_RECOVERY_BASE, "unattested": _STRINGS})  # format 1.4
_RECOVERY_BEFORE_1_4 = _object({**_RECOVERY_BASE, "lost_files": _list_of(_LOST_FILE)})


def _recovery(body: Any) -> None:
    (_RECOVERY_BEFORE_1_4 if "lost_files" in body else _RECOVERY)(body)


#: record type -> check of the whole body (common fields included, not re-checked here).
RECORD_FIELDS: dict[str, Check] = {
    "device.genesis": _object({**_COMMON, "certificate": _envelope}),
    "power.on": _object({**_COMMON, "policy": _POLICY}),
    "power.off": _object({**_COMMON, "dropped": _object(
        {"sleep": _natural, "standby": _natural, "muted_audio": _natural, "awaiting_keyframe": _natural})}),
    "recording.open": _object(
        {**_COMMON, "recording": _string, "trigger": _string, "officer": _null_or(_string),
         "policy": _POLICY, "pre_event": _object({"packets": _natural, "first": _null_or(_FRAME)})},
        {"source": _object({"name": _string})}),
    "segment": _object({
        **_COMMON, "recording": _string, "index": _natural, "file": _string, "container": _string,
        "size": _natural, "digests": _digests, "content_root": _hex64, "leaves": _FILE_REF,
        "streams": _list_of(_STREAM), "spans": _list_of(_SPAN),
        "cut": _fraction, "start": _fraction, "end": _fraction, "packet_count": _natural,
        "pre_event": _boolean, "recovered": _boolean},
        # progress: recovered segments, the seq of the segment.progress it is a prefix of.
        # chunks: records before format 1.5 only; since 1.5 the chunk table is
        # derived from the signed sidecar (content.segment_chunks).
        {"progress": _natural, "chunks": _list_of(_CHUNK)}),
    "segment.progress": _object({**_COMMON, "recording": _string, "index": _natural, "file": _string,
                                 "size": _natural, "digests": _digests}),
    "event": _event,
    "recording.close": _close,
    "recovery": _recovery,
    "key.rotate": _object({**_COMMON, "certificate": _envelope}),
    "clock.sync": _object({**_COMMON, "source": _string, "offset_ns": _integer}),
}


def check_fields(body: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``body`` has exactly the fields of its record type (2.5).

    ``body`` has passed the journal's common-field checks (its ``type`` is known).
    """
    rtype = body["type"]
    check = RECORD_FIELDS.get(rtype)
    if check is None:
        raise errors.BwcValueError(f"record type {rtype!r} has no field table")
    try:
        check(body)
    except _Invalid as exc:
        where = rtype + "".join(reversed(exc.path))
        raise errors.BwcValueError(f"{where}: {exc.what}") from None

"""The typed error hierarchy of bwc-core.

Every exception the library raises on purpose derives from :class:`BwcError`.
Where a caller would naturally catch a builtin (``ValueError`` for a bad
argument, ``OSError`` for an unreadable file) the subclass inherits that
builtin too, as PyNaCl does. Verification problems are *findings*, not
exceptions: these errors are for misuse and unreadable input.
"""

from __future__ import annotations

import builtins

__all__ = [
    "BwcError",
    "PreEventBufferError",
    "BufferFullError",
    "ClockError",
    "ContainerError",
    "CorruptMediaError",
    "CryptoError",
    "ExhibitError",
    "JournalError",
    "KeyFileError",
    "MediaError",
    "PacketError",
    "PacketOrderError",
    "PolicyError",
    "SignatureError",
    "StateError",
    "TrustError",
    "UnsupportedCodecError",
    "UnsafePathError",
    "LeavesError",
    "BwcValueError",
    "BwcTypeError",
    "CanonicalJSONError",
    "EnvelopeError",
    "CertificateError",
]


class BwcError(Exception):
    """Base class of every error bwc-core raises on purpose."""


class BwcValueError(builtins.ValueError, BwcError):
    """A bad argument value."""


class BwcTypeError(builtins.TypeError, BwcError):
    """An argument of the wrong type (for example a strided buffer)."""


# --- packets and buffer -------------------------------------------------------


class PacketError(BwcValueError):
    """A packet record is malformed (missing pts, unknown kind, bad payload)."""


class PacketOrderError(PacketError):
    """Decode timestamps went backwards within a stream."""


class PreEventBufferError(BwcError):
    """Base class of pre-event buffer errors."""


class BufferFullError(PreEventBufferError, BwcValueError):
    """A single payload cannot fit in the buffer at all."""


# --- media ---------------------------------------------------------------------


class MediaError(OSError, BwcError):
    """A media file could not be read or written."""


class CorruptMediaError(MediaError):
    """A media file is truncated, garbled, or not media at all."""


class UnsupportedCodecError(MediaError):
    """The stream uses a codec bwc-core does not frame."""


class UnsupportedStreamError(UnsupportedCodecError):
    """A stream of a kind a segment does not carry (subtitle, timecode, data): refused before
    anything is written; the message names the stream and how to leave it out."""


class ContainerError(MediaError):
    """The container muxer or demuxer failed."""


class LeavesError(CorruptMediaError):
    """A ``.leaves`` sidecar is foreign, truncated or internally inconsistent."""


# --- trust ----------------------------------------------------------------------


class CryptoError(BwcError):
    """Base class of key and signature errors."""


class KeyFileError(OSError, CryptoError):
    """A key file is unreadable, truncated, foreign, or the passphrase is wrong."""


class SignatureError(CryptoError, BwcValueError):
    """A signature does not verify."""


class TrustError(CryptoError, BwcValueError):
    """A certificate is untrusted, expired, revoked or of the wrong role."""


class JournalError(OSError, BwcError):
    """The journal is unreadable or its chain is broken."""


class ClockError(BwcValueError):
    """A clock reading is unusable (not timezone-aware, goes backwards)."""


# --- workflows --------------------------------------------------------------------


class StateError(RuntimeError, BwcError):
    """An operation is not allowed in the recorder's current state."""


class PolicyError(BwcValueError):
    """An action violates recording policy (e.g. deactivation without a reason)."""


class ExhibitError(OSError, BwcError):
    """An exhibit cannot be built or read."""


class UnsafePathError(ExhibitError, BwcValueError):
    """A path escapes its directory, is absolute, is a link, or is oversized."""


# --- trust: canonical JSON, envelopes, certificates --------------------------------


class CanonicalJSONError(BwcValueError):
    """A value cannot be written as canonical JSON, or bytes are not canonical JSON."""


class EnvelopeError(CryptoError, BwcValueError):
    """A DSSE envelope is malformed (not JSON, bad base64, missing or extra fields)."""


class CertificateError(TrustError):
    """A certificate failed verification; ``reason`` is the stable finding code.

    Reasons: ``cert.malformed``, ``cert.untrusted``, ``cert.expired``,
    ``cert.not_yet_valid``, ``cert.revoked``, ``cert.wrong_role``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason

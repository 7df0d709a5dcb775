"""DSSE v1 envelopes: what every bwc-core signature covers and how it is stored.

An envelope holds a payload type, the payload bytes (canonical JSON here) and
Ed25519 signatures over ``PAE(payloadType, payload)``. Verifiers check the
stored payload bytes and never re-serialize, so the envelope JSON around them
may be spelled any way; its base64 fields, however, must be the standard
padded encoding of the bytes (one spelling per value).

See https://github.com/secure-systems-lab/dsse/blob/master/protocol.md and
``docs/format.md`` section 2.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import blake3
import nacl.exceptions
import nacl.signing

from bwc_core.errors import EnvelopeError, SignatureError
from bwc_core.format.canonical import canonical_bytes, parse_canonical

if TYPE_CHECKING:
    from bwc_core.format.keys import Signer

__all__ = [
    "CERTIFICATE_TYPE",
    "EXHIBIT_TYPE",
    "RECORD_CONTEXT",
    "RECORD_TYPE",
    "REVOCATION_TYPE",
    "Envelope",
    "Signature",
    "key_id",
    "trusted_envelope",
    "pae",
    "record_hash",
    "sign",
    "sign_payload",
    "verify",
]

RECORD_TYPE = "application/vnd.bwc-core.record.v1+json"
CERTIFICATE_TYPE = "application/vnd.bwc-core.certificate.v1+json"
REVOCATION_TYPE = "application/vnd.bwc-core.revocation.v1+json"
#: A court exhibit's declared content, signed by the exporting server (format 2.9).
EXHIBIT_TYPE = "application/vnd.bwc-core.exhibit.v1+json"
RECORD_CONTEXT = "bwc-core v1 record"

RECORD_HASHER = blake3.blake3(derive_key_context=RECORD_CONTEXT)
_SIG_BYTES = 64


def key_id(public_key: bytes, /) -> str:
    """Lowercase hex SHA-256 of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise EnvelopeError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    return hashlib.sha256(public_key).hexdigest()


def pae(payload_type: str, payload: bytes, /) -> bytes:
    """DSSE pre-authentication encoding: ``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


class Signature(NamedTuple):
    """One signature of an envelope: the signer's key id and 64 signature bytes."""

    keyid: str
    sig: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(f"{what} must be a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"{what} is not standard base64") from None
    # One spelling per value: refuse non-zero padding bits and the like.
    if _b64(data) != text:
        raise EnvelopeError(f"{what} is not canonical padded base64")
    return data


@dataclass(frozen=True, slots=True)
class Envelope:
    """A DSSE v1 envelope: ``payload_type``, raw ``payload`` bytes, ``signatures``."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        # Accept any iterable of (keyid, sig) pairs; store Signature tuples.
        object.__setattr__(self, "signatures", tuple(Signature(*s) for s in self.signatures))

    @classmethod
    def _trusted(cls, payload_type: str, payload: bytes,
                 signatures: tuple[Signature, ...]) -> Envelope:
        """Build without re-checking fields (hot path: values made by this package)."""
        env = object.__new__(cls)
        _set_payload_type(env, payload_type)  # the slot descriptors: ~2x object.__setattr__
        _set_payload(env, payload)
        _set_signatures(env, signatures)
        return env

    def pae(self) -> bytes:
        """The bytes the signatures cover."""
        return pae(self.payload_type, self.payload)

    def body(self) -> Any:
        """The payload decoded as canonical JSON (raises if it is not canonical)."""
        return parse_canonical(self.payload)

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (DSSE field names, base64 standard)."""
        return {
            "payloadType": self.payload_type,
            "payload": _b64(self.payload),
            "signatures": [{"keyid": s.keyid, "sig": _b64(s.sig)} for s in self.signatures],
        }

    def dumps(self) -> str:
        """The envelope as one line of compact JSON (no newline)."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes | bytearray | Mapping[str, Any], /) -> Envelope:
        """Parse an envelope from JSON text or a dict; raise :class:`EnvelopeError` if malformed."""
        if isinstance(data, (bytes, bytearray, str)):
            try:
                data = json.loads(data)
            except (ValueError, RecursionError) as exc:
                raise EnvelopeError(f"envelope is not JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise EnvelopeError("envelope must be a JSON object")
        if set(data) != {"payloadType", "payload", "signatures"}:
            raise EnvelopeError(
                f"envelope fields must be payloadType, payload, signatures; got {sorted(data)}"
            )
        payload_type = data["payloadType"]
        if not isinstance(payload_type, str) or not payload_type:
            raise EnvelopeError("payloadType must be a non-empty string")
        payload = _unb64(data["payload"], "payload")
        sigs = data["signatures"]
        if not isinstance(sigs, list) or not sigs:
            raise EnvelopeError("signatures must be a non-empty list")
        out = []
        for entry in sigs:
            if not isinstance(entry, Mapping) or set(entry) != {"keyid", "sig"}:
                raise EnvelopeError("each signature must be an object with keyid and sig")
            keyid = entry["keyid"]
            if not isinstance(keyid, str):
                raise EnvelopeError("signature keyid must be a string")
            sig = _unb64(entry["sig"], "signature")
            if len(sig) != _SIG_BYTES:
                raise EnvelopeError(f"an Ed25519 signature is 64 bytes, not {len(sig)}")
            out.append(Signature(keyid, sig))
        return cls(payload_type, payload, tuple(out))


# Slot setters of the frozen Envelope, for Envelope._trusted.
_set_payload_type = Envelope.__dict__["payload_type"].__set__
_set_payload = Envelope.__dict__["payload"].__set__
_set_signatures = Envelope.__dict__["signatures"].__set__


def trusted_envelope(payload_type: str, payload: bytes, signatures: tuple[Signature, ...]) -> Envelope:
    """An :class:`Envelope` of values this package made itself, built without re-checking them
    (the journal's append path: it has just encoded the payload and made the signature)."""
    return Envelope._trusted(payload_type, payload, signatures)


def sign_payload(payload_type: str, payload: bytes, signer: Signer, /) -> Envelope:
    """Sign ``payload`` bytes as they are (already canonical) with ``signer``."""
    payload = bytes(payload)
    sig = signer.sign(pae(payload_type, payload))
    if len(sig) != _SIG_BYTES:
        raise SignatureError(f"signer returned {len(sig)} bytes, not a 64-byte Ed25519 signature")
    return Envelope(payload_type, payload, (Signature(signer.key_id, bytes(sig)),))


def sign(payload_type: str, obj: Any, signer: Signer, /) -> Envelope:
    """Encode ``obj`` as canonical JSON and sign it with ``signer``."""
    return sign_payload(payload_type, canonical_bytes(obj), signer)


def _key_map(public_keys: Mapping[str, bytes] | Iterable[bytes]) -> dict[str, bytes]:
    if isinstance(public_keys, Mapping):
        keys = {}
        for kid, pk in public_keys.items():
            if key_id(pk) != kid:
                raise EnvelopeError(f"key id {kid} is not the SHA-256 of its public key")
            keys[kid] = bytes(pk)
        return keys
    return {key_id(pk): bytes(pk) for pk in public_keys}


def verify(envelope: Envelope, public_keys: Mapping[str, bytes] | Iterable[bytes], /) -> str:
    """Return the key id of the first known key whose signature verifies over the PAE.

    Raises :class:`SignatureError` when no signature is by a known key or none
    of the known keys' signatures verifies. The key id in the envelope is only
    a hint for finding the key; the signature itself is what is checked.
    """
    keys = _key_map(public_keys)
    message = envelope.pae()
    known = False
    for keyid, sig in envelope.signatures:
        pk = keys.get(keyid)
        if pk is None:
            continue
        known = True
        try:
            nacl.signing.VerifyKey(pk).verify(message, sig)
        except nacl.exceptions.BadSignatureError:
            continue
        return keyid
    if not known:
        raise SignatureError("no signature by a known key")
    raise SignatureError("signature does not verify over the payload")


def record_hash(envelope: Envelope, /) -> bytes:
    """BLAKE3 derive_key("bwc-core v1 record") over the envelope's PAE bytes (32 bytes)."""
    h = RECORD_HASHER.copy()
    h.update(envelope.pae())
    return h.digest()

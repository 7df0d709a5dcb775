"""Device identities, certificates, trust anchors, revocation and key files.

Every device (camera, dock, server) holds an Ed25519 key, certified by the
agency root. Verifiers trust only root fingerprints (key ids); everything
else is proven by certificates (DSSE envelopes signed by a root) and a
root-signed revocation list. Signing goes through the small :class:`Signer`
protocol so a secure element or HSM can stand in for the in-memory key.

Private key material never appears in ``repr``, ``str``, log lines or error
messages, and identities refuse to be pickled.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets
import stat
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import blake3
import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret

from bwc_core import errors
from bwc_core._fileio import read_regular_file, read_regular_file_stat, write_new_file
from bwc_core.errors import (
    BwcTypeError,
    CanonicalJSONError,
    CertificateError,
    EnvelopeError,
    KeyFileError,
    SignatureError,
    TrustError,
)
from bwc_core.format.canonical import canonical_bytes, load_json, require_int
from bwc_core.format.envelope import CERTIFICATE_TYPE, REVOCATION_TYPE, Envelope, key_id, sign, verify
from bwc_core.format.findings import (
    CERT_EXPIRED,
    CERT_MALFORMED,
    CERT_NOT_YET_VALID,
    CERT_REVOKED,
    CERT_UNTRUSTED,
    CERT_WRONG_ROLE,
)

__all__ = [
    "ROLES",
    "Certificate",
    "Identity",
    "PublicIdentity",
    "Revocation",
    "RevocationList",
    "Signer",
    "UNSAFE_NO_ORIGIN",
    "Trust",
    "TrustAnchors",
    "UnsafeNoOrigin",
    "require_trust",
]

_EXISTS = "already exists; refusing to overwrite"
log = logging.getLogger(__name__)

ROLES = ("root", "camera", "dock", "server")
KEY_FILE_FORMAT = "bwc-core key"
KEY_FILE_VERSION = 1
PUBLIC_FILE_FORMAT = "bwc-core public key"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
_SEED_BYTES = 32
# Argon2id strengths offered for key files. INTERACTIVE (64 MiB, 2 passes) is
# the default: a camera SoC can afford it at boot; MODERATE (256 MiB, 3 passes)
# suits servers. Loading accepts stored parameters only within libsodium's
# INTERACTIVE..SENSITIVE band, so a foreign file cannot demand terabytes.
KDF_STRENGTHS = {
    "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
}
_KDF_CONTEXT_MAC = "bwc-core v1 key file header"
# Largest files the loaders read: far above any real file, far below harm.
KEY_FILE_LIMIT = 1 << 16
PUBLIC_FILE_LIMIT = 1 << 16
CERTIFICATE_FILE_LIMIT = 1 << 20
REVOCATION_FILE_LIMIT = 1 << 22


def _read_key_file(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """A key file's bytes and permission bits, from one descriptor opened without blocking."""
    raw, st = read_regular_file_stat(path, KEY_FILE_LIMIT, KeyFileError, "a key file")
    return raw, stat.S_IMODE(st.st_mode)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise errors.BwcValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def _check_subject(subject_id: str) -> str:
    if not isinstance(subject_id, str) or not _ID_RE.match(subject_id):
        raise errors.BwcValueError(
            "id must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"
        )
    return subject_id


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise errors.BwcValueError(f"{what} must be a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.BwcValueError(f"{what} is not base64") from None
    if size is not None and len(data) != size:
        raise errors.BwcValueError(f"{what} must be {size} bytes, got {len(data)}")
    return data


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign for a key: an :class:`Identity`, a secure element, an HSM."""

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the raw public key."""
        ...

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, data: bytes, /) -> bytes:
        """Return the 64-byte Ed25519 signature of ``data``."""
        ...


@dataclass(frozen=True)
class PublicIdentity:
    """The public half of an identity, as written to ``ID.pub.json``."""

    role: str
    id: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_role(self.role)
        _check_subject(self.id)
        if len(self.public_key) != 32:
            raise errors.BwcValueError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the public key (the fingerprint)."""
        return key_id(self.public_key)

    def to_json(self) -> dict[str, Any]:
        """``{format, role, id, key_id, public_key}`` with the key in base64."""
        return {
            "format": PUBLIC_FILE_FORMAT,
            "role": self.role,
            "id": self.id,
            "key_id": self.key_id,
            "public_key": _b64(self.public_key),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublicIdentity:
        """Parse ``to_json`` output; the key id must match the key."""
        try:
            pub = cls(data["role"], data["id"], _unb64(data["public_key"], "public_key", 32))
        except (KeyError, TypeError) as exc:
            raise errors.BwcValueError(f"not a bwc-core public key: missing {exc}") from None
        if data.get("key_id") != pub.key_id:
            raise errors.BwcValueError("key_id does not match public_key")
        return pub

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the public key file (world-readable is fine: it holds no secret)."""
        path = Path(path)
        write_new_file(
            path, (json.dumps(self.to_json(), indent=2) + "\n").encode(), 0o644, KeyFileError, exists=_EXISTS
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PublicIdentity:
        """Read an ``ID.pub.json`` file; raise :class:`KeyFileError` naming it if unusable."""
        raw = read_regular_file(path, PUBLIC_FILE_LIMIT, KeyFileError, "a public key file")
        try:
            data = load_json(raw)
        except CanonicalJSONError as exc:
            raise KeyFileError(f"{path}: not a bwc-core public key file ({exc})") from None
        try:
            if not isinstance(data, dict) or data.get("format") != PUBLIC_FILE_FORMAT:
                raise errors.BwcValueError("not a bwc-core public key file")
            return cls.from_json(data)
        except (ValueError, TypeError) as exc:  # bwc ValueError from the checks above
            raise KeyFileError(f"{path}: {exc}") from None


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not isinstance(passphrase, (bytes, bytearray)) or not passphrase:
        raise errors.BwcValueError("passphrase must be a non-empty str or bytes")
    return bytes(passphrase)


def _derive_file_keys(passphrase: bytes, salt: bytes, ops: int, mem: int) -> tuple[bytes, bytes]:
    """Argon2id -> 64 bytes: the SecretBox key and a separate header-MAC key."""
    out = argon2id.kdf(64, passphrase, salt, opslimit=ops, memlimit=mem)
    return out[:32], out[32:]


def _header_mac(mac_key: bytes, header: Mapping[str, Any]) -> str:
    h = blake3.blake3(canonical_bytes(dict(header)), key=mac_key)
    return h.hexdigest()


class Identity:
    """An Ed25519 identity with a role and a subject id; implements :class:`Signer`.

    >>> root = Identity.generate("root", "CPD-ROOT")
    >>> cam = Identity.generate("camera", "BWC-0001")
    >>> cert = root.certify(cam, days=365)
    """

    __slots__ = ("_role", "_id", "_seed", "_sk", "_pk", "_key_id")

    def __init__(self, role: str, subject_id: str, seed: bytes) -> None:
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != _SEED_BYTES:
            raise errors.BwcValueError("an Ed25519 seed is 32 bytes")
        self._role = _check_role(role)
        self._id = _check_subject(subject_id)
        self._seed = bytes(seed)
        self._pk, self._sk = nacl.bindings.crypto_sign_seed_keypair(self._seed)
        self._key_id = key_id(self._pk)

    @classmethod
    def generate(cls, role: str, subject_id: str) -> Identity:
        """A fresh identity from the operating system's CSPRNG."""
        return cls(role, subject_id, secrets.token_bytes(_SEED_BYTES))

    @classmethod
    def from_seed(cls, role: str, subject_id: str, seed: bytes) -> Identity:
        """An identity from a known 32-byte seed (test vectors, key import)."""
        return cls(role, subject_id, seed)

    role = property(lambda self: self._role, doc="root, camera, dock or server")
    id = property(lambda self: self._id, doc="The subject id (e.g. BWC-0001).")
    public_key = property(lambda self: self._pk, doc="Raw 32-byte Ed25519 public key.")
    key_id = property(lambda self: self._key_id, doc="Hex SHA-256 of the public key.")

    def __repr__(self) -> str:
        return f"Identity(role={self._role!r}, id={self._id!r}, key_id={self._key_id[:16]}…)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Identity holds a private key and cannot be pickled; use save()")

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return bytes(nacl.bindings.crypto_sign(bytes(data), self._sk)[:64])

    def public_info(self) -> PublicIdentity:
        """The public half: role, id and public key."""
        return PublicIdentity(self._role, self._id, self._pk)

    def save_public(self, path: str | os.PathLike[str]) -> Path:
        """Write ``ID.pub.json`` ``{format, role, id, key_id, public_key}``."""
        return self.public_info().save(path)

    def certify(
        self,
        other: Identity | PublicIdentity,
        *,
        days: int = 365,
        not_before: int | None = None,
        serial: str | None = None,
    ) -> Certificate:
        """Issue a certificate for ``other`` valid ``days`` days from ``not_before`` (unix s).

        Only a root issues certificates, and never for another root (roots are
        trust anchors, pinned by fingerprint, not certified).
        """
        if self._role != "root":
            raise TrustError(f"only a root can certify; {self._id} is a {self._role}")
        pub = other.public_info() if isinstance(other, Identity) else other
        if pub.role == "root":
            raise TrustError("roots are trust anchors and are not certified")
        require_int(days, "days", minimum=1, maximum=100 * 366)
        start = int(time.time()) if not_before is None else require_int(not_before, "not_before")
        body = {
            "subject": pub.id,
            "role": pub.role,
            "public_key": _b64(pub.public_key),
            "key_id": pub.key_id,
            "not_before": start,
            "not_after": start + days * 86400,
            "serial": serial if serial is not None else secrets.token_hex(16),
            "issuer_key_id": self._key_id,
        }
        return Certificate.from_envelope(sign(CERTIFICATE_TYPE, body, self))

    # --- key files ---------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike[str],
        passphrase: str | bytes | None = None,
        *,
        kdf: Literal["interactive", "moderate"] = "interactive",
    ) -> Path:
        """Write the key file, mode 0600, atomically; never overwrites an existing file.

        With a passphrase the seed is encrypted with SecretBox (XSalsa20-Poly1305)
        under a key from Argon2id; the header fields are MAC'd with a second
        derived key so a changed role, id or KDF parameter is detected.
        """
        path = Path(path)
        header: dict[str, Any] = {
            "format": KEY_FILE_FORMAT,
            "version": KEY_FILE_VERSION,
            "role": self._role,
            "id": self._id,
            "key_id": self._key_id,
        }
        if passphrase is None:
            doc = {**header, "kdf": None, "seed": _b64(self._seed)}
        else:
            if kdf not in KDF_STRENGTHS:
                raise errors.BwcValueError(f"kdf must be one of {', '.join(KDF_STRENGTHS)}")
            ops, mem = KDF_STRENGTHS[kdf]
            salt = secrets.token_bytes(argon2id.SALTBYTES)
            nonce = secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE)
            box_key, mac_key = _derive_file_keys(_passphrase_bytes(passphrase), salt, ops, mem)
            ct = nacl.secret.SecretBox(box_key).encrypt(self._seed, nonce).ciphertext
            header.update(
                kdf="argon2id",
                opslimit=ops,
                memlimit=mem,
                salt=_b64(salt),
                nonce=_b64(nonce),
                ciphertext=_b64(ct),
            )
            doc = {**header, "mac": _header_mac(mac_key, header)}
        write_new_file(path, (json.dumps(doc, indent=2) + "\n").encode(), 0o600, KeyFileError, exists=_EXISTS)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None, *,
             allow_open_permissions: bool = False) -> Identity:
        """Read a key file; :class:`KeyFileError` naming the file if it cannot be used.

        Like ssh, a key file that its group or others may read, write or
        execute (mode bits ``0o077``) is refused, encrypted or not: the key
        may already have leaked, and a verifier cannot vouch for what it
        signs. ``allow_open_permissions=True`` (``bwc ... --allow-open-key``)
        loads it anyway with a logged warning. A FIFO, device or directory
        is refused without being read.
        """
        raw, mode = _read_key_file(path)
        if mode & 0o077 and os.name == "posix":
            if not allow_open_permissions:
                raise KeyFileError(
                    f"{path}: private key file is accessible by group or others (mode {mode:04o}); "
                    f"refused (chmod 600 it, or allow it explicitly with --allow-open-key)")
            log.warning("key file %s is accessible by group or others (mode %04o); loaded as allowed",
                        path, mode)
        try:
            return cls._from_document(raw, passphrase)
        except (ValueError, TypeError, KeyError, CanonicalJSONError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise KeyFileError(f"{path}: {detail}") from None

    @classmethod
    def _from_document(cls, raw: bytes, passphrase: str | bytes | None) -> Identity:
        try:
            doc = load_json(raw)
        except CanonicalJSONError as exc:
            raise errors.BwcValueError(f"not a bwc-core key file ({exc}; truncated?)") from None
        if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
            raise errors.BwcValueError("not a bwc-core key file")
        if doc.get("version") != KEY_FILE_VERSION:
            raise errors.BwcValueError(f"unsupported key file version {doc.get('version')!r}")
        role, subject = doc["role"], doc["id"]
        if doc["kdf"] is None:
            if passphrase is not None:
                raise errors.BwcValueError("key file is not encrypted but a passphrase was given")
            seed = _unb64(doc["seed"], "seed", _SEED_BYTES)
        elif doc["kdf"] == "argon2id":
            if passphrase is None:
                raise errors.BwcValueError("key file is encrypted: a passphrase is required")
            ops = require_int(doc["opslimit"], "opslimit", minimum=argon2id.OPSLIMIT_INTERACTIVE,
                              maximum=argon2id.OPSLIMIT_SENSITIVE)
            mem = require_int(doc["memlimit"], "memlimit", minimum=argon2id.MEMLIMIT_INTERACTIVE,
                              maximum=argon2id.MEMLIMIT_SENSITIVE)
            salt = _unb64(doc["salt"], "salt", argon2id.SALTBYTES)
            nonce = _unb64(doc["nonce"], "nonce", nacl.secret.SecretBox.NONCE_SIZE)
            ct = _unb64(doc["ciphertext"], "ciphertext", _SEED_BYTES + nacl.secret.SecretBox.MACBYTES)
            box_key, mac_key = _derive_file_keys(_passphrase_bytes(passphrase), salt, ops, mem)
            try:
                seed = nacl.secret.SecretBox(box_key).decrypt(ct, nonce)
            except nacl.exceptions.CryptoError:
                raise errors.BwcValueError("wrong passphrase, or the encrypted key was altered") from None
            header = {k: v for k, v in doc.items() if k != "mac"}
            if not secrets.compare_digest(str(doc.get("mac", "")), _header_mac(mac_key, header)):
                raise errors.BwcValueError("key file header was altered (MAC mismatch)")
        else:
            raise errors.BwcValueError(f"unknown kdf {doc['kdf']!r}")
        ident = cls(role, subject, seed)
        if doc["key_id"] != ident.key_id:
            raise errors.BwcValueError("key_id does not match the stored key (file altered)")
        return ident


# --- certificates ------------------------------------------------------------------

_CERT_FIELDS = {
    "subject", "role", "public_key", "key_id", "not_before", "not_after", "serial", "issuer_key_id",
}


class Certificate:
    """A root-signed DSSE envelope binding a subject id and role to a public key.

    Payload (canonical JSON): ``subject, role, public_key (base64), key_id,
    not_before, not_after`` (unix seconds, inclusive), ``serial`` (hex string),
    ``issuer_key_id``. Parsing checks the shape; :meth:`TrustAnchors.verify_certificate`
    checks the issuer's signature, validity and revocation.
    """

    __slots__ = ("envelope", "subject", "role", "public_key", "key_id", "not_before",
                 "not_after", "serial", "issuer_key_id")

    def __init__(self, envelope: Envelope, body: Mapping[str, Any]) -> None:
        self.envelope = envelope
        self.subject: str = body["subject"]
        self.role: str = body["role"]
        self.public_key: bytes = _unb64(body["public_key"], "public_key", 32)
        self.key_id: str = body["key_id"]
        self.not_before: int = body["not_before"]
        self.not_after: int = body["not_after"]
        self.serial: str = body["serial"]
        self.issuer_key_id: str = body["issuer_key_id"]

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Certificate:
        """Check the payload shape; :class:`CertificateError` (``cert.malformed``) if wrong."""
        try:
            if envelope.payload_type != CERTIFICATE_TYPE:
                raise errors.BwcValueError(f"payload type is {envelope.payload_type!r}")
            if len(envelope.signatures) != 1:  # format 2.2: one signature, by the issuer
                raise errors.BwcValueError(f"a certificate carries exactly one signature, not "
                                        f"{len(envelope.signatures)}")
            body = envelope.body()
            if not isinstance(body, dict) or set(body) != _CERT_FIELDS:
                raise errors.BwcValueError("fields must be exactly " + ", ".join(sorted(_CERT_FIELDS)))
            _check_role(body["role"])
            _check_subject(body["subject"])
            for name in ("not_before", "not_after"):
                require_int(body[name], name, minimum=0)
            if body["not_after"] < body["not_before"]:
                raise errors.BwcValueError("not_after is before not_before")
            for name in ("serial", "key_id", "issuer_key_id"):
                if not isinstance(body[name], str) or not body[name]:
                    raise errors.BwcValueError(f"{name} must be a non-empty string")
            cert = cls(envelope, body)
            if key_id(cert.public_key) != cert.key_id:
                raise errors.BwcValueError("key_id does not match public_key")
        except (ValueError, KeyError, TypeError, CanonicalJSONError, EnvelopeError) as exc:
            raise CertificateError(CERT_MALFORMED, str(exc)) from None
        return cert

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> Certificate:
        """Parse a certificate from its envelope JSON (text or dict)."""
        try:
            env = Envelope.from_json(data)
        except EnvelopeError as exc:
            raise CertificateError(CERT_MALFORMED, str(exc)) from None
        return cls.from_envelope(env)

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict."""
        return self.envelope.to_json()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the certificate envelope JSON to a new file."""
        path = Path(path)
        write_new_file(
            path, (json.dumps(self.to_json(), indent=2) + "\n").encode(), 0o644, KeyFileError, exists=_EXISTS
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Certificate:
        """Read a certificate file; :class:`CertificateError` naming the file if malformed."""
        raw = read_regular_file(path, CERTIFICATE_FILE_LIMIT, KeyFileError, "a certificate")
        try:
            return cls.from_json(raw)
        except CertificateError as exc:
            raise CertificateError(exc.reason, f"{path}: {exc}") from None

    def public_info(self) -> PublicIdentity:
        """The certified subject as a :class:`PublicIdentity`."""
        return PublicIdentity(self.role, self.subject, self.public_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.envelope == self.envelope

    def __hash__(self) -> int:
        return hash(self.envelope.payload)

    def __repr__(self) -> str:
        return (f"Certificate(subject={self.subject!r}, role={self.role!r}, "
                f"key_id={self.key_id[:16]}…, serial={self.serial!r})")


# --- revocation --------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """One revocation: a ``key_id`` or a certificate ``serial``, from ``revoked_at`` (unix s)."""

    revoked_at: int
    reason: str
    key_id: str | None = None
    serial: str | None = None

    def __post_init__(self) -> None:
        if (self.key_id is None) == (self.serial is None):
            raise errors.BwcValueError("a revocation names exactly one of key_id or serial")
        require_int(self.revoked_at, "revoked_at", minimum=0)
        if not isinstance(self.reason, str) or not self.reason:
            raise errors.BwcValueError("a revocation needs a reason")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"revoked_at": self.revoked_at, "reason": self.reason}
        if self.key_id is not None:
            out["key_id"] = self.key_id
        else:
            out["serial"] = self.serial
        return out

    def matches(self, cert: Certificate) -> bool:
        """True if this entry names ``cert`` (by key id or serial)."""
        return cert.key_id == self.key_id if self.key_id is not None else cert.serial == self.serial


class RevocationList:
    """A root-signed list of revoked keys and certificates with revocation times.

    Payload: ``{issuer_key_id, issued_at, number, entries: [{key_id | serial,
    revoked_at, reason}]}``. A certificate is revoked for any time at or after
    its entry's ``revoked_at``; what was signed before stays valid.
    """

    __slots__ = ("envelope", "issuer_key_id", "issued_at", "number", "entries")

    def __init__(self, envelope: Envelope) -> None:
        try:
            if envelope.payload_type != REVOCATION_TYPE:
                raise errors.BwcValueError(f"payload type is {envelope.payload_type!r}")
            if len(envelope.signatures) != 1:  # format 2.2: one signature, by the issuing root
                raise errors.BwcValueError(f"a revocation list carries exactly one signature, not "
                                        f"{len(envelope.signatures)}")
            body = envelope.body()
            if set(body) != {"issuer_key_id", "issued_at", "number", "entries"}:
                raise errors.BwcValueError("fields must be entries, issued_at, issuer_key_id, number")
            self.issuer_key_id: str = body["issuer_key_id"]
            self.issued_at: int = require_int(body["issued_at"], "issued_at", minimum=0)
            self.number: int = require_int(body["number"], "number", minimum=0)
            self.entries: tuple[Revocation, ...] = tuple(
                Revocation(**e) for e in body["entries"]
            )
        except (ValueError, KeyError, TypeError, CanonicalJSONError, EnvelopeError) as exc:
            raise CertificateError(CERT_MALFORMED, f"revocation list: {exc}") from None
        self.envelope = envelope

    @classmethod
    def create(
        cls,
        issuer: Identity,
        entries: Iterable[Revocation],
        *,
        issued_at: int | None = None,
        number: int = 1,
    ) -> RevocationList:
        """Sign a revocation list with the root ``issuer``."""
        if issuer.role != "root":
            raise TrustError("only a root signs revocation lists")
        body = {
            "issuer_key_id": issuer.key_id,
            "issued_at": int(time.time()) if issued_at is None else issued_at,
            "number": number,
            "entries": [e.to_json() for e in entries],
        }
        return cls(sign(REVOCATION_TYPE, body, issuer))

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> RevocationList:
        """Parse from the envelope JSON."""
        try:
            return cls(Envelope.from_json(data))
        except EnvelopeError as exc:
            raise CertificateError(CERT_MALFORMED, f"revocation list: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RevocationList:
        """Read a revocation list file; :class:`CertificateError` naming the file if malformed,
        :class:`KeyFileError` if it is unreadable or not a regular file."""
        raw = read_regular_file(path, REVOCATION_FILE_LIMIT, KeyFileError, "a revocation list")
        try:
            return cls.from_json(raw)
        except CertificateError as exc:
            raise CertificateError(exc.reason, f"{path}: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return self.envelope.to_json()

    def entry_for(self, cert: Certificate) -> Revocation | None:
        """The earliest entry revoking ``cert``, if any."""
        hits = [e for e in self.entries if e.matches(cert)]
        return min(hits, key=lambda e: e.revoked_at) if hits else None


# --- trust anchors -----------------------------------------------------------------


class TrustAnchors:
    """The root keys a verifier trusts (by fingerprint), plus their revocation lists.

    ``roots`` are public keys: :class:`PublicIdentity` (role root), raw 32-byte
    keys, or paths of ``ROOT.pub.json`` files. ``fingerprints``, if given, pins
    them: every root must have one of those key ids.
    """

    def __init__(
        self,
        roots: Iterable[PublicIdentity | bytes | str | os.PathLike[str]],
        *,
        fingerprints: Iterable[str] | None = None,
        revocations: Iterable[RevocationList] = (),
    ) -> None:
        self._roots: dict[str, bytes] = {}
        for root in roots:
            if isinstance(root, (str, os.PathLike)):
                root = PublicIdentity.load(root)
            if isinstance(root, PublicIdentity):
                if root.role != "root":
                    raise TrustError(f"{root.id} is a {root.role} key, not a root")
                pk = root.public_key
            else:
                pk = bytes(root)
            self._roots[key_id(pk)] = pk
        if fingerprints is not None:
            pins = {f.lower() for f in fingerprints}
            unpinned = set(self._roots) - pins
            if unpinned:
                raise TrustError(f"root key {sorted(unpinned)[0]} is not a pinned fingerprint")
        if not self._roots:
            raise TrustError("no trust anchors given")
        self._revocations: list[RevocationList] = []
        self._verified: set[bytes] = set()
        for rl in revocations:
            self.add_revocation_list(rl)

    @property
    def fingerprints(self) -> frozenset[str]:
        """The trusted root key ids."""
        return frozenset(self._roots)

    def add_revocation_list(self, rl: RevocationList) -> None:
        """Accept a revocation list signed by one of the roots, else raise TrustError."""
        try:
            signer = verify(rl.envelope, self._roots)
        except SignatureError as exc:
            raise CertificateError(CERT_UNTRUSTED, f"revocation list: {exc}") from None
        if signer != rl.issuer_key_id:
            raise CertificateError(CERT_UNTRUSTED, "revocation list issuer_key_id mismatch")
        self._revocations.append(rl)

    def revocation_for(self, cert: Certificate) -> Revocation | None:
        """The earliest revocation of ``cert`` in any accepted list."""
        hits = [e for rl in self._revocations if (e := rl.entry_for(cert)) is not None]
        return min(hits, key=lambda e: e.revoked_at) if hits else None

    def check_signature(self, cert: Certificate) -> None:
        """Raise ``cert.untrusted`` unless a trusted root issued and signed ``cert``."""
        if cert.envelope.payload in self._verified:
            return
        pk = self._roots.get(cert.issuer_key_id)
        if pk is None:
            raise CertificateError(
                CERT_UNTRUSTED,
                f"{cert.subject}: issuer {cert.issuer_key_id[:16]}… is not a trusted root",
            )
        try:
            signer = verify(cert.envelope, {cert.issuer_key_id: pk})
        except SignatureError as exc:
            raise CertificateError(CERT_UNTRUSTED, f"{cert.subject}: {exc}") from None
        assert signer == cert.issuer_key_id
        self._verified.add(cert.envelope.payload)

    def verify_certificate(
        self, cert: Certificate, at: int | None = None, *, role: str | None = None
    ) -> Certificate:
        """Return ``cert`` if valid at unix second ``at`` (default now), else raise.

        Raises :class:`CertificateError` whose ``reason`` is ``cert.untrusted``
        (unknown issuer or bad signature), ``cert.wrong_role``, ``cert.revoked``
        (at or after ``revoked_at``), ``cert.not_yet_valid`` or ``cert.expired``.
        """
        self.check_signature(cert)
        if role is not None and cert.role != role:
            raise CertificateError(CERT_WRONG_ROLE, f"{cert.subject} is a {cert.role}, not a {role}")
        when = int(time.time()) if at is None else at
        rev = self.revocation_for(cert)
        if rev is not None and when >= rev.revoked_at:
            raise CertificateError(
                CERT_REVOKED, f"{cert.subject} revoked from {rev.revoked_at} ({rev.reason})"
            )
        if when < cert.not_before:
            raise CertificateError(CERT_NOT_YET_VALID, f"{cert.subject} valid from {cert.not_before}")
        if when > cert.not_after:
            raise CertificateError(CERT_EXPIRED, f"{cert.subject} expired at {cert.not_after}")
        return cert


# --- the explicit unsafe policy -----------------------------------------------------


class UnsafeNoOrigin:
    """The trust policy that checks no origin: use :data:`UNSAFE_NO_ORIGIN`, its one instance.

    Like sigstore-python's ``UnsafeNoOp`` policy, it exists so that skipping a
    check is a choice written in the caller's code, never the effect of a
    forgotten argument: every verification entry point requires its trust
    argument and refuses ``None``. Under this policy signatures and the chain
    are still checked against the journal's own certificates, but no key is
    checked against a trusted root (nor its role, validity or revocation as a
    root certified them): anyone can make such a journal. Every verification
    under it logs a warning and reports the warning finding
    ``origin.unchecked``, and the report's origin verdict is ``"unchecked"``
    (never ``"pass"``). Fit for inspecting footage, not for court.
    """

    _instance: UnsafeNoOrigin | None = None

    def __new__(cls) -> UnsafeNoOrigin:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSAFE_NO_ORIGIN"

    def __reduce__(self) -> str:
        return "UNSAFE_NO_ORIGIN"  # pickles (forked workers) as the one instance


UNSAFE_NO_ORIGIN = UnsafeNoOrigin()
"""Pass as ``anchors`` to verify without checking origin, explicitly (see :class:`UnsafeNoOrigin`)."""

Trust = TrustAnchors | UnsafeNoOrigin
"""What a verification entry point's ``anchors`` accepts."""


def require_trust(anchors: object, where: str) -> TrustAnchors | None:
    """The :class:`TrustAnchors` to check origin with, or ``None`` for :data:`UNSAFE_NO_ORIGIN`.

    Raises :class:`BwcTypeError` (a ``TypeError``) for ``None`` or anything
    else: a missing trust decision must never verify as if origin did not matter.
    """
    if isinstance(anchors, TrustAnchors):
        return anchors
    if isinstance(anchors, UnsafeNoOrigin):
        log.warning("%s: unsafe trust policy UNSAFE_NO_ORIGIN: origin not checked", where)
        return None
    if anchors is None:
        raise BwcTypeError(
            f"{where}: anchors=None is refused: pass TrustAnchors([...root public keys...]) or, to skip "
            "the origin checks on purpose, bwc_core.format.keys.UNSAFE_NO_ORIGIN"
        )
    raise BwcTypeError(f"{where}: anchors must be TrustAnchors or UNSAFE_NO_ORIGIN, not {type(anchors).__name__}")

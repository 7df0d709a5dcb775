"""Identities, key files, certificates, trust anchors and revocation (real libsodium)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import pickle
import stat

import nacl.signing
import pytest

from bwc_core.errors import CertificateError, EnvelopeError, KeyFileError, SignatureError, TrustError
from bwc_core.format.envelope import CERTIFICATE_TYPE, Envelope, key_id, pae, sign, verify
from bwc_core.format.keys import (
    Certificate,
    Identity,
    PublicIdentity,
    Revocation,
    RevocationList,
    Signer,
    TrustAnchors,
)

DAY = 86400
T0 = 1_700_000_000


# --- identities and key files ------------------------------------------------------


def test_identity_is_a_signer_and_signatures_verify_with_plain_pynacl(cam):
    assert isinstance(cam, Signer)
    assert cam.key_id == hashlib.sha256(cam.public_key).hexdigest()
    sig = cam.sign(b"hello")
    assert len(sig) == 64
    nacl.signing.VerifyKey(cam.public_key).verify(b"hello", sig)


def test_private_key_never_in_repr_str_or_pickle(cam, tmp_path, caplog):
    seed = cam._seed
    for text in (repr(cam), str(cam), f"{cam}"):
        assert seed.hex() not in text and base64.b64encode(seed).decode() not in text
        assert "BWC-0001" in text
    with pytest.raises(TypeError):
        pickle.dumps(cam)
    # errors about a key file carry the file name, not the key
    path = cam.save(tmp_path / "k.key")
    with caplog.at_level(logging.DEBUG), pytest.raises(KeyFileError) as err:
        Identity.load(path, passphrase="nope")
    assert base64.b64encode(seed).decode() not in str(err.value)
    assert base64.b64encode(seed).decode() not in caplog.text


@pytest.mark.parametrize("passphrase", [None, "correct horse", b"\x00bytes\xff"])
def test_key_file_round_trip_mode_0600(cam, tmp_path, passphrase):
    old = os.umask(0o000)  # a permissive umask must not widen the file
    try:
        path = cam.save(tmp_path / "cam.key", passphrase=passphrase)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = Identity.load(path, passphrase=passphrase)
    assert (loaded.key_id, loaded.role, loaded.id) == (cam.key_id, "camera", "BWC-0001")
    assert loaded.sign(b"x") == cam.sign(b"x")  # Ed25519 is deterministic
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_encrypted_file_holds_no_seed(cam, tmp_path):
    path = cam.save(tmp_path / "cam.key", passphrase="pw")
    doc = json.loads(path.read_text())
    assert doc["kdf"] == "argon2id" and "seed" not in doc
    assert base64.b64encode(cam._seed).decode() not in path.read_text()
    assert doc["opslimit"] >= 2 and doc["memlimit"] >= 64 << 20


def test_save_refuses_to_overwrite(cam, tmp_path):
    path = cam.save(tmp_path / "cam.key")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="exists"):
        Identity.generate("camera", "BWC-0002").save(path)
    assert path.read_bytes() == before


def test_wrong_or_missing_passphrase(cam, tmp_path):
    path = cam.save(tmp_path / "cam.key", passphrase="right")
    with pytest.raises(KeyFileError, match="cam.key.*passphrase"):
        Identity.load(path, passphrase="wrong")
    with pytest.raises(KeyFileError, match="passphrase is required"):
        Identity.load(path)
    plain = cam.save(tmp_path / "plain.key")
    with pytest.raises(KeyFileError, match="not encrypted"):
        Identity.load(plain, passphrase="right")


def _edit(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.chmod(0o600)
    path.write_text(json.dumps(doc))


def test_tampered_key_files(cam, tmp_path):
    enc = cam.save(tmp_path / "enc.key", passphrase="pw")
    doc = json.loads(enc.read_text())
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[0] ^= 1
    _edit(enc, ciphertext=base64.b64encode(bytes(ct)).decode())
    with pytest.raises(KeyFileError, match="enc.key"):
        Identity.load(enc, passphrase="pw")

    # header fields are MAC'd: a relabelled role is caught
    enc2 = cam.save(tmp_path / "enc2.key", passphrase="pw")
    _edit(enc2, role="dock")
    with pytest.raises(KeyFileError, match="altered"):
        Identity.load(enc2, passphrase="pw")

    # absurd KDF parameters from a foreign file are refused before any work
    enc3 = cam.save(tmp_path / "enc3.key", passphrase="pw")
    _edit(enc3, memlimit=1 << 40)
    with pytest.raises(KeyFileError, match="memlimit"):
        Identity.load(enc3, passphrase="pw")

    plain = cam.save(tmp_path / "plain.key")
    _edit(plain, seed=base64.b64encode(b"\x01" * 32).decode())
    with pytest.raises(KeyFileError, match="key_id does not match"):
        Identity.load(plain)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'{"format": "something else"}', b"\x00\xff" * 10,
     b'{"format":"bwc-core key","version":1}'],
)
def test_truncated_or_foreign_files(tmp_path, content):
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    path.chmod(0o600)  # refused for its content, not for its permissions
    with pytest.raises(KeyFileError, match="bad.key"):
        Identity.load(path)


def test_truncated_real_file(cam, tmp_path):
    path = cam.save(tmp_path / "cam.key", passphrase="pw")
    data = path.read_bytes()
    path.chmod(0o600)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KeyFileError, match="cam.key"):
        Identity.load(path, passphrase="pw")
    with pytest.raises(KeyFileError, match="missing.key"):
        Identity.load(tmp_path / "missing.key")


def test_public_file(cam, tmp_path):
    path = cam.save_public(tmp_path / "BWC-0001.pub.json")
    doc = json.loads(path.read_text())
    assert {"role", "id", "key_id", "public_key"} <= set(doc)
    assert doc["key_id"] == cam.key_id
    assert PublicIdentity.load(path) == cam.public_info()
    doc["key_id"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="key_id"):
        PublicIdentity.load(path)


def test_bad_role_and_id():
    with pytest.raises(ValueError):
        Identity.generate("janitor", "X")
    with pytest.raises(ValueError):
        Identity.generate("camera", "../etc/passwd")


# --- envelopes ---------------------------------------------------------------------


def test_pae_exact_bytes():
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t", b"") == b"DSSEv1 1 t 0 "


def test_envelope_sign_verify_and_strict_parse(cam, root):
    env = sign("application/x-test", {"a": 1}, cam)
    again = Envelope.from_json(env.dumps())
    assert again == env
    assert verify(again, [cam.public_key]) == cam.key_id
    with pytest.raises(SignatureError, match="known key"):
        verify(again, [root.public_key])
    bad = Envelope(env.payload_type, env.payload + b" ", env.signatures)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(bad, [cam.public_key])
    doc = env.to_json()
    for broken in (
        {**doc, "extra": 1},
        {**doc, "payload": doc["payload"] + "!"},
        {**doc, "signatures": []},
        {**doc, "signatures": [{"keyid": "x", "sig": "AAAA"}]},
        "not json",
    ):
        with pytest.raises(EnvelopeError):
            Envelope.from_json(broken if isinstance(broken, str) else json.dumps(broken))


def test_envelope_refuses_second_base64_spelling(cam):
    env = sign("t", {"a": 1}, cam)
    doc = env.to_json()
    # "eyJhIjoxfQ==" -> flip unused padding bits of the last data char
    p = doc["payload"]
    assert p.endswith("=")
    last = p.rstrip("=")[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    alt = alphabet[alphabet.index(last) + 1]
    twin = p.rstrip("=")[:-1] + alt + p[len(p.rstrip("=")):]
    assert base64.b64decode(twin) == base64.b64decode(p)  # same bytes, other text
    with pytest.raises(EnvelopeError, match="canonical"):
        Envelope.from_json({**doc, "payload": twin})


# --- certificates --------------------------------------------------------------------


def test_certificate_contents_and_verification(root, cam, anchors):
    cert = root.certify(cam, days=30, not_before=T0)
    body = cert.envelope.body()
    assert cert.envelope.payload_type == CERTIFICATE_TYPE
    assert set(body) == {"subject", "role", "public_key", "key_id", "not_before", "not_after",
                         "serial", "issuer_key_id"}
    assert body["not_after"] - body["not_before"] == 30 * DAY
    assert body["issuer_key_id"] == root.key_id == key_id(root.public_key)
    assert anchors.verify_certificate(cert, at=T0 + DAY, role="camera") is cert
    assert Certificate.from_json(json.dumps(cert.to_json())) == cert


def test_certificate_expiry_and_not_yet_valid(root, cam, anchors):
    cert = root.certify(cam, days=1, not_before=T0)
    anchors.verify_certificate(cert, at=T0 + DAY)  # inclusive end
    with pytest.raises(CertificateError) as err:
        anchors.verify_certificate(cert, at=T0 + DAY + 1)
    assert err.value.reason == "cert.expired"
    assert isinstance(err.value, TrustError)
    with pytest.raises(CertificateError) as err:
        anchors.verify_certificate(cert, at=T0 - 1)
    assert err.value.reason == "cert.not_yet_valid"


def test_wrong_issuer_and_forged_certificate(root, cam, anchors):
    rogue = Identity.generate("root", "ROGUE-ROOT")
    cert = rogue.certify(cam, days=10, not_before=T0)
    with pytest.raises(CertificateError) as err:
        anchors.verify_certificate(cert, at=T0 + 1)
    assert err.value.reason == "cert.untrusted"
    # claims the real root as issuer but is signed by the rogue key
    good = root.certify(cam, days=10, not_before=T0)
    body = good.envelope.body()
    forged = Certificate.from_envelope(sign(CERTIFICATE_TYPE, {**body, "not_after": T0 + 999 * DAY},
                                            rogue))
    with pytest.raises(CertificateError) as err:
        anchors.verify_certificate(forged, at=T0 + 1)
    assert err.value.reason == "cert.untrusted"


def test_wrong_role_and_non_root_issuer(root, cam, anchors):
    cert = root.certify(cam, days=10, not_before=T0)
    with pytest.raises(CertificateError) as err:
        anchors.verify_certificate(cert, at=T0 + 1, role="dock")
    assert err.value.reason == "cert.wrong_role"
    with pytest.raises(TrustError):
        cam.certify(Identity.generate("dock", "DOCK-1"))
    with pytest.raises(TrustError):
        TrustAnchors([cam.public_info()])  # a camera key is no anchor


def test_pinned_fingerprints(root, tmp_path):
    path = root.save_public(tmp_path / "root.pub.json")
    assert TrustAnchors([path], fingerprints=[root.key_id]).fingerprints == {root.key_id}
    with pytest.raises(TrustError):
        TrustAnchors([path], fingerprints=["ab" * 32])


def test_revocation(root, cam):
    cert = root.certify(cam, days=100, not_before=T0, serial="s-1")
    other = Identity.generate("camera", "BWC-0002")
    other_cert = root.certify(other, days=100, not_before=T0, serial="s-2")
    rl = RevocationList.create(root, [
        Revocation(revoked_at=T0 + 10 * DAY, reason="key compromise", key_id=cam.key_id),
        Revocation(revoked_at=T0 + 20 * DAY, reason="lost", serial="s-2"),
    ], issued_at=T0 + 21 * DAY)
    rl = RevocationList.from_json(json.dumps(rl.to_json()))
    anchors = TrustAnchors([root.public_info()], revocations=[rl])
    anchors.verify_certificate(cert, at=T0 + 10 * DAY - 1)  # signed before: still fine
    for c, t in ((cert, T0 + 10 * DAY), (other_cert, T0 + 30 * DAY)):
        with pytest.raises(CertificateError) as err:
            anchors.verify_certificate(c, at=t)
        assert err.value.reason == "cert.revoked"


def test_revocation_list_must_come_from_a_root(root, cam):
    rogue = Identity.generate("root", "ROGUE")
    rl = RevocationList.create(rogue, [Revocation(revoked_at=0, reason="x", key_id=cam.key_id)])
    anchors = TrustAnchors([root.public_info()])
    with pytest.raises(TrustError):
        anchors.add_revocation_list(rl)
    with pytest.raises(ValueError):
        Revocation(revoked_at=0, reason="both", key_id="a", serial="b")


def test_signing_equals_pynacl_for_every_length():
    """Identity.sign is PyNaCl's public signing (no private libsodium symbol is bound):
    RFC 8032 section 7.1 TEST 1, and SigningKey.sign's signature for every size a record has."""
    rfc = Identity.from_seed("camera", "BWC-0001", bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert rfc.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    signer = Identity.from_seed("camera", "BWC-0001", bytes(range(32)))
    reference = nacl.signing.SigningKey(bytes(range(32)))
    messages = [b"", b"x", os.urandom(1023), os.urandom(1024), os.urandom(5490), os.urandom(70_000)]
    for message in messages:
        expected = reference.sign(message).signature
        assert signer.sign(message) == expected
        assert signer.sign(bytearray(message)) == expected
    import sys

    import bwc_core.format.journal  # noqa: F401  (the journal signs on its hot path)

    assert "bwc_core._sodium" not in sys.modules  # no dlsym-bound libsodium symbol

"""Fuzzing the parsers of untrusted input, in process, with a time bound per input.

Every parser that reads attacker-written bytes (canonical JSON, DSSE
envelopes, certificates, revocation lists, public-key and key files, journal
lines and records, ``.leaves`` sidecars, exhibit manifests, zip exhibits) is
fed mutated bytes and mutated JSON values. The only outcomes allowed are a
result, the parser's typed error, or findings: never another exception, and
never longer than the time bound (a hang is a failure). Mutated record,
certificate and revocation bodies are *re-signed* (and journals re-chained)
with the test keys, so they get past the signature checks into the code that
reads the fields.

The short runs are part of ``make test``; the ``slow`` ones run many more
inputs in ``make test-slow`` (which CI runs too; about 3 minutes alone:
``make test-slow PYTEST_ARGS=test_fuzz.py``). ``BWC_FUZZ_SEED`` picks another
seed; ``BWC_FUZZ_SCALE`` multiplies every run's input count. The number of
executions of each target is printed at the end of the module.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from bwc_core import errors
from bwc_core.errors import (
    BwcError,
    CanonicalJSONError,
    CertificateError,
    EnvelopeError,
    KeyFileError,
    LeavesError,
)
from bwc_core.format.canonical import _reference_bytes, canonical_bytes, load_json, parse_canonical
from bwc_core.format.content import parse_leaves
from bwc_core.format.envelope import (
    CERTIFICATE_TYPE,
    RECORD_TYPE,
    REVOCATION_TYPE,
    Envelope,
    record_hash,
    sign,
)
from bwc_core.format.journal import validate_chain
from bwc_core.format.keys import (
    Certificate,
    Identity,
    PublicIdentity,
    Revocation,
    RevocationList,
    TrustAnchors,
)

SEED = int(os.environ.get("BWC_FUZZ_SEED", "20261203"))
SCALE = float(os.environ.get("BWC_FUZZ_SCALE", "1"))
#: Seconds one input may take. Generous: the bound is there to catch hangs
#: (a FIFO read, a loop that never ends), on a shared, loaded machine.
BOUND = 10.0
BOUND_VERIFY = 60.0

COUNTS: dict[str, int] = {}



def runs(n: int) -> int:
    return max(1, int(n * SCALE))


class _Timeout(BaseException):
    """Raised by the alarm in the middle of a parser that took too long."""


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout()


def bounded(target: str, fn, *args, allowed: tuple[type[BaseException], ...], seconds: float = BOUND,
            **kwargs):
    """Run ``fn`` on one input under a time bound; only ``allowed`` errors may escape (else fail)."""
    COUNTS[target] = COUNTS.get(target, 0) + 1
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args, **kwargs), None
    except _Timeout:
        import traceback

        where = "".join(traceback.format_exc().splitlines(keepends=True)[-12:])
        pytest.fail(f"{target}: an input took more than {seconds} s (hang?) in\n{where}")
    except allowed as exc:
        text = str(exc)
        assert "\n" not in text.strip() or isinstance(exc, AssertionError), f"{target}: multi-line error {text!r}"
        return None, exc
    except RecursionError as exc:
        pytest.fail(f"{target}: RecursionError escaped: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    if COUNTS:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        line = f"fuzz executions (seed {SEED}): " + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        line += f"; total {sum(COUNTS.values())}"
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line("")
                reporter.write_line(line)
        out = os.environ.get("BWC_FUZZ_COUNTS")
        if out:
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")


# --- mutators -------------------------------------------------------------------------------

_TOKENS = [b"[" * 5000, b"{\"a\":" * 3000, b"\x00", b"\xff\xfe", b"\"", b"\\", b"NaN", b"Infinity", b"-0",
           b"1e999", b"1.5", b"9" * 5000, b"18446744073709551616", b"\\ud800", b"null", b"true", b"[]", b"{}",
           b",", b":", b"\n", b"\r\n", b" ", b"\"payloadType\"", b"\"signatures\"", b"==", b"AAAA"]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One to four random byte-level edits."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:  # bit flip
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # byte set
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:  # insert random bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and b:  # delete a range
            end = min(len(b), pos + rng.randint(1, 32))
            del b[pos:end]
        elif op == 4:  # truncate
            del b[pos:]
        elif op == 5 and b:  # duplicate a range
            end = min(len(b), pos + rng.randint(1, 64))
            b[pos:pos] = b[pos:end]
        elif op == 6:  # a hostile token
            b[pos:pos] = rng.choice(_TOKENS)
        else:  # splice in a copy of the start
            b[pos:pos] = b[: rng.randint(0, 64)]
    return bytes(b)


def _deep(depth: int, rng: random.Random):
    value: object = rng.choice([0, "x", None])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def hostile_value(rng: random.Random, *, canonical: bool):
    """A value of a surprising JSON type or size; ``canonical`` keeps it signable."""
    choices = [[], {}, [1, 2], {"x": 1}, "", "x" * rng.choice([1, 300, 70000]), 0, -1, 1, 2**63 - 1, -(2**63),
               2**31, True, False, None, "../../etc/passwd", "media/../x", "/abs", "\x00", "\u202e", "ü",
               "0" * 64, "f" * 64, _deep(rng.choice([2, 30, 63]), rng), [[[[None]]]], {"": {"": []}},
               "2026-01-01", [0, 1], [1, 0], [-1, 1], [2**62, 1]]
    if not canonical:
        choices += [1.5, float("nan"), float("inf"), 2**64, -(2**80), 10**400, _deep(200, rng),
                    _deep(5000, rng), ("t",), b"bytes", {1: 2}]
    return rng.choice(choices)  # built afresh on every call: no sharing between mutants


def _paths(obj):
    """Every path into ``obj`` (iteratively, and not below 40 levels: hostile values nest deeper)."""
    out, stack = [], [(obj, ())]
    while stack:
        o, prefix = stack.pop()
        out.append(prefix)
        if len(prefix) >= 40:
            continue
        if isinstance(o, dict):
            stack.extend((v, prefix + (k,)) for k, v in o.items())
        elif isinstance(o, list):
            stack.extend((v, prefix + (i,)) for i, v in enumerate(o))
    return out


def mutate_value(rng: random.Random, obj, *, canonical: bool = True, edits: int | None = None):
    """A copy of a decoded (shallow, seed) JSON value with one to three fields replaced, removed or added."""
    obj = copy.deepcopy(obj)  # the seeds are shallow; hostile values are added after the copy
    for _ in range(edits or rng.randint(1, 3)):
        paths = _paths(obj)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.1:
                return hostile_value(rng, canonical=canonical)
            continue
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rng.randrange(4)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1 and isinstance(parent, dict):
            parent["zz_" + str(rng.randrange(100))] = hostile_value(rng, canonical=canonical)
        elif op == 2 and isinstance(parent, list) and parent:
            parent.append(parent[rng.randrange(len(parent))])
        else:
            parent[key] = hostile_value(rng, canonical=canonical)
    return obj


# --- the corpus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    root = Identity.from_seed("root", "CPD-ROOT", bytes(range(32)))
    cam = Identity.from_seed("camera", "BWC-0001", bytes(range(1, 33)))
    cert = root.certify(cam, days=3650, not_before=1_700_000_000, serial="00ff")
    crl = RevocationList.create(root, [Revocation(revoked_at=1_800_000_000, reason="lost", key_id="ab" * 32),
                                       Revocation(revoked_at=1_800_000_001, reason="x", serial="01")],
                                issued_at=1_750_000_000)
    return root, cam, cert, crl


@pytest.fixture(scope="module")
def small_evidence(tmp_path_factory, keys, make_evidence):
    """Two seconds of video (two one-second segments), signed by the fuzz keys."""
    from bwc_core.capture.synthetic import SyntheticCamera

    root, cam, cert, _ = keys
    d = tmp_path_factory.mktemp("fuzz")
    clip = SyntheticCamera(seconds=2, audio=True, gop=25).write(d / "clip.mp4")
    import time

    cert_now = root.certify(cam, days=30, not_before=int(time.time()) - 86400, serial="0a")
    return make_evidence(d / "evidence", [clip], cam, cert_now, segment_seconds=1), cert_now


def _bodies(evidence: Path) -> list[dict]:
    lines = (evidence / "journal.jsonl").read_bytes().splitlines()
    return [Envelope.from_json(line).body() for line in lines]


def _chain(bodies: list[dict], signer) -> list[bytes]:
    """Sign ``bodies`` in order, each ``prev`` the record hash of the one before (re-chained)."""
    out, prev = [], "0" * 64
    for body in bodies:
        body = dict(body) if isinstance(body, dict) else body
        if isinstance(body, dict) and isinstance(body.get("seq"), int) and body.get("seq") != 0:
            body["prev"] = prev
        try:
            env = sign(RECORD_TYPE, body, signer)
        except CanonicalJSONError:
            continue
        prev = record_hash(env).hex()
        out.append(env.dumps().encode() + b"\n")
    return out


# --- canonical JSON and plain JSON ------------------------------------------------------------


def _canonical_seeds(keys):
    root, cam, cert, crl = keys
    return [cert.envelope.payload, crl.envelope.payload, canonical_bytes({"a": [1, {"b": None}], "c": "ü\n"}),
            canonical_bytes([]), canonical_bytes("x"), canonical_bytes(-(2**63))]


def _fuzz_canonical(keys, n):
    rng = random.Random(SEED)
    seeds = _canonical_seeds(keys)
    for _ in range(n):
        data = mutate_bytes(rng, rng.choice(seeds))
        value, _ = bounded("canonical.parse", parse_canonical, data, allowed=(CanonicalJSONError,))
        if value is not None:  # accepted: it must be canonical, i.e. re-encode to the same bytes
            assert canonical_bytes(value) == data
        bounded("json.load", load_json, data, allowed=(CanonicalJSONError,))
        obj = mutate_value(rng, json.loads(rng.choice(seeds)), canonical=False)
        fast, e1 = bounded("canonical.encode", canonical_bytes, obj, allowed=(CanonicalJSONError,))
        ref, e2 = bounded("canonical.encode", _reference_bytes, obj, allowed=(CanonicalJSONError,))
        assert (e1 is None) == (e2 is None) and fast == ref, obj


def test_fuzz_canonical_json(keys):
    _fuzz_canonical(keys, runs(400))


@pytest.mark.slow
def test_fuzz_canonical_json_long(keys):
    _fuzz_canonical(keys, runs(20000))


# --- envelopes, certificates, revocation lists ------------------------------------------------


def _fuzz_trust(keys, n):
    root, cam, cert, crl = keys
    rng = random.Random(SEED + 1)
    anchors = TrustAnchors([root.public_info()])
    cert_body, crl_body = cert.envelope.body(), crl.envelope.body()
    texts = [cert.envelope.dumps().encode(), crl.envelope.dumps().encode()]
    for _ in range(n):
        data = mutate_bytes(rng, rng.choice(texts))
        bounded("envelope.bytes", Envelope.from_json, data, allowed=(EnvelopeError,))
        env_obj = mutate_value(rng, json.loads(rng.choice(texts)), canonical=False)
        bounded("envelope.value", Envelope.from_json, env_obj, allowed=(EnvelopeError,))
        c, _ = bounded("cert.bytes", Certificate.from_json, data, allowed=(CertificateError,))
        # A mutated body, re-signed by the root: past the signature, into the field checks.
        body = mutate_value(rng, cert_body)
        try:
            env = sign(CERTIFICATE_TYPE, body, root)
        except CanonicalJSONError:
            continue
        c, _ = bounded("cert.signed", Certificate.from_envelope, env, allowed=(CertificateError,))
        if c is not None:
            bounded("cert.verify", anchors.verify_certificate, c, at=rng.choice([0, 1_750_000_000, 2**62]),
                    role=rng.choice([None, "camera", "root"]), allowed=(CertificateError,))
            bounded("cert.revocation", anchors.revocation_for, c, allowed=())
        rl, _ = bounded("crl.bytes", RevocationList.from_json, data, allowed=(CertificateError,))
        body = mutate_value(rng, crl_body)
        try:
            env = sign(REVOCATION_TYPE, body, root)
        except CanonicalJSONError:
            continue
        rl, _ = bounded("crl.signed", RevocationList, env, allowed=(CertificateError,))
        if rl is not None:
            fresh = TrustAnchors([root.public_info()])
            bounded("crl.accept", fresh.add_revocation_list, rl, allowed=(CertificateError,))
            bounded("crl.lookup", fresh.revocation_for, cert, allowed=())


def test_fuzz_envelopes_certificates_revocations(keys):
    _fuzz_trust(keys, runs(150))


@pytest.mark.slow
def test_fuzz_envelopes_certificates_revocations_long(keys):
    _fuzz_trust(keys, runs(5000))


# --- key files and public-key files ------------------------------------------------------------


def _fuzz_key_files(keys, tmp_path, n, encrypted_every=0):
    root, cam, cert, crl = keys
    rng = random.Random(SEED + 2)
    d = tmp_path / "keys"
    d.mkdir()
    cam.save(d / "plain.key")
    cam.save_public(d / "cam.pub.json")
    seeds = {"key": (d / "plain.key").read_bytes(), "pub": (d / "cam.pub.json").read_bytes()}
    if encrypted_every:
        cam.save(d / "enc.key", "pass")
        seeds["enc"] = (d / "enc.key").read_bytes()
    for i in range(n):
        kind = rng.choice(sorted(seeds)) if encrypted_every and i % encrypted_every == 0 else rng.choice(["key", "pub"])
        raw = seeds[kind]
        if rng.random() < 0.5:
            data = mutate_bytes(rng, raw)
        else:
            doc = mutate_value(rng, json.loads(raw), canonical=False)
            if kind == "enc" and isinstance(doc, dict):  # never ask Argon2id for a gigabyte per input
                doc["opslimit"], doc["memlimit"] = json.loads(raw)["opslimit"], json.loads(raw)["memlimit"]
            try:
                data = json.dumps(doc).encode()
            except (ValueError, TypeError, RecursionError):
                continue
        path = d / f"f{i}"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if kind == "pub":
            bounded("pubkey.file", PublicIdentity.load, path, allowed=(KeyFileError,))
        else:
            bounded("key.file", Identity.load, path, "pass" if kind == "enc" else None, allowed=(KeyFileError,))
        path.unlink()


def test_fuzz_key_files(keys, tmp_path):
    _fuzz_key_files(keys, tmp_path, runs(200))


@pytest.mark.slow
def test_fuzz_key_files_long(keys, tmp_path):
    _fuzz_key_files(keys, tmp_path, runs(4000), encrypted_every=40)


# --- journal lines and records -----------------------------------------------------------------


def _fuzz_journal(keys, small_evidence, n):
    evidence, cert_now = small_evidence
    root, cam, _, _ = keys
    rng = random.Random(SEED + 3)
    anchors = TrustAnchors([root.public_info()])
    lines = (evidence / "journal.jsonl").read_bytes().splitlines(keepends=True)
    bodies = _bodies(evidence)
    cert_body = cert_now.envelope.body()
    for _ in range(n):
        # Mutated bytes of one line (signature fails: findings).
        mutated = list(lines)
        k = rng.randrange(len(mutated))
        mutated[k] = mutate_bytes(rng, mutated[k])
        if rng.random() < 0.2:
            rng.shuffle(mutated)
        bounded("journal.bytes", validate_chain, mutated, anchors, allowed=())
        # A mutated body, re-signed by the device key and re-chained: the record
        # parser and the chain rules see a validly signed hostile record.
        edited = list(bodies)
        k = rng.randrange(len(edited))
        edited[k] = mutate_value(rng, edited[k])
        bounded("journal.signed", validate_chain, _chain(edited, cam), anchors, allowed=())
        # The genesis certificate with a mutated body, re-signed by the root.
        try:
            env = sign(CERTIFICATE_TYPE, mutate_value(rng, cert_body), root)
        except CanonicalJSONError:
            continue
        edited = list(bodies)
        edited[0] = {**edited[0], "certificate": env.to_json()}
        bounded("journal.genesis_cert", validate_chain, _chain(edited, cam), anchors, allowed=())


def test_fuzz_journal(keys, small_evidence):
    _fuzz_journal(keys, small_evidence, runs(60))


@pytest.mark.slow
def test_fuzz_journal_long(keys, small_evidence):
    _fuzz_journal(keys, small_evidence, runs(2000))


def test_record_with_hostile_type_is_a_finding(keys, small_evidence):
    """The issue's case: ``type`` an array or object (unhashable) must be a finding, not a TypeError."""
    evidence, _ = small_evidence
    root, cam, _, _ = keys
    bodies = _bodies(evidence)
    for value in ([], ["segment"], {"a": 1}, 7, None, True):
        edited = [dict(b) for b in bodies]
        edited[2]["type"] = value
        findings = validate_chain(_chain(edited, cam), TrustAnchors([root.public_info()]))
        bad = [f for f in findings if f.code == "journal.malformed_line"]
        assert bad and "type must be a string" in bad[0].message, (value, findings)


def _fuzz_verify(keys, small_evidence, tmp_path, n):
    """Whole verification of an evidence directory whose journal holds one hostile signed record."""
    from bwc_core.verify import verify_evidence

    evidence, cert_now = small_evidence
    root, cam, _, _ = keys
    rng = random.Random(SEED + 4)
    work = tmp_path / "ev"
    shutil.copytree(evidence, work)
    bodies = _bodies(evidence)
    anchors = TrustAnchors([root.public_info()])
    for _ in range(n):
        edited = list(bodies)
        for _ in range(rng.choice([1, 1, 2])):
            k = rng.randrange(1, len(edited))  # keep the genesis: the device key stays usable
            edited[k] = mutate_value(rng, edited[k])
        (work / "journal.jsonl").write_bytes(b"".join(_chain(edited, cam)))
        report, exc = bounded("verify.signed", verify_evidence, work, anchors, workers=1,
                              allowed=(errors.JournalError,), seconds=BOUND_VERIFY)
        assert report is not None, exc  # the genesis is intact: the journal is always readable
        if report is not None:
            report.to_json()  # the report of a hostile journal must serialize too
            json.dumps(report.to_json())


def test_fuzz_verify_evidence(keys, small_evidence, tmp_path):
    _fuzz_verify(keys, small_evidence, tmp_path, runs(25))


@pytest.mark.slow
def test_fuzz_verify_evidence_long(keys, small_evidence, tmp_path):
    _fuzz_verify(keys, small_evidence, tmp_path, runs(600))


# --- .leaves sidecars ---------------------------------------------------------------------------


def _fuzz_leaves(small_evidence, n):
    evidence, _ = small_evidence
    rng = random.Random(SEED + 5)
    seeds = [p.read_bytes() for p in sorted((evidence / "media").rglob("*.leaves"))]
    assert seeds
    for _ in range(n):
        data = mutate_bytes(rng, rng.choice(seeds))
        bounded("leaves.bytes", parse_leaves, data, allowed=(LeavesError,))


def test_fuzz_leaves(small_evidence):
    _fuzz_leaves(small_evidence, runs(1500))


@pytest.mark.slow
def test_fuzz_leaves_long(small_evidence):
    _fuzz_leaves(small_evidence, runs(50000))


# --- exhibit manifests and zips ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_exhibit(small_evidence, keys, tmp_path_factory):
    from bwc_core.exhibit.build import build_exhibit

    evidence, _ = small_evidence
    root = keys[0]
    d = tmp_path_factory.mktemp("fuzzex")
    root.save_public(d / "root.pub.json")
    server = Identity.from_seed("server", "CPD-EVIDENCE", bytes(range(2, 34)))
    import time

    signed = {"identity": server, "cert": root.certify(server, days=30, not_before=int(time.time()) - 86400)}
    folder = build_exhibit(evidence, "REC-001", d / "exhibit", trust=[d / "root.pub.json"], **signed)
    zipped = build_exhibit(evidence, "REC-001", d / "exhibit2", trust=[d / "root.pub.json"], as_zip=True, **signed)
    clip = build_exhibit(evidence, "REC-001", d / "exhibit3", start=0.5, end=1.5, trust=[d / "root.pub.json"],
                         **signed)
    return folder, zipped, clip, server


def _fuzz_exhibit(keys, small_exhibit, tmp_path, n):
    from bwc_core.format.envelope import EXHIBIT_TYPE
    from bwc_core.format.layout import EXHIBIT_MANIFEST
    from bwc_core.verify.archive import safe_extract
    from bwc_core.verify.exhibit import verify_exhibit

    folder, zipped, clip, server = small_exhibit
    rng = random.Random(SEED + 6)
    anchors = TrustAnchors([keys[0].public_info()])
    works = []
    for src in (folder, clip):
        works.append(tmp_path / src.name)
        shutil.copytree(src, works[-1])
    zip_bytes = Path(zipped).read_bytes()
    for i in range(n):
        work = works[i % 2]
        manifest = ((folder, clip)[i % 2] / EXHIBIT_MANIFEST).read_bytes()
        r = rng.random()
        if r < 0.3:
            data = mutate_bytes(rng, manifest)
        elif r < 0.5:
            doc = mutate_value(rng, json.loads(manifest), canonical=False)
            try:
                data = json.dumps(doc).encode()
            except (ValueError, TypeError, RecursionError):
                continue
        else:
            # The declared content mutated and re-signed by the exporting server's key:
            # past the signature, into the checks of every declared field.
            body = mutate_value(rng, Envelope.from_json(manifest).body())
            try:
                data = json.dumps(sign(EXHIBIT_TYPE, body, server).to_json()).encode()
            except CanonicalJSONError:
                continue
        (work / EXHIBIT_MANIFEST).write_bytes(data)
        report, _ = bounded("exhibit.manifest", verify_exhibit, work, anchors, allowed=(BwcError,),
                            seconds=BOUND_VERIFY)
        if report is not None:
            json.dumps(report.to_json())
        z = tmp_path / f"z{i}.zip"
        z.write_bytes(mutate_bytes(rng, zip_bytes))

        def extract(path):
            with safe_extract(path) as d:
                return sorted(p.name for p in d.rglob("*"))

        bounded("exhibit.zip", extract, z, allowed=(BwcError,))
        z.unlink()


def test_fuzz_exhibit(keys, small_exhibit, tmp_path):
    _fuzz_exhibit(keys, small_exhibit, tmp_path, runs(15))


@pytest.mark.slow
def test_fuzz_exhibit_long(keys, small_exhibit, tmp_path):
    _fuzz_exhibit(keys, small_exhibit, tmp_path, runs(400))

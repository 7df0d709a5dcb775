"""Bad input: zip bombs, deep JSON, nan/inf, FIFOs, key permissions, broken pipes, malformed records.

The contract: corrupt, hostile, huge or deeply nested input gets a typed
error (exit 2, one line) or a finding, never a traceback, a hang or silent
acceptance. Inputs that could block (FIFOs) are run in a subprocess under a
timeout, so the old behaviour (blocking for ever) fails the test instead of
hanging it. Attacks on media evidence are parametrized over the containers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from bwc_core.cli import main
from bwc_core.errors import CertificateError, KeyFileError, UnsafePathError
from bwc_core.exhibit.build import build_exhibit
from bwc_core.format.envelope import RECORD_TYPE, Envelope, record_hash, sign
from bwc_core.format.keys import Certificate, Identity, PublicIdentity, RevocationList, TrustAnchors
from bwc_core.verify import verify_evidence
from bwc_core.verify.archive import extract_budget, safe_extract
from bwc_core.verify.exhibit import verify_exhibit

CONTAINERS = ["mp4", "mkv", "ts"]
BWC = str(Path(sys.executable).with_name("bwc"))
#: A process that blocks on a FIFO never ends; one that refuses it ends at once.
TIMEOUT = 60


def run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> None:
    assert err.startswith("bwc: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in err, err


def bwc(*argv, timeout=TIMEOUT, **kwargs):
    """The installed ``bwc`` script in a subprocess: a hang is a TimeoutExpired (test failure)."""
    return subprocess.run([BWC, *map(str, argv)], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from bwc_core.capture.synthetic import SyntheticCamera

    d = tmp_path_factory.mktemp("badclips")
    return {"av": SyntheticCamera(seconds=3, gop=25).write(d / "av.mp4")}


@pytest.fixture(scope="module")
def evidence_by_container(tmp_path_factory, trust, clips, make_evidence):
    """Pristine evidence, one directory per segment container (copy before tampering)."""
    out = {}
    for c in CONTAINERS:
        d = tmp_path_factory.mktemp(f"bad-{c}") / "evidence"
        out[c] = make_evidence(d, [clips["av"]], trust.cam, trust.cert, segment_seconds=1, container=c)
    return out


@pytest.fixture
def ev(request, evidence_by_container, tmp_path):
    """A private copy of the pristine evidence in container ``request.param``."""
    dst = tmp_path / "ev"
    shutil.copytree(evidence_by_container[request.param], dst)
    return dst


def deep_json(depth=20000) -> bytes:
    return b"[" * depth + b"]" * depth


def _bodies(evidence: Path) -> list[dict]:
    return [Envelope.from_json(line).body() for line in (evidence / "journal.jsonl").read_bytes().splitlines()]


def _write_chain(evidence: Path, bodies: list, signer) -> None:
    """Sign ``bodies`` as the device would, each ``prev`` the hash of the record before."""
    lines, prev = [], "0" * 64
    for body in bodies:
        if isinstance(body, dict) and isinstance(body.get("seq"), int) and body["seq"] != 0 \
                and isinstance(body.get("prev"), str):
            body = {**body, "prev": prev}
        env = sign(RECORD_TYPE, body, signer)
        prev = record_hash(env).hex()
        lines.append(env.dumps().encode() + b"\n")
    (evidence / "journal.jsonl").write_bytes(b"".join(lines))


# --- 13. zip bombs ----------------------------------------------------------------------------


def _bomb(path: Path, members: int, size: int = 1 << 20) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("exhibit.json", "{}")
        zero = bytes(size)
        for i in range(members):
            zf.writestr(f"media/{i:05d}.bin", zero)
    return path


def test_zip_of_many_one_mib_members_is_refused_before_extracting(tmp_path, trust, capsys, monkeypatch):
    """The issue's bomb: 1 MiB zero-filled members (each under the per-member ratio check)
    that together expand far past the zip's size. Refused, nothing left behind."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    z = _bomb(tmp_path / "bomb.zip", 96)  # 96 MiB from ~100 KB
    assert z.stat().st_size < 1 << 20 and extract_budget(z.stat().st_size) < 96 << 20
    t0 = time.monotonic()
    with pytest.raises(UnsafePathError, match="extraction budget"):
        with safe_extract(z):
            pass
    assert time.monotonic() - t0 < 10
    assert list(scratch.iterdir()) == []  # the temporary directory is gone
    code, out, err = run(capsys, "verify", z, "--trust", trust.root_pub)
    assert code == 2 and out == ""
    one_line_error(err)
    assert "budget" in err


def test_zip_budget_counts_bytes_as_they_are_streamed(tmp_path, monkeypatch):
    """An explicit budget below what members yield stops the extraction and cleans up."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    z = tmp_path / "small.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("exhibit.json", "{}")
        zf.writestr("media/a.bin", b"a" * 5000)
    with pytest.raises(UnsafePathError, match="budget"):
        with safe_extract(z, max_bytes=4000):
            pass
    assert list(scratch.iterdir()) == []
    with safe_extract(z, max_bytes=6000) as d:
        assert (d / "media" / "a.bin").stat().st_size == 5000


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_pristine_zip_exhibit_verifies_within_the_default_budget(ev, trust, tmp_path, capsys):
    target = build_exhibit(ev, "REC-001", tmp_path / "exhibit", trust=[trust.root_pub], as_zip=True,
                           **trust.signed)
    code, out, err = run(capsys, "verify", target, "--trust", trust.root_pub)
    assert code == 0 and out.startswith("PASS"), out + err


def test_zip_path_that_is_a_fifo_is_refused_unread(tmp_path):
    fifo = tmp_path / "x.zip"
    os.mkfifo(fifo)
    code = ("import sys\nfrom bwc_core.verify.archive import safe_extract\n"
            "try:\n    safe_extract(sys.argv[1]).__enter__()\nexcept Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout.startswith("ExhibitError") and "regular file" in proc.stdout


# --- 14a. deeply nested JSON --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["trust", "revocations", "subject", "issuer", "cert", "key", "exhibit"])
def test_deep_json_is_a_one_line_error(where, trust, evidence_by_container, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_bytes(deep_json())
    os.chmod(deep, 0o600)
    ev = evidence_by_container["mp4"]
    if where == "trust":
        argv = ["verify", ev, "--trust", deep]
    elif where == "revocations":
        argv = ["verify", ev, "--trust", trust.root_pub, "--revocations", deep]
    elif where == "subject":
        argv = ["certify", "--issuer", trust.dir / "CPD-ROOT.key", "--subject", deep, "--days", 1,
                "--out", tmp_path / "c.json"]
    elif where == "issuer":
        argv = ["certify", "--issuer", deep, "--subject", trust.dir / "BWC-0001.pub.json", "--days", 1,
                "--out", tmp_path / "c.json"]
    elif where == "cert":
        argv = ["seal", ev / "media" / "REC-001" / "REC-001-00000.mp4", "--key", trust.cam_key, "--cert", deep,
                "--out", tmp_path / "out"]
    elif where == "key":
        argv = ["seal", ev / "media" / "REC-001" / "REC-001-00000.mp4", "--key", deep, "--cert",
                trust.cert_path, "--out", tmp_path / "out"]
    else:
        ex = build_exhibit(ev, "REC-001", tmp_path / "exhibit", trust=[trust.root_pub], **trust.signed)
        (ex / "exhibit.json").write_bytes(deep_json())
        argv = ["verify", ex, "--trust", trust.root_pub]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    one_line_error(err)
    assert "RecursionError" not in err


def test_deep_json_library_errors_are_typed(tmp_path, trust):
    deep = tmp_path / "deep.json"
    deep.write_bytes(deep_json())
    os.chmod(deep, 0o600)
    with pytest.raises(KeyFileError, match="deeper than"):
        PublicIdentity.load(deep)
    with pytest.raises(KeyFileError, match="deeper than"):
        Identity.load(deep)
    with pytest.raises(CertificateError):
        Certificate.load(deep)
    with pytest.raises(CertificateError):
        RevocationList.load(deep)
    # Shallow enough for the parser, deeper than any bwc-core document: refused too.
    deep.write_bytes(deep_json(200))
    with pytest.raises(KeyFileError, match="deeper than"):
        PublicIdentity.load(deep)


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_deep_json_journal_line_is_a_finding(ev, trust, capsys):
    with open(ev / "journal.jsonl", "ab") as fh:
        fh.write(deep_json() + b"\n")
    code, out, err = run(capsys, "verify", ev, "--trust", trust.root_pub, "--json")
    report = json.loads(out)
    assert code == 1 and err == ""
    assert [f["code"] for f in report["findings"]] == ["journal.malformed_line"]


# --- 14b. nan / inf / negative / inverted times ---------------------------------------------------


@pytest.mark.parametrize("start, end, words", [
    ("nan", "2", "--start"), ("0", "inf", "--end"), ("-inf", "1", "--start"), ("0", "NaN", "--end"),
    ("-1", "2", "--start"), ("1e400", None, "--start"), ("2", "1", "after --start"), ("1", "1", "after --start"),
])
def test_exhibit_times_must_be_finite_and_ordered(start, end, words, evidence_by_container, trust, tmp_path,
                                                  capsys):
    argv = ["exhibit", evidence_by_container["mp4"], "--recording", "REC-001", "--out", tmp_path / "x",
            "--key", trust.server_key, "--cert", trust.server_cert_path, f"--start={start}"]
    if end is not None:
        argv.append(f"--end={end}")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    one_line_error(err)
    assert words in err
    assert not (tmp_path / "x").exists()


# --- 14c. FIFOs, devices and directories where a file is expected ------------------------------------


@pytest.mark.parametrize("what", ["trust", "revocations", "subject", "issuer", "cert", "key"])
def test_fifo_as_key_certificate_or_list_is_refused_without_blocking(what, trust, evidence_by_container,
                                                                     clips, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    ev = evidence_by_container["mp4"]
    argv = {
        "trust": ["verify", ev, "--trust", fifo],
        "revocations": ["verify", ev, "--trust", trust.root_pub, "--revocations", fifo],
        "subject": ["certify", "--issuer", trust.dir / "CPD-ROOT.key", "--subject", fifo, "--days", 1,
                    "--out", tmp_path / "c.json"],
        "issuer": ["certify", "--issuer", fifo, "--subject", trust.dir / "BWC-0001.pub.json", "--days", 1,
                   "--out", tmp_path / "c.json"],
        "cert": ["seal", clips["av"], "--key", trust.cam_key, "--cert", fifo, "--out", tmp_path / "o"],
        "key": ["seal", clips["av"], "--key", fifo, "--cert", trust.cert_path, "--out", tmp_path / "o"],
    }[what]
    proc = bwc(*argv)
    assert proc.returncode == 2 and proc.stdout == ""
    one_line_error(proc.stderr)
    assert "FIFO" in proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_seal_refuses_a_media_input_that_is_not_a_regular_file(kind, container, trust, clips, tmp_path):
    if kind == "fifo":
        bad = tmp_path / "cam.mp4"
        os.mkfifo(bad)
    elif kind == "device":
        bad = Path("/dev/zero")
    else:
        bad = tmp_path / "dir.mp4"
        bad.mkdir()
    proc = bwc("seal", clips["av"], bad, "--key", trust.cam_key, "--cert", trust.cert_path,
               "--container", container, "--out", tmp_path / "ev")
    assert proc.returncode == 2 and proc.stdout == ""
    one_line_error(proc.stderr)
    assert "not a regular file" in proc.stderr
    assert not (tmp_path / "ev").exists()  # refused before anything was written


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("target", ["segment", "leaves", "journal", "exhibit.json"])
def test_fifo_inside_evidence_is_refused_or_a_finding_without_blocking(ev, target, trust):
    seg = sorted((ev / "media" / "REC-001").glob("REC-001-00000.*"))[0]
    path = {"segment": seg, "leaves": Path(str(seg) + ".leaves"), "journal": ev / "journal.jsonl",
            "exhibit.json": ev / "exhibit.json"}[target]
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    proc = bwc("verify", ev, "--trust", trust.root_pub)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if target in ("journal", "exhibit.json"):  # the input as a whole is unreadable
        assert proc.returncode == 2 and proc.stdout == ""
        one_line_error(proc.stderr)
        assert "regular file" in proc.stderr
    else:
        assert proc.returncode == 1
        assert ("segment.bad_path" if target == "segment" else "segment.leaves_missing") in proc.stdout


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_pristine_evidence_still_verifies(ev, trust):
    proc = bwc("verify", ev, "--trust", trust.root_pub)
    assert proc.returncode == 0 and proc.stdout.startswith("PASS") and proc.stderr == "", proc.stdout


def test_passphrase_may_come_from_a_pipe(trust, tmp_path):
    """Unlike key files, a passphrase is commonly given through a pipe: it is read, not refused."""
    cam = Identity.generate("camera", "BWC-0003")
    cam.save(tmp_path / "cam.key", "pw from a pipe")
    trust.root.certify(cam, days=2).save(tmp_path / "cam.cert.json")
    out = tmp_path / "pk.json"
    proc = subprocess.run(["bash", "-c", f"'{BWC}' certify --issuer '{trust.dir / 'CPD-ROOT.key'}' "
                           f"--subject '{trust.dir / 'BWC-0001.pub.json'}' --days 1 --out '{out}' "
                           f"--passphrase-file <(echo wrong)"], capture_output=True, text=True, timeout=TIMEOUT)
    # The root key is not encrypted: the passphrase from the pipe was read and found superfluous.
    assert proc.returncode == 2 and "not encrypted" in proc.stderr, proc.stderr


def test_library_loaders_refuse_fifo_and_directory(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = (
        "import sys\n"
        "from bwc_core.format.keys import Identity, PublicIdentity, Certificate, RevocationList\n"
        "from bwc_core.format.journal import read_lines\n"
        "for fn in (Identity.load, PublicIdentity.load, Certificate.load, RevocationList.load, read_lines):\n"
        "    for p in sys.argv[1:]:\n"
        "        try:\n            fn(p)\n        except Exception as e:\n"
        "            print(type(e).__name__, 'regular file' in str(e))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(fifo), str(tmp_path)], capture_output=True,
                          text=True, timeout=TIMEOUT)
    lines = proc.stdout.splitlines()
    assert len(lines) == 10, proc.stdout + proc.stderr
    assert lines[-1] == "JournalError False"  # read_lines(directory) reads directory/journal.jsonl
    lines = lines[:-1]
    assert all(line.endswith("True") for line in lines), lines
    assert {line.split()[0] for line in lines} <= {"KeyFileError", "JournalError"}


# --- 14d. private key permissions -------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700])
def test_private_key_open_to_others_is_refused(mode, trust, tmp_path, capsys):
    key = tmp_path / "root.key"
    shutil.copy(trust.dir / "CPD-ROOT.key", key)
    os.chmod(key, mode)
    argv = ["certify", "--issuer", key, "--subject", trust.dir / "BWC-0001.pub.json", "--days", 1]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "c1.json")
    if mode & 0o077:
        assert code == 2 and out == ""
        one_line_error(err)
        assert f"{mode:04o}" in err and "--allow-open-key" in err
        assert not (tmp_path / "c1.json").exists()
        with pytest.raises(KeyFileError, match="group or others"):
            Identity.load(key)
        # The explicit override.
        code, out, err = run(capsys, *argv, "--out", tmp_path / "c2.json", "--allow-open-key")
        assert code == 0 and (tmp_path / "c2.json").is_file()
        assert Identity.load(key, allow_open_permissions=True).key_id == trust.root.key_id
    else:
        assert code == 0, err


def test_encrypted_key_open_to_others_is_refused_too(tmp_path, capsys, trust, clips):
    cam = Identity.generate("camera", "BWC-0002")
    cam.save(tmp_path / "cam.key", "secret pass")
    os.chmod(tmp_path / "cam.key", 0o644)
    with pytest.raises(KeyFileError, match="group or others"):
        Identity.load(tmp_path / "cam.key", "secret pass")
    cert = trust.root.certify(cam, days=2)
    cert.save(tmp_path / "cam.cert.json")
    (tmp_path / "pass").write_text("secret pass\n")
    argv = ["seal", clips["av"], "--key", tmp_path / "cam.key", "--cert", tmp_path / "cam.cert.json",
            "--passphrase-file", tmp_path / "pass", "--out", tmp_path / "ev"]
    code, out, err = run(capsys, *argv)
    assert code == 2
    one_line_error(err)
    code, out, err = run(capsys, *argv, "--allow-open-key")
    assert code == 0, err


# --- 14e. a closed stdout pipe ---------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_verify_into_a_closed_pipe_ends_quietly(extra, evidence_by_container, trust):
    """The reader is gone before bwc writes: no "Broken pipe", the verdict's exit code."""
    ev = evidence_by_container["mp4"]
    proc = subprocess.Popen([BWC, "verify", str(ev), "--trust", str(trust.root_pub), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the only reader: every write now fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=TIMEOUT) == 0
    assert err == "", err


def test_verify_piped_into_head(evidence_by_container, trust):
    ev = evidence_by_container["mp4"]
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"'{BWC}' verify '{ev}' --trust '{trust.root_pub}' --json | head -c 1"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout == "{" and proc.stderr == "" and proc.returncode == 0


def test_failed_verify_into_a_closed_pipe_keeps_exit_1(evidence_by_container, trust, tmp_path):
    ev = tmp_path / "ev"
    shutil.copytree(evidence_by_container["mp4"], ev)
    seg = ev / "media" / "REC-001" / "REC-001-00000.mp4"
    seg.write_bytes(seg.read_bytes()[: seg.stat().st_size // 2])  # packets lost: an error
    proc = subprocess.Popen([BWC, "verify", str(ev), "--trust", str(trust.root_pub)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=TIMEOUT) == 1 and err == ""


# --- 14f. malformed signed records become findings ------------------------------------------------


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("field, value, words", [
    ("type", ["segment"], "type must be a string"),
    ("type", {"a": 1}, "type must be a string"),
    ("type", 7, "type must be a string"),
    ("type", None, "type must be a string"),
    ("seq", "3", "seq must be"),
    ("seq", [3], "seq must be"),
    ("time", "now", "time must be"),
    ("prev", 0, "prev must be"),
    ("device", {"id": 1}, "device must be"),
    ("body", [], "not a JSON object"),
])
def test_malformed_signed_record_is_a_finding(ev, field, value, words, trust, capsys):
    """A record the device key really signed, whose fields have the wrong JSON type."""
    bodies = _bodies(ev)
    k = next(i for i, b in enumerate(bodies) if b["type"] == "segment")
    bodies[k] = value if field == "body" else {**bodies[k], field: value}
    _write_chain(ev, bodies, trust.cam)
    code, out, err = run(capsys, "verify", ev, "--trust", trust.root_pub, "--json")
    assert code == 1 and err == "", err
    findings = json.loads(out)["findings"]
    bad = [f for f in findings if f["code"] == "journal.malformed_line"]
    assert bad and words in bad[0]["message"], findings


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("field, value", [
    ("size", "12"), ("size", [1]), ("index", 2**63 - 1), ("index", -5), ("digests", [1, 2]),
    ("leaves", "x"), ("spans", 7), ("streams", {"0": 1}), ("file", ["media/x"]), ("recording", ["REC-001"]),
    ("content_root", 5), ("start", [1, 0]), ("end", "soon"),
])
def test_hostile_segment_field_never_raises(ev, field, value, trust):
    """A signed segment record with a field of a hostile type or size: verification and its
    report complete (whether the field's type is itself a finding is the record-field
    schema's rule, ``journal.malformed_record``)."""
    bodies = _bodies(ev)
    k = next(i for i, b in enumerate(bodies) if b["type"] == "segment")
    bodies[k] = {**bodies[k], field: value}
    _write_chain(ev, bodies, trust.cam)
    report = verify_evidence(ev, TrustAnchors([trust.root.public_info()]))
    json.dumps(report.to_json())


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_huge_seq_does_not_hang(ev, trust):
    """A signed seq near 2**63 made the gap search count up to it (for ever)."""
    bodies = _bodies(ev)
    bodies[-1] = {**bodies[-1], "seq": 2**63 - 1}
    _write_chain(ev, bodies, trust.cam)
    proc = bwc("verify", ev, "--trust", trust.root_pub, "--json")
    assert proc.returncode == 1 and proc.stderr == ""
    codes = {f["code"] for f in json.loads(proc.stdout)["findings"]}
    assert "journal.gap" in codes


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
def test_event_with_unusable_kind_is_a_finding(ev, trust):
    bodies = _bodies(ev)
    k = next(i for i, b in enumerate(bodies) if b["type"] == "event")
    bodies[k] = {**bodies[k], "kind": ["deactivate"]}
    _write_chain(ev, bodies, trust.cam)
    report = verify_evidence(ev, TrustAnchors([trust.root.public_info()]))
    json.dumps(report.to_json())
    assert {"journal.malformed_line", "journal.malformed_record"} & report.codes()


def test_malformed_genesis_certificate_is_a_finding(evidence_by_container, trust, tmp_path):
    ev = tmp_path / "ev"
    shutil.copytree(evidence_by_container["mp4"], ev)
    bodies = _bodies(ev)
    cert = dict(bodies[0]["certificate"])
    cert["signatures"] = {"keyid": "x"}
    bodies[0] = {**bodies[0], "certificate": cert}
    _write_chain(ev, bodies, trust.cam)
    report = verify_evidence(ev, TrustAnchors([trust.root.public_info()]))
    assert "cert.malformed" in report.codes()


def test_manifest_with_unusable_path_is_a_finding(evidence_by_container, trust, tmp_path):
    ex = build_exhibit(evidence_by_container["mp4"], "REC-001", tmp_path / "exhibit", trust=[trust.root_pub],
                       **trust.signed)
    from bwc_core.format.envelope import EXHIBIT_TYPE

    # The declaration as its (compromised, or buggy) exporting server signs it.
    manifest = Envelope.from_json((ex / "exhibit.json").read_bytes()).body()
    manifest["files"].append({"path": "x" * 300, "size": 1, "digests": {}})
    manifest["files"].append({"path": ["media"], "size": 1})
    manifest["files"].append(7)
    (ex / "exhibit.json").write_text(json.dumps(sign(EXHIBIT_TYPE, manifest, trust.server).to_json()))
    report = verify_exhibit(ex, TrustAnchors([trust.root.public_info()]))
    assert "exhibit.manifest_invalid" in report.codes() and not report.ok


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("target", ["clip", "leaves", "cert"])
def test_fifo_inside_a_clip_exhibit_is_a_finding_without_blocking(ev, target, trust, tmp_path):
    ex = build_exhibit(ev, "REC-001", tmp_path / "exhibit", start=0.5, end=1.5, trust=[trust.root_pub],
                       **trust.signed)
    pattern = {"clip": "clips/*/*", "leaves": "media/*/*.leaves", "cert": "certs/*"}[target]
    path = sorted(ex.glob(pattern))[0]
    path.unlink()
    os.mkfifo(path)
    proc = bwc("verify", ex, "--trust", trust.root_pub)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "exhibit.file_missing" in proc.stdout

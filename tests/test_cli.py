"""The ``bwc`` command line: version, help, usage errors, the demo, keygen, certify, seal, verify."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import av
import pytest

import bwc_core
from bwc_core import cli
from bwc_core.cli import main
from bwc_core.errors import KeyFileError
from bwc_core.format.keys import Certificate, Identity, PublicIdentity, TrustAnchors


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse: --help, --version and usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> None:
    assert err.startswith("bwc: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """root + camera made with the CLI itself (camera key encrypted)."""
    d = tmp_path_factory.mktemp("cli-keys")
    (d / "pass.txt").write_text("correct horse battery staple\n")
    assert cli.main(["keygen", "root", "CPD-ROOT", "--out", str(d)]) == 0
    assert cli.main(["keygen", "camera", "BWC-0007", "--out", str(d),
                     "--passphrase-file", str(d / "pass.txt")]) == 0
    assert cli.main(["certify", "--issuer", str(d / "CPD-ROOT.key"), "--subject",
                     str(d / "BWC-0007.pub.json"), "--days", "30", "--out", str(d / "BWC-0007.cert")]) == 0
    return d


def test_keygen_writes_private_and_public_files(keys):
    key = keys / "CPD-ROOT.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ident = Identity.load(key)
    pub = PublicIdentity.load(keys / "CPD-ROOT.pub.json")
    assert pub.key_id == ident.key_id and pub.role == "root"
    with pytest.raises(KeyFileError, match="passphrase is required"):
        Identity.load(keys / "BWC-0007.key")  # encrypted: needs the passphrase
    cam = Identity.load(keys / "BWC-0007.key", "correct horse battery staple")
    assert cam.role == "camera"


def test_certify_issues_a_trusted_certificate(keys):
    cert = Certificate.load(keys / "BWC-0007.cert")
    anchors = TrustAnchors([keys / "CPD-ROOT.pub.json"])
    assert anchors.verify_certificate(cert, role="camera").subject == "BWC-0007"
    assert cert.not_after - cert.not_before == 30 * 86400


def test_keygen_refuses_to_overwrite(keys, capsys):
    code, _, err = run(capsys, "keygen", "root", "CPD-ROOT", "--out", str(keys))
    assert code == 2
    one_line_error(err)


def test_seal_then_verify(keys, tmp_path, av_clip, video_clip, capsys):
    ev = tmp_path / "ev"
    code, out, err = run(capsys, "seal", str(av_clip), str(video_clip), "--key", str(keys / "BWC-0007.key"),
                         "--cert", str(keys / "BWC-0007.cert"), "--out", str(ev), "--segment-seconds", "3",
                         "--passphrase-file", str(keys / "pass.txt"))
    assert code == 0, err
    assert out.count("sealed ") == 2
    code, out, err = run(capsys, "verify", str(ev), "--trust", str(keys / "CPD-ROOT.pub.json"), "--json")
    assert code == 0 and err == ""
    rep = json.loads(out)
    assert rep["ok"] and len(rep["recordings"]) == 2
    r1, r2 = rep["recordings"]
    assert r1["trigger"] == r2["trigger"] == "import"
    assert r1["close_reason"] == "import_complete"
    assert len(r1["segments"]) >= 2 and all(s["status"] == "ok" for s in r1["segments"])
    # Seal appends to an existing evidence directory.
    code, _, err = run(capsys, "seal", str(video_clip), "--key", str(keys / "BWC-0007.key"),
                       "--cert", str(keys / "BWC-0007.cert"), "--out", str(ev),
                       "--passphrase-file", str(keys / "pass.txt"))
    assert code == 0, err
    code, out, _ = run(capsys, "verify", str(ev), "--trust", str(keys / "CPD-ROOT.pub.json"), "--json")
    assert code == 0 and len(json.loads(out)["recordings"]) == 3


def test_seal_failing_part_way_keeps_and_signs_what_it_wrote(keys, tmp_path, av_clip, capsys):
    """An MPEG-TS source whose timeline starts below zero (a 33-bit wrap) sealed into Matroska,
    which cannot store such timestamps: the first segment is refused after writing; every
    segment finished is journaled, the files left are signed as lost, the import is reported."""
    from bwc_core.media.source import MediaSource
    from bwc_core.media.writers import write_packets

    source = tmp_path / "wrapped.ts"
    with MediaSource(av_clip) as src:
        shifted = []
        for p in src.packets():
            d = int(-3 / p.time_base)
            shifted.append(p.replace(pts=p.pts + d, dts=p.dts + d))
        write_packets(source, src.streams, shifted, container="ts", live=True)  # timestamps as they are
    ev = tmp_path / "ev"
    code, _, err = run(capsys, "seal", str(source), "--key", str(keys / "BWC-0007.key"),
                       "--cert", str(keys / "BWC-0007.cert"), "--out", str(ev), "--segment-seconds", "2",
                       "--container", "mkv", "--passphrase-file", str(keys / "pass.txt"))
    assert code == 2 and "Matroska did not store" in err
    one_line_error(err)
    code, out, _ = run(capsys, "verify", str(ev), "--trust", str(keys / "CPD-ROOT.pub.json"), "--json")
    rep = json.loads(out)
    assert code == 0 and rep["ok"], rep["findings"]
    found = {f["code"] for f in rep["findings"]}
    assert {"recording.import_failed", "segment.lost"} <= found
    (recording,) = rep["recordings"]
    assert recording["close_reason"] == "import_failed"
    # (How many segments finished before the failure surfaced depends on the finisher thread.)
    assert all(s["status"] == "ok" for s in recording["segments"])
    lost = [f["where"]["file"] for f in rep["findings"] if f["code"] == "segment.lost"]
    assert lost and all((ev / rel).is_file() for rel in lost)
    (ev / lost[0]).write_bytes(b"replaced")
    code, out, _ = run(capsys, "verify", str(ev), "--trust", str(keys / "CPD-ROOT.pub.json"), "--json")
    assert code == 1 and "segment.lost_altered" in {f["code"] for f in json.loads(out)["findings"]}


def test_seal_refuses_non_media_and_writes_nothing(keys, tmp_path, capsys):
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n")
    ev = tmp_path / "ev"
    code, _, err = run(capsys, "seal", str(junk), "--key", str(keys / "BWC-0007.key"),
                       "--cert", str(keys / "BWC-0007.cert"), "--out", str(ev),
                       "--passphrase-file", str(keys / "pass.txt"))
    assert code == 2
    one_line_error(err)
    assert not ev.exists()


def test_seal_refuses_a_certificate_for_another_key(keys, tmp_path, av_clip, capsys):
    assert cli.main(["keygen", "camera", "BWC-0008", "--out", str(tmp_path)]) == 0
    code, _, err = run(capsys, "seal", str(av_clip), "--key", str(tmp_path / "BWC-0008.key"),
                       "--cert", str(keys / "BWC-0007.cert"), "--out", str(tmp_path / "ev"))
    assert code == 2
    one_line_error(err)


def test_wrong_passphrase_is_one_line(keys, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("wrong\n")
    code, _, err = run(capsys, "certify", "--issuer", str(keys / "BWC-0007.key"), "--subject",
                       str(keys / "CPD-ROOT.pub.json"), "--days", "1", "--out", str(tmp_path / "c"),
                       "--passphrase-file", str(bad))
    assert code == 2
    one_line_error(err)


def test_camera_cannot_certify(keys, tmp_path, capsys):
    code, _, err = run(capsys, "certify", "--issuer", str(keys / "BWC-0007.key"), "--subject",
                       str(keys / "CPD-ROOT.pub.json"), "--days", "1", "--out", str(tmp_path / "c"),
                       "--passphrase-file", str(keys / "pass.txt"))
    assert code == 2
    one_line_error(err)


@pytest.mark.parametrize("case", ["missing_path", "file_not_dir", "no_journal", "garbage_journal",
                                  "garbage_trust", "missing_trust", "cert_as_trust", "garbage_crl"])
def test_verify_bad_input_exits_2_with_one_line(case, evidence, trust, tmp_path, capsys):
    target, trust_pub, extra = str(evidence), str(trust.root_pub), []
    if case == "missing_path":
        target = str(tmp_path / "nope")
    elif case == "file_not_dir":
        (tmp_path / "f.txt").write_text("x")
        target = str(tmp_path / "f.txt")
    elif case == "no_journal":
        (tmp_path / "empty").mkdir()
        target = str(tmp_path / "empty")
    elif case == "garbage_journal":
        (tmp_path / "g").mkdir()
        (tmp_path / "g" / "journal.jsonl").write_bytes(b"garbage\n{\"also\": 1}\n")
        target = str(tmp_path / "g")
    elif case == "garbage_trust":
        (tmp_path / "t.json").write_text("{not json")
        trust_pub = str(tmp_path / "t.json")
    elif case == "missing_trust":
        trust_pub = str(tmp_path / "absent.pub.json")
    elif case == "cert_as_trust":
        trust_pub = str(trust.cert_path)
    elif case == "garbage_crl":
        (tmp_path / "crl.json").write_text("[]")
        extra = ["--revocations", str(tmp_path / "crl.json")]
    code, out, err = run(capsys, "verify", target, "--trust", trust_pub, "--json", *extra)
    assert code == 2 and out == ""
    one_line_error(err)


def test_usage_errors_exit_2(capsys):
    code, _, err = run(capsys, "verify", "somewhere")  # --trust is required
    assert code == 2 and "--trust" in err
    code, _, err = run(capsys, "keygen", "emperor", "X", "--out", "/tmp")
    assert code == 2
    code, _, _ = run(capsys)
    assert code == 2


def test_help_for_every_command(capsys):
    for name in ("keygen", "certify", "seal", "verify", "exhibit", "demo"):
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and "usage: bwc " + name in out


def test_verify_html_writes_a_self_contained_report(evidence, trust, tmp_path, capsys):
    report = tmp_path / "r.html"
    code, out, err = run(capsys, "verify", str(evidence), "--trust", str(trust.root_pub),
                         "--html", str(report))
    assert code == 0 and err == "" and out.startswith("PASS")
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "data:image/png;base64," in page


def test_console_script_in_a_pipe(evidence, trust):
    """The installed ``bwc`` script: JSON on stdout, nothing on stderr (not a TTY)."""
    bwc = Path(sys.executable).with_name("bwc")
    proc = subprocess.run([bwc, "verify", evidence, "--trust", trust.root_pub, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["ok"] is True
    proc = subprocess.run([bwc, "verify", os.devnull, "--trust", trust.root_pub],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# --- version, help, demo -----------------------------------------------------------------


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert bwc_core.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "bwc_core.cli", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("bwc: error:")
    assert "Traceback" not in proc.stderr
    assert main([]) == 2


def test_demo_runs_the_whole_flow(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "evidence: PASS" in out and "exhibit: clip" in out and "; PASS" in out
    assert (out_dir / "keys" / "root.pub.json").is_file()
    assert (out_dir / "evidence" / "journal.jsonl").is_file()
    assert (out_dir / "exhibit" / "report.html").is_file() and (out_dir / "exhibit" / "VERIFY.txt").is_file()
    code, out, err = run(capsys, "verify", str(out_dir / "exhibit"), "--trust",
                         str(out_dir / "keys" / "root.pub.json"), "--json")
    data = json.loads(out)
    assert code == 0 and data["exhibit"]["mode"] == "clip"
    # The shift's events are in the signed journal: notice, mute/unmute, marker, deactivation reason.
    summary = json.loads(run(capsys, "verify", str(out_dir / "evidence"), "--trust",
                             str(out_dir / "keys" / "root.pub.json"), "--json")[1])["summary"]
    assert summary["activations"] == 2 and summary["deactivation_reasons"] == {
        "event_complete": 1, "victim_request": 1}
    assert summary["mutes"] == 1 and summary["markers"] == 1 and summary["notices"] == 1
    with av.open(str(sorted((out_dir / "evidence" / "media").rglob("*-00000.mp4"))[0])) as container:
        assert len(container.streams.audio) == 1  # live audio kept; buffer audio is dropped by policy
        frames = list(container.decode(video=0))
    assert frames and frames[0].key_frame
    assert main(["demo", "--out", str(out_dir)]) == 0  # a previous demo's output is replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    assert main(["demo", "--out", str(other)]) == 2  # not empty, not a demo: refused
    assert (other / "precious.txt").read_text() == "keep"


def test_verify_against_a_known_head(tmp_path, capsys):
    """--head SEQ:HASH (a dock receipt, an earlier audit) shows what the journal alone cannot:
    its last records removed, or another record at that seq."""
    from bwc_core.format.journal import Journal

    out_dir = tmp_path / "demo"
    assert main(["demo", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    evidence, root_pub = out_dir / "evidence", str(out_dir / "keys" / "root.pub.json")
    records = Journal.open(evidence).records
    head = f"{records[-1].seq}:{records[-1].hash_hex}"
    code, out, _ = run(capsys, "verify", str(evidence), "--trust", root_pub)
    assert code == 0 and f"journal head: {head}" in out  # what an auditor keeps
    earlier = f"{records[3].seq}:{records[3].hash_hex}"
    code, out, _ = run(capsys, "verify", str(evidence), "--trust", root_pub, "--head", head, "--head", earlier,
                       "--json")
    assert code == 0 and json.loads(out)["ok"]
    wrong = f"{records[3].seq}:{records[4].hash_hex}"
    code, out, _ = run(capsys, "verify", str(evidence), "--trust", root_pub, "--head", wrong, "--json")
    assert code == 1 and {f["code"] for f in json.loads(out)["findings"]} == {"journal.head_mismatch"}
    # The last record removed: invisible to the journal alone, caught against the head.
    lines = (evidence / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (evidence / "journal.jsonl").write_bytes(b"".join(lines[:-1]))
    code, out, _ = run(capsys, "verify", str(evidence), "--trust", root_pub, "--json")
    assert code == 0
    code, out, _ = run(capsys, "verify", str(evidence), "--trust", root_pub, "--head", head, "--json")
    assert code == 1 and {f["code"] for f in json.loads(out)["findings"]} == {"journal.head_missing"}
    for bad in ("17", "x:" + "0" * 64, "3:" + "g" * 64):
        code, _, err = run(capsys, "verify", str(evidence), "--trust", root_pub, "--head", bad)
        assert code == 2 and "SEQ:HASH" in err
    code, _, err = run(capsys, "verify", str(out_dir / "exhibit"), "--trust", root_pub, "--head", head)
    assert code == 2
    one_line_error(err)

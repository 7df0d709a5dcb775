"""Court exhibits: whole recordings and clips, built and verified; tampering; hostile zips."""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from bwc_core.cli import main
from bwc_core.errors import ExhibitError, UnsafePathError
from bwc_core.exhibit.build import build_exhibit
from bwc_core.format.content import read_leaves, verify_range_proof
from bwc_core.format.keys import TrustAnchors
from bwc_core.format.layout import EXHIBIT_MANIFEST
from bwc_core.media.commit import content_root
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import open_output
from bwc_core.verify.archive import safe_extract
from bwc_core.verify.exhibit import verify_exhibit


def run(capsys, *argv):
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def clip_exhibit(tmp_path_factory, evidence, trust):
    """A clip of REC-001 (A+V) from 2.5 s to 5 s: chunks of segments 1 and 2."""
    out = tmp_path_factory.mktemp("exhibit") / "clip"
    return build_exhibit(evidence, "REC-001", out, start=2.5, end=5, trust=[trust.root_pub], **trust.signed)


@pytest.fixture(scope="module")
def whole_zip(tmp_path_factory, evidence, trust):
    out = tmp_path_factory.mktemp("exhibit") / "whole"
    return build_exhibit(evidence, "REC-002", out, trust=[trust.root_pub], as_zip=True, **trust.signed)


@pytest.fixture
def tampered(clip_exhibit, tmp_path):
    copy = tmp_path / "ex"
    shutil.copytree(clip_exhibit, copy)
    return copy


def manifest(path):
    """The signed declaration (the payload of exhibit.json)."""
    from bwc_core.format.envelope import EXHIBIT_TYPE, Envelope

    env = Envelope.from_json((Path(path) / EXHIBIT_MANIFEST).read_text())
    assert env.payload_type == EXHIBIT_TYPE
    return json.loads(env.payload)


def clips_of(m):
    return [e for e in m["segments"] if e["clip"] is not None]


def verify_codes(capsys, path, trust):
    code, out, err = run(capsys, "verify", path, "--trust", trust.root_pub, "--json")
    assert err == ""
    data = json.loads(out)
    return code, {f["code"] for f in data["findings"]}, data


# --- building ------------------------------------------------------------------------------


def test_clip_exhibit_layout_and_proofs(clip_exhibit, evidence):
    m = manifest(clip_exhibit)
    assert m["mode"] == "clip" and m["recording"] == "REC-001"
    assert [c["index"] for c in clips_of(m)] == [1, 2]
    listed = {f["path"] for f in m["files"]}
    for name in ("journal.jsonl", "VERIFY.txt", "report.html", "report.json"):
        assert name in listed
    assert any(p.startswith("certs/") for p in listed) and any(p.startswith("trust/") for p in listed)
    for e in clips_of(m):
        c = e["clip"]
        # The clip re-demuxes to exactly the proven chunk roots, and the proof leads to the signed root.
        found = content_root(clip_exhibit / c["file"])
        assert [r.hex() for r in found.chunk_roots] == c["chunk_roots"]
        signed = read_leaves(evidence / e["leaves"])
        from bwc_core.format.content import RangeProof

        assert verify_range_proof(RangeProof.from_json(c["proof"]), found.chunk_roots, signed.root)
        assert e["first_chunk"] <= e["last_chunk"]
    # The excerpt: genesis + open..close, contiguous.
    seqs = m["journal"]["seqs"]
    assert seqs[0] == 0 and seqs == list(range(seqs[0], seqs[-1] + 1))
    # Digests in the manifest are what b3sum / sha256sum print.
    entry = next(f for f in m["files"] if f["path"] == clips_of(m)[0]["clip"]["file"])
    import hashlib

    assert entry["digests"]["sha256"] == hashlib.sha256((clip_exhibit / entry["path"]).read_bytes()).hexdigest()


def test_clip_chunks_cover_the_span(clip_exhibit, trust):
    # Positions come from the signed segment records' chunk tables, not from exhibit.json.
    ex = verify_exhibit(clip_exhibit, TrustAnchors([trust.root_pub])).exhibit
    span = ex["span"]
    assert span["start"][0] / span["start"][1] <= 2.5 and span["end"][0] / span["end"][1] >= 5
    assert [c["index"] for c in ex["clips"]] == [1, 2] and ex["signed"]


def test_clip_exhibit_verifies_clean(clip_exhibit, trust, capsys):
    code, codes, data = verify_codes(capsys, clip_exhibit, trust)
    assert code == 0, data["findings"]
    assert data["verdicts"] == {"integrity": "pass", "completeness": "pass", "origin": "pass"}
    assert "exhibit.segment_omitted" in codes  # segments 0 and 3 are outside the clip
    statuses = {s["index"]: s["status"] for s in data["recordings"][0]["segments"]}
    assert statuses == {0: "omitted", 1: "clipped", 2: "clipped", 3: "omitted"}


def test_whole_recording_zip_verifies_clean(whole_zip, trust, capsys):
    assert whole_zip.suffix == ".zip" and zipfile.is_zipfile(whole_zip)
    code, codes, data = verify_codes(capsys, whole_zip, trust)
    assert code == 0, data["findings"]
    assert "exhibit.excerpt" in codes  # REC-002 starts after REC-001's records
    assert all(s["status"] == "ok" for s in data["recordings"][0]["segments"])


def test_verify_txt_has_commands_and_a_worked_example(clip_exhibit, evidence):
    text = (clip_exhibit / "VERIFY.txt").read_text()
    m = manifest(clip_exhibit)
    leaves = clips_of(m)[0]["leaves"]
    assert f"b3sum {leaves}" in text and f"sha256sum {leaves}" in text
    assert 'b3sum --derive-key "bwc-core v1 record"' in text
    assert "DSSEv1" in text and m["certificates"][0]["key_id"] in text
    # The worked example's PAE hex really is the PAE of the recording.open line.
    from bwc_core.format.envelope import Envelope, record_hash

    line = next(ln for ln in (clip_exhibit / "journal.jsonl").read_bytes().splitlines()
                if b"recording.open" in Envelope.from_json(ln).payload)
    env = Envelope.from_json(line)
    assert env.pae()[:32].hex() in text.replace("\n    ", "")
    assert record_hash(env).hex() in text


@pytest.mark.parametrize("container", ["mkv", "ts"])
def test_clip_of_other_containers(container, tmp_path, make_evidence, av_clip, trust, capsys):
    ev = make_evidence(tmp_path / "ev", [av_clip], trust.cam, trust.cert, container=container)
    out = build_exhibit(ev, "REC-001", tmp_path / "ex", start=2.5, end=5, trust=[trust.root_pub], **trust.signed)
    assert all(c["clip"]["file"].endswith("." + container) for c in clips_of(manifest(out)))
    report = verify_exhibit(out, TrustAnchors([trust.root_pub]))
    assert report.ok, [f.message for f in report.findings]
    assert {s.status for s in report.recordings[0].segments} == {"clipped", "omitted"}


def test_build_refuses_bad_requests(evidence, tmp_path, clip_exhibit, trust, capsys):
    with pytest.raises(ExhibitError):
        build_exhibit(evidence, "NOPE", tmp_path / "x", **trust.signed)
    with pytest.raises(ExhibitError):
        build_exhibit(evidence, "REC-001", tmp_path / "y", start=5, end=2, **trust.signed)
    with pytest.raises(ExhibitError, match="signed"):
        build_exhibit(evidence, "REC-001", tmp_path / "v")
    with pytest.raises(ExhibitError, match="server"):  # a camera cannot export
        build_exhibit(evidence, "REC-001", tmp_path / "u", identity=trust.cam, cert=trust.cert)
    keys = ["--key", trust.server_key, "--cert", trust.server_cert_path]
    for argv in (["exhibit", evidence, "--recording", "NOPE", "--out", tmp_path / "z", *keys],
                 ["exhibit", evidence, "--recording", "REC-001", "--out", clip_exhibit, *keys],
                 ["exhibit", evidence, "--recording", "REC-001", "--start", "100", "--end", "200",
                  "--out", tmp_path / "w", *keys]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("bwc: ")
    assert not (tmp_path / "z").exists() and not (tmp_path / "w").exists()


# --- tampering with a clip -------------------------------------------------------------------


def remux(path, edit):
    """Rewrite a clip in place: edit(records) -> records, stream-copied into the same container."""
    found = content_root(path)
    chunk_of = defaultdict(list)
    for p in found.packets:
        chunk_of[p.stream].append(p.chunk)
    with MediaSource(path) as src:
        seen = defaultdict(int)
        records = []
        for r in src.packets():
            records.append((chunk_of[r.stream][seen[r.stream]], r))
            seen[r.stream] += 1
        records = edit(records)
        tmp = Path(str(path) + ".tmp" + Path(path).suffix)
        out, ostreams = open_output(tmp, Path(path).suffix.lstrip("."), src.streams)
        try:
            for _, r in records:
                out.mux(r.to_av(ostreams[r.stream]))
        finally:
            out.close()
    os.replace(tmp, path)


def first_clip(ex):
    return ex / clips_of(manifest(ex))[0]["clip"]["file"]


def test_clip_with_a_chunk_removed(tampered, trust, capsys):
    remux(first_clip(tampered), lambda recs: [(c, r) for c, r in recs if c != 0])
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and "clip.chunk_missing" in codes and "exhibit.file_altered" in codes


def test_clip_with_a_chunk_from_elsewhere(tampered, trust, capsys):
    m = manifest(tampered)
    shutil.copyfile(tampered / clips_of(m)[1]["clip"]["file"], tampered / clips_of(m)[0]["clip"]["file"])
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and "clip.chunk_foreign" in codes


def _video_deltas(recs, chunk=0):
    return [i for i, (c, r) in enumerate(recs) if c == chunk and r.kind == "video" and not r.keyframe]


def test_clip_with_frames_removed_inside_a_chunk(tampered, trust, capsys):
    def drop(recs):
        gone = _video_deltas(recs)[-1]
        return [x for i, x in enumerate(recs) if i != gone]

    remux(first_clip(tampered), drop)
    code, codes, data = verify_codes(capsys, tampered, trust)
    assert code == 1 and "clip.frames_removed" in codes
    f = next(f for f in data["findings"] if f["code"] == "clip.frames_removed")
    assert f["where"]["count"] == 1


def test_clip_with_frames_reordered_inside_a_chunk(tampered, trust, capsys):
    def swap(recs):
        from bwc_core.media.packets import PacketRecord

        i, j = _video_deltas(recs)[2:4]
        (ci, a), (cj, b) = recs[i], recs[j]
        # Same timestamps, payloads exchanged: the frames play in another order.
        a2 = PacketRecord(a.stream, a.kind, a.pts, a.dts, a.duration, a.time_base, a.keyframe, bytes(b.payload))
        b2 = PacketRecord(b.stream, b.kind, b.pts, b.dts, b.duration, b.time_base, b.keyframe, bytes(a.payload))
        recs = list(recs)
        recs[i], recs[j] = (ci, a2), (cj, b2)
        return recs

    remux(first_clip(tampered), swap)
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and "clip.frames_reordered" in codes
    assert "clip.frames_removed" not in codes


def test_exhibit_file_edited(tampered, trust, capsys):
    path = tampered / "VERIFY.txt"
    path.write_text(path.read_text().replace("expect", "EXPECT", 1))
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and codes & {"exhibit.file_altered"}


def test_unlisted_file_added(tampered, trust, capsys):
    (tampered / "certs" / "extra.txt").write_text("planted")
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and "exhibit.file_unlisted" in codes


def test_record_removed_from_the_excerpt(tampered, trust, capsys):
    journal = tampered / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    from bwc_core.format.envelope import Envelope

    notice = next(i for i, ln in enumerate(lines) if b'"notice"' in Envelope.from_json(ln).payload)
    journal.write_bytes(b"".join(lines[:notice] + lines[notice + 1:]))
    code, codes, _ = verify_codes(capsys, tampered, trust)
    assert code == 1 and "journal.gap" in codes


def test_wrong_trust_anchor(clip_exhibit, tmp_path, capsys):
    from bwc_core.format.keys import Identity

    other = Identity.generate("root", "OTHER-ROOT")
    other.save_public(tmp_path / "other.pub.json")
    code, out, _ = run(capsys, "verify", clip_exhibit, "--trust", tmp_path / "other.pub.json", "--json")
    assert code == 1 and "cert.untrusted" in {f["code"] for f in json.loads(out)["findings"]}


# --- hostile zips ---------------------------------------------------------------------------------


def _zip_with(path, name, data=b"x", *, symlink=False, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("exhibit.json", "{}")
        info = zipfile.ZipInfo(name)
        info.compress_type = compress
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, data)
    return path


@pytest.mark.parametrize("name, kwargs, words", [
    ("../escape.txt", {}, "escapes"),
    ("media/../../escape.txt", {}, "escapes"),
    ("/etc/evil", {}, "absolute"),
    ("link", {"symlink": True}, "symbolic link"),
    ("bomb.bin", {"data": bytes(8 << 20), "compress": zipfile.ZIP_DEFLATED}, "expands"),
])
def test_hostile_zip_refused(name, kwargs, words, tmp_path, trust, capsys):
    z = _zip_with(tmp_path / "evil.zip", name, **kwargs)
    code, out, err = run(capsys, "verify", z, "--trust", trust.root_pub)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path.parent / "escape.txt").exists()


def test_zip_duplicates_and_total_limit(tmp_path, monkeypatch):
    import warnings

    z = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("a.txt", "1")
            zf.writestr("a.txt", "2")
    with pytest.raises(UnsafePathError, match="twice"):
        with safe_extract(z):
            pass
    import bwc_core.verify.archive as ex

    monkeypatch.setattr(ex, "ZIP_MAX_TOTAL", 10)
    big = _zip_with(tmp_path / "big.zip", "a.bin", b"y" * 64)
    with pytest.raises(UnsafePathError, match="total"):
        with safe_extract(big):
            pass


def test_extraction_is_temporary(whole_zip):
    with safe_extract(whole_zip) as tmp:
        assert (tmp / EXHIBIT_MANIFEST).is_file()
    assert not tmp.exists()


def test_not_a_zip_nor_exhibit(tmp_path, trust, capsys):
    bad = tmp_path / "exhibit"
    bad.mkdir()
    (bad / EXHIBIT_MANIFEST).write_text("{not json")
    code, out, err = run(capsys, "verify", bad, "--trust", trust.root_pub)
    assert code == 2 and len(err.strip().splitlines()) == 1


def _as_format_1_4(evidence, out, trust):
    """The same evidence as a format <= 1.4 writer journaled it: each segment record carries its chunk table."""
    from bwc_core.format.journal import Journal

    shutil.copytree(evidence, out, ignore=shutil.ignore_patterns("journal.jsonl"))
    source = Journal.open(evidence)
    journal = Journal.create(out, trust.cam, trust.cert, sync="none")
    try:
        for r in source.records[1:]:
            body = {k: v for k, v in r.body.items() if k not in ("type", "seq", "prev", "device", "time")}
            if r.type == "segment":
                assert "chunks" not in body  # a format 1.5 writer's record
                body["chunks"] = [c.to_json() for c in read_leaves(out / body["leaves"]["file"]).chunks]
            journal.append(r.type, body)
    finally:
        journal.close()
        source.close()
    return out


def test_records_before_format_1_5_with_chunk_tables_verify_and_clip_alike(evidence, trust, clip_exhibit, tmp_path):
    """Segment records of formats <= 1.4 carry `chunks`; they still verify, and a clip picks the same chunks."""
    from bwc_core.verify import verify_evidence

    old = _as_format_1_4(evidence, tmp_path / "old", trust)
    anchors = TrustAnchors([trust.root_pub])
    assert verify_evidence(old, anchors).ok
    out = build_exhibit(old, "REC-001", tmp_path / "clip", start=2.5, end=5, trust=[trust.root_pub], **trust.signed)
    shown = verify_exhibit(out, anchors)
    assert shown.ok, [(f.code, f.message) for f in shown.findings if f.failed]
    picked = [(s["index"], s["first_chunk"], s["last_chunk"], s["chunk_count"]) for s in manifest(out)["segments"]]
    assert picked == [(s["index"], s["first_chunk"], s["last_chunk"], s["chunk_count"])
                      for s in manifest(clip_exhibit)["segments"]]


def test_a_clip_exhibit_carries_every_segment_sidecar_for_its_span_check(clip_exhibit, evidence, trust):
    """Format 1.5: the chunk table of every segment of the recording is in its sidecar, so all go along."""
    from bwc_core.format.journal import Journal

    j = Journal.open(evidence)
    wanted = {r.body["leaves"]["file"] for r in j.records if r.type == "segment" and r.body["recording"] == "REC-001"}
    j.close()
    assert len(wanted) > len(manifest(clip_exhibit)["segments"])
    assert all((Path(clip_exhibit) / rel).is_file() for rel in wanted)
    assert verify_exhibit(clip_exhibit, TrustAnchors([trust.root_pub])).ok

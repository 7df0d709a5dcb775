"""Attacks around crash recovery: planted files, links, tampering, in every container.

Recovery may salvage as evidence only a prefix the camera attested while
capturing (``segment.progress``); whatever else it finds is moved under
``unattested/``, never signed, never followed through a link.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import FakeClock as _Clock

from bwc_core.capture.recorder import Recorder, RecordingPolicy
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.format.journal import Journal
from bwc_core.format.keys import TrustAnchors
from bwc_core.media.source import MediaSource
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
T0 = 1_790_000_000 * 10**9


@pytest.fixture(scope="module")
def clip(media_dir):
    return SyntheticCamera(seconds=6, bframes=2, gop=15).write(media_dir / "attack6.mp4")


def _crashed(tmp_path, pki, clip, container, stop=5.3):
    """An evidence directory as a kill -9 leaves it: a recording open, a segment half written."""
    _, cam, cert = pki
    ev = tmp_path / f"live-{container}"
    with MediaSource(clip) as src:
        rec = Recorder(ev, identity=cam, cert=cert, streams=src.streams, clock=_Clock(), progress_seconds=1,
                       policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=3, container=container))
        for p in src:
            rec.push(p)
            if rec.state.value == "standby" and p.pts_seconds > 0.6:
                rec.activate()
            if p.pts_seconds > stop:
                break
        rec.flush_progress()  # (pushed far faster than real time: let the attestations catch up)
        crashed = tmp_path / f"crashed-{container}"
        shutil.copytree(ev, crashed, symlinks=True)  # the files as they are on storage now
        # The live directory is done with: stop its writer and hashing threads
        # (other tests fork worker processes only when no thread is running).
        rec.deactivate("event_complete")
        rec.close()
    return crashed, rec


def _anchors(root):
    return TrustAnchors([root.public_info()])


def _failed(report):
    return [(f.code, f.message) for f in report.findings if f.failed]


def _signed_files(ev: Path) -> set[str]:
    return {r.body["file"] for r in Journal.open(ev).records if r.type == "segment"}


def _open_file(ev: Path) -> Path:
    rid = next(r.body["recording"] for r in Journal.open(ev).records if r.type == "recording.open")
    signed = _signed_files(ev)
    paths = sorted(p for p in (ev / "media" / rid).iterdir()
                   if p.suffix in (".mp4", ".mkv", ".ts") and p.relative_to(ev).as_posix() not in signed)
    return paths[-1]  # the segment being written (an earlier one may still be finishing)


@pytest.mark.parametrize("container", CONTAINERS)
def test_pristine_crash_recovers_an_attested_prefix_that_verifies(tmp_path, pki, clip, container):
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    rel = partial.relative_to(ev).as_posix()
    found = partial.read_bytes()
    report = Recorder.recover(ev, identity=cam, cert=cert)
    assert rel in report.salvaged
    body = next(r.body for r in Journal.open(ev).records if r.type == "segment" and r.body["file"] == rel)
    progress = {r.seq: r.body for r in Journal.open(ev).records if r.type == "segment.progress"}
    assert body["recovered"] and progress[body["progress"]]["size"] == body["size"]
    # Format 1.5: a progress record identifies the prefix by BLAKE3; the segment record signs both digests.
    assert progress[body["progress"]]["digests"] == {"blake3": body["digests"]["blake3"]}
    assert set(body["digests"]) == {"blake3", "sha256"}
    assert partial.read_bytes() == found[:body["size"]]
    verdict = verify_evidence(ev, _anchors(root))
    assert _failed(verdict) == []
    seg = next(s for r in verdict.recordings for s in r.segments if s.path == rel)
    assert seg.status == "ok" and seg.recovered


@pytest.mark.parametrize("container", CONTAINERS)
def test_planted_segment_file_is_never_signed(tmp_path, pki, clip, container):
    """A re-timed file planted as the next segment of the open recording: set aside, not salvaged."""
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    index = int(partial.stem.rsplit("-", 1)[1])
    planted = partial.with_name(f"{partial.stem.rsplit('-', 1)[0]}-{index + 1:05d}{partial.suffix}")
    # a real, playable file of the same streams, re-timed to follow the recording
    fake = SyntheticCamera(seconds=2, bframes=2, gop=15).write(tmp_path / f"fake.{container}", container)
    shutil.copyfile(fake, planted)
    report = Recorder.recover(ev, identity=cam, cert=cert)
    rel = planted.relative_to(ev).as_posix()
    assert rel not in report.salvaged and rel not in _signed_files(ev)
    assert f"unattested/{rel}" in report.unattested and not planted.exists()
    assert (ev / "unattested" / rel).read_bytes() == Path(fake).read_bytes()
    verdict = verify_evidence(ev, _anchors(root))
    assert _failed(verdict) == [] and "segment.unattested_kept" in verdict.codes()
    # put back under media/: unattested bytes presented as evidence are an error
    shutil.copyfile(ev / "unattested" / rel, planted)
    assert "segment.unattested" in verify_evidence(ev, _anchors(root)).codes()


@pytest.mark.parametrize("container", CONTAINERS)
def test_partial_file_replaced_or_altered_is_not_salvaged(tmp_path, pki, clip, container):
    """The camera's partial segment altered inside its attested prefix: nothing of it is signed."""
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    rel = partial.relative_to(ev).as_posix()
    first = min(r.body["size"] for r in Journal.open(ev).records
                if r.type == "segment.progress" and r.body["file"] == rel)
    data = bytearray(partial.read_bytes())
    data[first // 2] ^= 0x55  # inside every attested prefix
    partial.write_bytes(bytes(data))
    report = Recorder.recover(ev, identity=cam, cert=cert)
    assert rel not in report.salvaged and rel in report.lost and rel not in _signed_files(ev)
    assert (ev / "unattested" / rel).read_bytes() == bytes(data), "evidence written is never destroyed"
    verdict = verify_evidence(ev, _anchors(root))
    assert _failed(verdict) == []
    assert {"segment.lost", "segment.unattested_kept"} <= verdict.codes()


@pytest.mark.parametrize("container", CONTAINERS)
def test_bytes_appended_after_the_attested_prefix_stay_out_of_the_evidence(tmp_path, pki, clip, container):
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    found = partial.read_bytes() + b"\x00" * 4096 + b"planted tail"
    partial.write_bytes(found)
    rel = partial.relative_to(ev).as_posix()
    Recorder.recover(ev, identity=cam, cert=cert)
    body = next(r.body for r in Journal.open(ev).records if r.type == "segment" and r.body["file"] == rel)
    assert partial.read_bytes() == found[:body["size"]]
    assert (ev / "unattested" / rel).read_bytes() == found
    assert _failed(verify_evidence(ev, _anchors(root))) == []


@pytest.mark.parametrize("container", CONTAINERS)
def test_link_at_the_sidecar_is_not_followed(tmp_path, pki, clip, container):
    """A symlink at X.leaves: salvage must not write through it (an arbitrary file write)."""
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"do not touch")
    link = Path(str(partial) + ".leaves")
    os.symlink(victim, link)
    report = Recorder.recover(ev, identity=cam, cert=cert)
    assert victim.read_bytes() == b"do not touch"
    assert partial.relative_to(ev).as_posix() in report.salvaged
    assert not link.is_symlink() and link.is_file()  # the sidecar salvage wrote
    moved = ev / "unattested" / link.relative_to(ev)
    assert moved.is_symlink(), "the link itself was moved aside, not followed"
    assert _failed(verify_evidence(ev, _anchors(root))) == []


@pytest.mark.parametrize("container", CONTAINERS)
def test_link_planted_as_segment_or_unattested_dir_is_not_followed(tmp_path, pki, clip, container):
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.bin").write_bytes(b"outside")
    planted = partial.with_name(partial.name.replace("-0000", "-0009"))
    os.symlink(outside / "real.bin", planted)
    os.symlink(outside, ev / "unattested")  # a link where recovery moves things
    report = Recorder.recover(ev, identity=cam, cert=cert)
    assert sorted(p.name for p in outside.iterdir()) == ["real.bin"], "nothing moved into the link's target"
    assert (outside / "real.bin").read_bytes() == b"outside"
    rel = planted.relative_to(ev).as_posix()
    assert rel not in _signed_files(ev)
    assert all(u.startswith("unattested-1/") for u in report.unattested)
    assert (ev / "unattested-1" / rel).is_symlink()
    # The planted directory link itself is accounted for by no record: an error (format 1.4, 2.13).
    failed = _failed(verify_evidence(ev, _anchors(root)))
    assert [code for code, _ in failed] == ["segment.unexpected"] and "unattested is named" in failed[0][1]


@pytest.mark.parametrize("container", CONTAINERS)
def test_recovered_segment_matching_no_progress_record_is_an_error(tmp_path, pki, clip, container):
    """A recovery that signs what it found (the old behaviour, or a rogue tool): caught by the verifier."""
    from bwc_core.capture.recorder import segment_body
    from bwc_core.capture.segmenter import salvage

    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    partial.write_bytes(partial.read_bytes() + b"\x00" * 188)
    rid = partial.parent.name
    info = salvage(partial, index=int(partial.stem.rsplit("-", 1)[1]))
    assert info is not None
    journal = Journal.open(ev, cam)
    journal.append("segment", segment_body(ev, rid, info, recovered=True))
    journal.append("recovery", {"recording": rid, "reason": "power_loss", "salvaged": [], "lost": [],
                                "unattested": []})
    journal.append("recording.close", {"recording": rid, "reason": "power_loss",
                                       "segments": sum(1 for r in journal.records if r.type == "segment")})
    journal.close()
    verdict = verify_evidence(ev, _anchors(root))
    assert "segment.recovered_unattested" in verdict.codes()
    assert not verdict.ok


@pytest.mark.parametrize("container", CONTAINERS)
def test_writer_never_writes_a_sidecar_through_a_planted_link(tmp_path, clip, container):
    """Links planted at the sidecar names of segments about to be written: their targets stay untouched."""
    from bwc_core.capture.segmenter import Segmenter
    from bwc_core.format.content import read_leaves

    out = tmp_path / "media" / "REC"
    out.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"do not touch")
    for i in range(4):
        os.symlink(victim, out / f"REC-{i:05d}.{container}.leaves")
    with MediaSource(clip) as src:
        seg = Segmenter(out, streams=src.streams, target_seconds=2, container=container, name="REC")
        for p in src:
            seg.push(p)
        infos = seg.segments + seg.close()
    assert victim.read_bytes() == b"do not touch"
    assert len(infos) >= 2
    for info in infos:
        leaves = Path(info.leaves_path)
        assert not leaves.is_symlink() and read_leaves(leaves).root == info.content_root


@pytest.mark.parametrize("container", CONTAINERS)
def test_leftovers_of_an_interrupted_recovery_are_set_aside(tmp_path, pki, clip, container):
    """A partial prefix copy and a moved file from a recovery killed half-way: the re-run signs only attested bytes."""
    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    found = partial.read_bytes() + b"tail"
    partial.write_bytes(found)
    stale = partial.with_name(partial.name + ".partial")
    stale.write_bytes(found[:1000])  # a copy cut short by the interruption
    (ev / "unattested" / "media" / partial.parent.name).mkdir(parents=True)
    (ev / "unattested" / partial.relative_to(ev)).write_bytes(b"moved earlier")
    report = Recorder.recover(ev, identity=cam, cert=cert)
    rel = partial.relative_to(ev).as_posix()
    assert rel in report.salvaged
    body = next(r.body for r in Journal.open(ev).records if r.type == "segment" and r.body["file"] == rel)
    assert partial.read_bytes() == found[:body["size"]]
    assert (ev / "unattested" / rel).read_bytes() == b"moved earlier", "nothing kept is overwritten"
    assert (ev / "unattested" / (rel + ".1")).read_bytes() == found
    assert (ev / "unattested" / (rel + ".partial")).read_bytes() == found[:1000]
    assert _failed(verify_evidence(ev, _anchors(root))) == []


def test_a_set_aside_segment_accounts_for_its_index():
    """A segment that finished writing but whose record (and any progress record) had not reached
    the journal when the power went is set aside whole; its index is the recovery record's to
    account for (``segment.unattested_kept``), not a ``segment.index_gap`` (the SIGKILL suite met
    this: index 0 set aside, index 1 salvaged). Only a name of the recording's own pattern
    counts."""
    from bwc_core.verify.evidence import _aside_index

    rid = "BWC-0001-003163"
    assert _aside_index(f"unattested/media/{rid}/{rid}-00000.mp4", rid) == 0
    assert _aside_index(f"unattested-2/media/{rid}/{rid}-00012.ts", rid) == 12
    assert _aside_index(f"unattested/media/{rid}/OTHER-00000.mp4", rid) is None
    assert _aside_index(f"unattested/media/OTHER/{rid}-00000.mp4", rid) is None
    assert _aside_index(f"unattested/media/{rid}/{rid}-00000.mp4.leaves", rid) is None
    assert _aside_index(f"unattested/media/{rid}/x/{rid}-00000.mp4", rid) is None


@pytest.mark.parametrize("container", CONTAINERS)
def test_recovered_segment_signing_the_attested_blake3_beside_another_files_sha256(tmp_path, pki, clip, container):
    """Format 1.5 progress records attest a prefix by BLAKE3 only. A rogue recovery alters a frame of
    the attested prefix and signs a record whose ``blake3`` is the attested one (so the record matches
    the progress record) but whose ``sha256``, content root and sidecar are the altered file's. The
    record's two digests then describe different bytes: the file is not the attested prefix."""
    import av

    from bwc_core.capture.recorder import segment_body
    from bwc_core.capture.segmenter import salvage

    root, cam, cert = pki
    ev, _ = _crashed(tmp_path, pki, clip, container)
    partial = _open_file(ev)
    rel = partial.relative_to(ev).as_posix()
    attested = max((r.body for r in Journal.open(ev).records
                    if r.type == "segment.progress" and r.body["file"] == rel), key=lambda b: b["size"])
    data = bytearray(partial.read_bytes()[:attested["size"]])
    with av.open(str(partial)) as c:
        big = next(p for p in c.demux(video=0) if p.is_keyframe and p.size > 1000 and p.pos is not None
                   and p.pos + p.size < len(data))
    data[big.pos + (150 if container == "ts" else big.size // 2)] ^= 0x55  # a picture's payload
    partial.write_bytes(bytes(data))
    rid = partial.parent.name
    info = salvage(partial, index=int(partial.stem.rsplit("-", 1)[1]))
    assert info is not None
    body = segment_body(ev, rid, info, recovered=True)
    assert body["size"] == attested["size"] and body["digests"]["blake3"] != attested["digests"]["blake3"]
    body["digests"]["blake3"] = attested["digests"]["blake3"]
    journal = Journal.open(ev, cam)
    journal.append("segment", body)
    journal.append("recovery", {"recording": rid, "reason": "power_loss", "salvaged": [rel], "lost": [],
                                "unattested": []})
    journal.append("recording.close", {"recording": rid, "reason": "power_loss",
                                       "segments": sum(1 for r in journal.records if r.type == "segment")})
    journal.close()
    verdict = verify_evidence(ev, _anchors(root))
    seg = next(s for r in verdict.recordings for s in r.segments if s.path == rel)
    assert not verdict.ok and seg.status != "container_changed", (seg.status, _failed(verdict))
    assert "segment.digest_mismatch" in {c for c, _ in _failed(verdict)}

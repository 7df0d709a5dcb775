"""Tamper matrix of court exhibits (issue 9, points 2, 4, 5, 9), in MP4, Matroska and MPEG-TS.

Each attack is made on a copy of a pristine exhibit with real media, real
keys and the real muxers; the pristine exhibits must verify clean. The
exporter (the evidence server) is trusted to *declare* what an exhibit holds,
never to vouch for the media: attacks that change media are re-signed with
the trusted server key, so only the device's signatures can catch them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.cli import main
from bwc_core.exhibit.build import _decode_timestamps, build_exhibit
from bwc_core.format.content import inclusion_proof, read_leaves
from bwc_core.format.envelope import EXHIBIT_TYPE, Envelope, sign
from bwc_core.format.keys import Identity, TrustAnchors
from bwc_core.format.layout import EXHIBIT_MANIFEST
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import container_options, open_output
from bwc_core.verify.exhibit import verify_exhibit

CONTAINERS = ["mp4", "mkv", "ts"]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=CONTAINERS)
def container(request):
    return request.param


@pytest.fixture(scope="module")
def ev(tmp_path_factory, make_evidence, av_clip, trust, container):
    """REC-001: 8 s of H.264 (B-frames) + AAC in 3 s segments of 1 s GOPs (chunks 3, 3, 2)."""
    return make_evidence(tmp_path_factory.mktemp(f"ev-{container}") / "ev", [av_clip], trust.cam, trust.cert,
                         container=container, segment_seconds=3)


@pytest.fixture(scope="module")
def clip_ex(tmp_path_factory, ev, trust):
    """A clip from 0.5 s to 7 s: segment 0 and 1 whole, chunk 0 of segment 2."""
    return build_exhibit(ev, "REC-001", tmp_path_factory.mktemp("clip") / "ex", start=0.5, end=7,
                         trust=[trust.root_pub], **trust.signed)


@pytest.fixture(scope="module")
def whole_ex(tmp_path_factory, ev, trust):
    return build_exhibit(ev, "REC-001", tmp_path_factory.mktemp("whole") / "ex", trust=[trust.root_pub],
                         **trust.signed)


@pytest.fixture(scope="module")
def intruder(tmp_path_factory):
    """Another agency's root and server: a key an attacker can sign with, trusted by nobody here."""
    root = Identity.generate("root", "OTHER-ROOT")
    server = Identity.generate("server", "CPD-EVIDENCE")
    return {"identity": server, "cert": root.certify(server, days=1, not_before=int(time.time()) - 3600)}


def copy(ex, tmp_path, name="ex"):
    out = tmp_path / name
    shutil.copytree(ex, out)
    return out


def declaration(ex):
    env = Envelope.from_json((Path(ex) / EXHIBIT_MANIFEST).read_text())
    assert env.payload_type == EXHIBIT_TYPE
    return json.loads(env.payload)


def resign(ex, identity=None, cert=None, edit=None, *, unsigned=False, keep_signature=False):
    """Rewrite exhibit.json after an attack: the files list as they now are, then signed as asked."""
    ex = Path(ex)
    old = Envelope.from_json((ex / EXHIBIT_MANIFEST).read_text())
    decl = json.loads(old.payload)
    if edit is not None:
        edit(decl)
    from bwc_core.format.content import file_digests

    decl["files"] = [{"path": p.relative_to(ex).as_posix(), "size": p.stat().st_size, "digests": file_digests(p)}
                     for p in sorted(ex.rglob("*")) if p.is_file() and p.name != EXHIBIT_MANIFEST]
    if unsigned:
        (ex / EXHIBIT_MANIFEST).write_text(json.dumps(decl, indent=2))
        return
    if cert is not None:
        decl["exporter"] = cert.to_json()
    if keep_signature:
        from bwc_core.format.canonical import canonical_bytes

        env = Envelope(EXHIBIT_TYPE, canonical_bytes(decl), old.signatures)
    else:
        env = sign(EXHIBIT_TYPE, decl, identity)
    (ex / EXHIBIT_MANIFEST).write_text(json.dumps(env.to_json()))


def verify(ex, trust):
    """The report and its failed codes, less ``exhibit.report_mismatch``: the shipped report of an
    exhibit attacked after export still states PASS (tests/test_attacks_files.py covers that code)."""
    report = verify_exhibit(ex, TrustAnchors([trust.root_pub]))
    return report, {f.code for f in report.findings if f.failed} - {"exhibit.report_mismatch"}


def entry_of(decl, index):
    return next(e for e in decl["segments"] if e["index"] == index)


# --- pristine --------------------------------------------------------------------------------


def test_pristine_exhibits_verify_clean(clip_ex, whole_ex, trust):
    for ex in (clip_ex, whole_ex):
        report, failed = verify(ex, trust)
        assert report.ok and not failed, [(f.code, f.message) for f in report.findings if f.failed]
        assert not [f for f in report.findings if f.severity.value == "warning"]
        assert report.exhibit["signed"] and report.exhibit["exporter"]["subject"] == "CPD-EVIDENCE"
    report, _ = verify(clip_ex, trust)
    # Positions shown come from the signed chunk tables: the clip covers 0.5 .. 7 s.
    span = report.exhibit["span"]
    assert span["first"] == {"segment": 0, "chunk": 0} and span["last"] == {"segment": 2, "chunk": 0}
    assert span["start"][0] / span["start"][1] <= 0.5 and span["end"][0] / span["end"][1] >= 7
    assert [s["index"] for s in report.exhibit["segments"]] == [0, 1, 2]


@pytest.fixture(scope="module")
def opus_source(tmp_path_factory):
    """4 s of H.264 + Opus made by the ffmpeg CLI, in Matroska (the red team's source had a SubRip
    stream too; segments no longer carry subtitle streams, docs/camera.md "Stream kinds")."""
    d = tmp_path_factory.mktemp("opus")
    out = d / "opus.mkv"
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30",
                        "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4",
                        "-map", "0", "-map", "1", "-c:v", "libx264", "-preset", "veryfast",
                        "-c:a", "libopus", out], capture_output=True)
    if r.returncode:
        pytest.skip("ffmpeg without libx264 / libopus")
    return out


@pytest.mark.parametrize("kind", ["mkv", "ts"])
def test_clip_with_opus_verifies(tmp_path, make_evidence, opus_source, trust, kind):
    """Red team 6: in an MPEG-TS clip of H.264 + Opus + SubRip FFmpeg demuxed the first Opus dts
    as 2**33 - 630 and the next as 1260; the dts order check now applies the 33-bit rule of the
    pts (format 1.7, 1.13). Segments no longer carry subtitles, so this is the pristine H.264 +
    Opus clip in Matroska and MPEG-TS: it verifies and its packets read in order by both demux
    paths."""
    from bwc_core.media.commit import content_root

    ev_dir = make_evidence(tmp_path / "ev", [opus_source], trust.cam, trust.cert, container=kind)
    ex = build_exhibit(ev_dir, "REC-001", tmp_path / "ex", start=0.7, end=1.9, trust=[trust.root_pub],
                       **trust.signed)
    clips = sorted((ex / "clips").rglob(f"*.clip.{kind}"))
    assert clips
    for clip in clips:
        content_root(clip)
        with MediaSource(clip) as src:
            assert list(src.packets())
    report, failed = verify(ex, trust)
    assert report.ok and not failed, [(f.code, f.message) for f in report.findings if f.failed]


# --- point 2: a clip's codec configuration -----------------------------------------------------


def _nals(annexb):
    out = []
    for piece in annexb.split(b"\x00\x00\x01"):
        piece = piece.rstrip(b"\x00")
        if piece:
            out.append(piece)
    return out


def _sps(path, bsf=None):
    """The first SPS of the clip's video, as ffmpeg writes it as Annex B (optionally through a filter)."""
    # Annex B first, so the filter rewrites the in-band SPS whatever the clip's container.
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
           "-bsf:v", "h264_mp4toannexb" + ("," + bsf if bsf else "")]
    data = subprocess.run(cmd + ["-f", "h264", "-"], check=True, capture_output=True).stdout
    return next(n for n in _nals(data) if n[0] & 0x1F == 7)


def remux_config(path, *, extradata=None, payload=None, sample_rate=None):
    """Stream-copy a clip into itself with the same packets and timing, patching only configuration:
    extradata(stream_info) -> new extradata or None; payload(stream_info, bytes) -> bytes; the
    audio stream's sample_rate as the container header states it."""
    path = Path(path)
    kind = path.suffix.lstrip(".")
    tmp = path.with_name("patched." + kind)
    with MediaSource(path) as src:
        streams = list(src.streams)
        records = list(src.packets())
        if kind == "mkv":
            records = _decode_timestamps(records)
        out, ostreams = open_output(tmp, kind, streams, options=container_options(kind, streams))
        try:
            for s in streams:
                new = extradata(s) if extradata else None
                if new is not None:
                    ostreams[s.index].codec_context.extradata = new
                if sample_rate and s.kind == "audio":
                    ostreams[s.index].codec_context.sample_rate = sample_rate
            for r in records:
                if payload is not None:
                    data = payload(streams[r.stream], bytes(r.payload))
                    if data != bytes(r.payload):
                        from bwc_core.media.packets import PacketRecord

                        r = PacketRecord(r.stream, r.kind, r.pts, r.dts, r.duration, r.time_base, r.keyframe, data)
                out.mux(r.to_av(ostreams[r.stream]))
        finally:
            out.close()
    tmp.replace(path)


def _clip_file(ex, index):
    return Path(ex) / entry_of(declaration(ex), index)["clip"]["file"]


def test_clip_sps_cropped(clip_ex, tmp_path, trust, container):
    ex = copy(clip_ex, tmp_path)
    clip = _clip_file(ex, 1)
    old, new = _sps(clip), _sps(clip, "h264_metadata=crop_right=160:crop_bottom=138")
    assert old != new
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(clip)],
                                      check=True, capture_output=True).stdout)["streams"][0]
    assert (probe["width"], probe["height"]) == (320, 240)

    def avcc(s):
        ed = s.extradata
        if s.kind != "video" or ed[:1] != b"\x01":
            return None
        assert old in ed
        return ed.replace(len(old).to_bytes(2, "big") + old, len(new).to_bytes(2, "big") + new)

    def annexb(s, data):
        return data.replace(old, new) if s.kind == "video" and container == "ts" else data

    remux_config(clip, extradata=avcc, payload=annexb)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(clip)],
                                      check=True, capture_output=True).stdout)["streams"][0]
    assert (probe["width"], probe["height"]) == (160, 102)  # what a player now shows
    resign(ex, trust.server, trust.server_cert)  # a complicit exporter: only the device's signature is left
    report, failed = verify(ex, trust)
    # The configuration differs, and so does the picture a player shows (its size).
    assert failed == {"clip.config_altered", "content.presentation_altered"}, \
        [(f.code, f.message) for f in report.findings if f.failed]
    f = next(f for f in report.findings if f.code == "clip.config_altered")
    assert f.where["stream"] == 0 and f.where["segment"].endswith(f"00001.{container}")
    p = next(f for f in report.findings if f.code == "content.presentation_altered")
    assert (p.where["stream"], p.where["field"], p.where["found"]) == (0, "size", [160, 102])


def test_clip_aac_sample_rate_changed(clip_ex, tmp_path, trust, container):
    ex = copy(clip_ex, tmp_path)
    clip = _clip_file(ex, 1)
    sfi_16k = 8

    def asc(s):
        ed = bytearray(s.extradata)
        if s.kind != "audio" or container == "ts" or not ed:
            return None
        assert (ed[0] & 7) << 1 | ed[1] >> 7 == 3  # 48 kHz
        ed[0] = (ed[0] & 0xF8) | (sfi_16k >> 1)
        ed[1] = (ed[1] & 0x7F) | ((sfi_16k & 1) << 7)
        return bytes(ed)

    def adts(s, data):
        if s.kind != "audio" or container != "ts":
            return data
        assert data[0] == 0xFF and (data[2] >> 2) & 0xF == 3
        return data[:2] + bytes([(data[2] & 0xC3) | (sfi_16k << 2)]) + data[3:]

    remux_config(clip, extradata=asc, payload=adts)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-select_streams", "a",
                                       "-of", "json", str(clip)], check=True, capture_output=True).stdout)
    # What FFmpeg now presents: 16 kHz (MP4, Matroska); an undecodable stream (MPEG-TS: its ADTS
    # headers say 16 kHz, whose scale-factor bands do not fit the 48 kHz frames).
    assert probe["streams"][0]["sample_rate"] == ("0" if container == "ts" else "16000")
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify(ex, trust)
    assert failed == {"clip.config_altered"}, [(f.code, f.message) for f in report.findings if f.failed]
    f = next(f for f in report.findings if f.code == "clip.config_altered")
    assert f.where["stream"] == 1 and f.where["segment"].endswith(f"00001.{container}")


# --- point 4: footage removed from an exhibit ---------------------------------------------------


def test_middle_clip_deleted(clip_ex, tmp_path, trust):
    ex = copy(clip_ex, tmp_path)
    _clip_file(ex, 1).unlink()
    report, failed = verify(ex, trust)
    assert {"exhibit.clip_missing", "exhibit.file_missing"} <= failed
    assert "exhibit.segment_omitted" not in report.codes()


@pytest.mark.parametrize("signer", ["trusted", "intruder", "unsigned"])
def test_middle_clip_dropped_from_the_declaration(clip_ex, tmp_path, trust, intruder, signer):
    ex = copy(clip_ex, tmp_path)
    _clip_file(ex, 1).unlink()

    def drop(decl):
        decl["segments"] = [e for e in decl["segments"] if e["index"] != 1]

    if signer == "trusted":  # even the agency's own server cannot declare a hole
        resign(ex, trust.server, trust.server_cert, drop)
    elif signer == "intruder":
        resign(ex, edit=drop, **intruder)
    else:
        resign(ex, edit=drop, unsigned=True)
    report, failed = verify(ex, trust)
    assert "exhibit.segment_gap" in failed
    assert {"trusted": set(), "intruder": {"exhibit.exporter_untrusted"},
            "unsigned": {"exhibit.unsigned"}}[signer] <= failed
    gap = next(f for f in report.findings if f.code == "exhibit.segment_gap")
    assert gap.where["segments"] == [1]
    # Not explained away as "outside the clip".
    assert not any(f.code == "exhibit.segment_omitted" and "00001" in f.message for f in report.findings)


def test_clip_split_around_a_missing_chunk(clip_ex, ev, tmp_path, trust, container):
    """The middle segment's clip (chunks 0..2) replaced by two clips, of chunk 0 and chunk 2."""
    from bwc_core.exhibit.build import _write_clip

    ex = copy(clip_ex, tmp_path)
    decl = declaration(ex)
    e1 = entry_of(decl, 1)
    assert (e1["first_chunk"], e1["last_chunk"], e1["chunk_count"]) == (0, 2, 3)
    signed = read_leaves(ev / e1["leaves"])
    (ex / e1["clip"]["file"]).unlink()
    parts = []
    for k in (0, 2):
        rel = e1["clip"]["file"].replace(".clip.", f".clip{k}.")
        _write_clip(ev / e1["file"], container, signed, k, k, ex / rel)
        parts.append(dict(e1, first_chunk=k, last_chunk=k, clip=dict(
            e1["clip"], file=rel, chunk_roots=[signed.chunks[k].root.hex()],
            proof=inclusion_proof(signed, k, k).to_json())))

    def split(d):
        d["segments"] = [x for x in d["segments"] if x["index"] != 1] + parts
        d["segments"].sort(key=lambda x: (x["index"], x["first_chunk"]))

    resign(ex, trust.server, trust.server_cert, split)
    report, failed = verify(ex, trust)
    assert failed == {"exhibit.chunk_gap"}, [(f.code, f.message) for f in report.findings if f.failed]
    gap = next(f for f in report.findings if f.code == "exhibit.chunk_gap")
    assert (gap.where["first"], gap.where["last"]) == (1, 1)
    # Each part on its own is a sound clip: only coverage shows the hole.
    assert not {c for c in report.codes() if c.startswith("clip.")}


@pytest.mark.parametrize("signer", ["trusted", "kept", "unsigned"])
def test_segment_deleted_and_mode_flipped(whole_ex, tmp_path, trust, signer):
    ex = copy(whole_ex, tmp_path)
    decl = declaration(ex)
    e1 = entry_of(decl, 1)
    (ex / e1["file"]).unlink()
    (ex / e1["leaves"]).unlink()

    def flip(d):
        d["mode"] = "clip"
        d["segments"] = [x for x in d["segments"] if x["index"] != 1]

    if signer == "trusted":
        resign(ex, trust.server, trust.server_cert, flip)
    elif signer == "kept":  # the payload edited under the original signature
        resign(ex, edit=flip, keep_signature=True)
    else:
        resign(ex, edit=flip, unsigned=True)
    report, failed = verify(ex, trust)
    assert {"exhibit.mode_mismatch", "exhibit.segment_gap", "segment.missing"} <= failed, report.findings
    assert {"trusted": set(), "kept": {"exhibit.signature_invalid"},
            "unsigned": {"exhibit.unsigned"}}[signer] <= failed
    assert "exhibit.segment_omitted" not in report.codes()


def test_segment_deleted_from_a_whole_recording(whole_ex, tmp_path, trust):
    ex = copy(whole_ex, tmp_path)
    e3 = entry_of(declaration(ex), 2)
    (ex / e3["file"]).unlink()
    (ex / e3["leaves"]).unlink()
    resign(ex, trust.server, trust.server_cert,
           lambda d: d.update(segments=[x for x in d["segments"] if x["index"] != 2]))
    report, failed = verify(ex, trust)
    assert "exhibit.recording_incomplete" in failed and "segment.missing" in failed
    f = next(f for f in report.findings if f.code == "exhibit.recording_incomplete")
    assert f.where["segments"] == [2]


def test_declaration_signed_by_a_camera(clip_ex, tmp_path, trust):
    """A key the agency root certified, but for a camera: not an exporter."""
    ex = copy(clip_ex, tmp_path)
    resign(ex, trust.cam, trust.cert)
    report, failed = verify(ex, trust)
    assert failed == {"exhibit.exporter_role"}, report.findings
    assert not report.exhibit["signed"]


def test_declaration_signed_by_an_untrusted_server(clip_ex, tmp_path, trust, intruder):
    ex = copy(clip_ex, tmp_path)
    resign(ex, **intruder)
    report, failed = verify(ex, trust)
    assert failed == {"exhibit.exporter_untrusted"}, report.findings


def test_declared_range_not_the_proven_one(clip_ex, tmp_path, trust):
    """The declaration claims more chunks than the clip's range proof proves."""
    ex = copy(clip_ex, tmp_path)

    def widen(d):
        e = entry_of(d, 2)
        e["last_chunk"] += 1
    resign(ex, trust.server, trust.server_cert, widen)
    report, failed = verify(ex, trust)
    assert "exhibit.declaration_mismatch" in failed, report.findings


# --- point 5: audio-only clips -------------------------------------------------------------------


@pytest.fixture(scope="module")
def audio_only(media_dir):
    """8 s of AAC at 44.1 kHz: a second holds a fractional number of frames, so a clip's own first
    packet is not where the segment's second starts."""
    return SyntheticCamera(seconds=8, video=False, sample_rate=44100).write(media_dir / "audio44.mp4")


def test_audio_only_clip_passes_clean(audio_only, make_evidence, tmp_path, trust, container):
    ev = make_evidence(tmp_path / "ev", [audio_only], trust.cam, trust.cert, container=container,
                       segment_seconds=4)
    ex = build_exhibit(ev, "REC-001", tmp_path / "ex", start=2.5, end=7, trust=[trust.root_pub], **trust.signed)
    report, failed = verify(ex, trust)
    assert report.ok and not failed, [(f.code, f.message) for f in report.findings if f.failed]
    assert not [f for f in report.findings if f.severity.value == "warning"]
    first = report.exhibit["segments"][0]
    assert first["index"] == 0 and first["first_chunk"] == 2  # mid-segment: chunk 2 of segment 0


# --- point 9: the trust anchor -------------------------------------------------------------------


def test_trust_anchor_inside_the_exhibit(clip_ex, trust, capsys):
    text = (clip_ex / "VERIFY.txt").read_text()
    assert "--trust trust/" not in text and "out of band" in text
    inside = next((clip_ex / "trust").glob("*.pub.json"))
    capsys.readouterr()
    code = main(["verify", str(clip_ex), "--trust", str(inside)])
    out = capsys.readouterr().out
    assert code == 0 and "exhibit.trust_inside" in out
    assert "compare the root fingerprint" in out and trust.root.key_id in out
    code = main(["verify", str(clip_ex), "--trust", str(inside), "--json"])
    data = json.loads(capsys.readouterr().out)
    f = next(f for f in data["findings"] if f["code"] == "exhibit.trust_inside")
    assert f["severity"] == "warning" and f["where"]["key_id"] == trust.root.key_id
    # The same key given from outside the exhibit: no warning.
    code = main(["verify", str(clip_ex), "--trust", str(trust.root_pub), "--json"])
    assert "exhibit.trust_inside" not in {f["code"] for f in json.loads(capsys.readouterr().out)["findings"]}


@pytest.mark.parametrize("field, value", [("journal.head.seq", 1), ("journal.close_seq", None), ("device", "BWC-9")])
def test_declared_journal_facts_are_the_signed_ones(clip_ex, tmp_path, trust, field, value):
    ex = copy(clip_ex, tmp_path)

    def edit(d):
        *path, last = field.split(".")
        for key in path:
            d = d[key]
        d[last] = value
    resign(ex, trust.server, trust.server_cert, edit)
    report, failed = verify(ex, trust)
    assert failed == {"exhibit.declaration_mismatch"}, report.findings


def test_exhibit_of_an_older_format_is_refused(clip_ex, tmp_path, trust):
    """An unsigned manifest as exhibits had before format 1.4: its declared content proves nothing."""
    ex = copy(clip_ex, tmp_path)
    decl = declaration(ex)
    old = {"format": "bwc-core exhibit", "version": 1, "recording": decl["recording"], "mode": "clip",
           "segments": [], "files": decl["files"],
           "clips": [dict(e["clip"], segment=e["file"], leaves=e["leaves"], first_chunk=e["first_chunk"],
                          last_chunk=e["last_chunk"]) for e in decl["segments"]]}
    (ex / EXHIBIT_MANIFEST).write_text(json.dumps(old))
    report, failed = verify(ex, trust)
    assert {"exhibit.unsigned", "exhibit.manifest_invalid"} <= failed and not report.ok
    assert not report.exhibit["signed"] and report.exhibit["span"] is None


def test_clip_shorter_than_the_requested_span(clip_ex, tmp_path, trust):
    """The last clip left out, no hole: the exhibit now ends at 6 s although 0.5 .. 7 s was requested."""
    ex = copy(clip_ex, tmp_path)
    _clip_file(ex, 2).unlink()
    resign(ex, trust.server, trust.server_cert,
           lambda d: d.update(segments=[x for x in d["segments"] if x["index"] != 2]))
    report, failed = verify(ex, trust)
    assert failed == {"exhibit.span_mismatch"}, report.findings
    assert "segment 2 chunks 0..0" in next(f.message for f in report.findings if f.code == "exhibit.span_mismatch")


# --- presentation of a clip (format 1.15) -----------------------------------------------------


@pytest.mark.parametrize("how", [dict(rotation=180), dict(hflip=True), dict(rotation=90)],
                         ids=["rotate180", "mirror", "rotate90"])
def test_clip_display_matrix_changed(clip_ex, tmp_path, trust, container, how):
    """A clip stream-copied with a display matrix and re-signed by a complicit exporter: the
    frames are the signed ones, but a player rotates or mirrors them. MPEG-TS cannot carry a
    display matrix: there the copy presents what was signed and must still verify clean."""
    import av

    ex = copy(clip_ex, tmp_path)
    clip = _clip_file(ex, 1)
    tmp = clip.with_name("tmp-" + clip.name)
    fmt = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}[container]
    options = {} if container == "mp4" else {"avoid_negative_ts": "disabled"}
    with av.open(str(clip)) as inp, av.open(str(tmp), "w", format=fmt, options=options) as out:
        mapping = {}
        for s in inp.streams:
            mapping[s.index] = o = out.add_stream_from_template(s)
            if s.type == "video":
                o.set_display_rotation(how.get("rotation", 0), hflip=how.get("hflip", False))
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream_index]
            out.mux(packet)
    if container == "ts":
        from bwc_core.media.presentation import IDENTITY_MATRIX, measure_presentation

        # MPEG-TS has nowhere to put a display matrix: the copy presents what was signed.
        assert measure_presentation(tmp)[0]["display_matrix"] == list(IDENTITY_MATRIX)
        return
    tmp.replace(clip)
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify(ex, trust)
    presented = [f for f in report.findings if f.code == "content.presentation_altered"]
    assert "content.presentation_altered" in failed, [(f.code, f.message) for f in report.findings]
    assert {(f.where["stream"], f.where["field"]) for f in presented} == {(0, "display_matrix")}
    assert all(f.where["clip"] == entry_of(declaration(ex), 1)["clip"]["file"] for f in presented)


# --- container metadata of a clip (format 1.16) ---------------------------------------------------


def test_clip_tagged_and_resigned(clip_ex, tmp_path, trust, container):
    """A clip stream-copied with a title (MP4/Matroska: a container tag; MPEG-TS: the service
    name) and a track language, re-signed by a complicit exporter: every frame is the signed one,
    but a player lists text no camera signed."""
    ex = copy(clip_ex, tmp_path)
    clip = _clip_file(ex, 1)
    tmp = clip.with_name("tmp-" + clip.name)
    fmt = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}[container]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-map", "0", "-c", "copy", "-copyts",
                    "-metadata", "title=Officer Smith, use of force justified", "-metadata:s:a:0", "language=spa",
                    "-f", fmt, str(tmp)], check=True)
    tmp.replace(clip)
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify(ex, trust)
    unsigned = [f for f in report.findings if f.code == "content.metadata_unsigned"]
    assert "content.metadata_unsigned" in failed, [(f.code, f.message) for f in report.findings]
    assert {f.where["scope"] for f in unsigned} == {"service" if container == "ts" else "container", "stream"}


# --- a clip's last-frame hold and stated durations (format 1.16, "Clips") --------------------------


def _stretch_clip(clip, container, seconds, stream_type):
    """A PyAV stream copy of *clip* (timestamps kept, the clip writer's muxer options) whose last
    packet of *stream_type*, in decode and in presentation order, lasts *seconds*."""
    import av

    tmp = clip.with_name("tmp-" + clip.name)
    fmt = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}[container]
    options = ({"movflags": "frag_keyframe+default_base_moof"} if container == "mp4"
               else {"avoid_negative_ts": "disabled"})
    with av.open(str(clip)) as inp:
        packets = [p for p in inp.demux() if p.dts is not None or p.size]
        target = next(s for s in inp.streams if s.type == stream_type).index
        mine = [p for p in packets if p.stream_index == target]
        for p in (mine[-1], max(mine, key=lambda p: p.pts)):
            p.duration = int(seconds / p.time_base)
        with av.open(str(tmp), "w", format=fmt, options=options) as out:
            mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for p in packets:
                p.stream = mapping[p.stream_index]
                out.mux(p)
    changed = tmp.read_bytes() != clip.read_bytes()
    tmp.replace(clip)
    return changed


@pytest.mark.parametrize("index", [1, 2], ids=["ends-at-segment-end", "ends-mid-segment"])
@pytest.mark.parametrize("stream_type", ["video", "audio"])
def test_clip_last_frame_held_for_a_minute(clip_ex, tmp_path, trust, container, index, stream_type):
    """A complicit exporter re-muxes a clip with its last frame lasting 60 s and re-signs the
    declaration: the chunk roots commit pts only, so every packet is the proven one, but a player
    shows that frame (and the clip) a minute longer. The signed sidecar bounds the hold: the
    next frame's pts after the clip (the next chunk's, or the signed span's end_pts for a clip
    ending at the segment's end). MPEG-TS stores no durations: its copy presents what was signed."""
    ex = copy(clip_ex, tmp_path)
    clip = _clip_file(ex, index)
    changed = _stretch_clip(clip, container, 60, stream_type)
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify(ex, trust)
    durations = [f for f in report.findings if f.code == "content.presentation_altered"
                 and f.where.get("field") in ("hold", "duration")]
    if container == "ts":
        assert not durations, [(f.code, f.message) for f in report.findings]
        return
    assert changed
    assert "content.presentation_altered" in failed and durations, [(f.code, f.message) for f in report.findings]
    assert all(f.where["clip"] == entry_of(declaration(ex), index)["clip"]["file"] for f in durations)
    assert any(f.where["found"] > 59_000 for f in durations)
    assert not report.ok


@pytest.mark.parametrize("start, end", [(0.5, 7), (1.2, 4.4), (3.0, 6.0), (0, None), (5.1, 5.3)],
                         ids=["multi", "mid-gop", "one-segment", "whole", "tiny"])
def test_pristine_clips_hold_no_longer_than_signed(ev, tmp_path, trust, start, end):
    """Every pristine clip (starting and ending mid-GOP, at a segment's end, across segments, the
    whole recording, one chunk) raises no hold or duration finding."""
    ex = build_exhibit(ev, "REC-001", tmp_path / "ex", start=start, end=end, trust=[trust.root_pub],
                       **trust.signed)
    report, failed = verify(ex, trust)
    assert report.ok and not failed, [(f.code, f.message) for f in report.findings if f.failed]
    assert not [f for f in report.findings if f.severity.value == "warning"]


@pytest.mark.parametrize("how", ["deleted", "swapped", "emptied"])
def test_clip_sidecar_deleted_or_swapped(clip_ex, tmp_path, trust, container, how):
    """A clip's segment sidecar deleted, exchanged with another segment's, or emptied, and the
    declaration re-signed to list the files as they now are: the clip's chunking, audio origin and
    hold bound come from that sidecar, so it must be the signed one (clip.leaves_mismatch)."""
    ex = copy(clip_ex, tmp_path)
    decl = declaration(ex)
    one, two = (Path(ex) / entry_of(decl, i)["leaves"] for i in (1, 2))
    if how == "deleted":
        one.unlink()
    elif how == "swapped":
        a, b = one.read_bytes(), two.read_bytes()
        one.write_bytes(b)
        two.write_bytes(a)
    else:
        one.write_bytes(b"")
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify(ex, trust)
    assert not report.ok and "clip.leaves_mismatch" in failed, [(f.code, f.message) for f in report.findings]
    bad = {f.where.get("segment") for f in report.findings if f.code == "clip.leaves_mismatch"}
    assert entry_of(decl, 1)["file"] in bad
    if how == "swapped":
        assert entry_of(decl, 2)["file"] in bad


# --- pristine matrix of clips: no false alarm (red team rt3) ------------------------------------------


def _recorded(out, clip, trust, container, *, mute=False, crash=False):
    """Evidence as a camera writes it: 1 s pre-event buffer, activated at 1.2 s, 3 s segments, the
    audio muted from 3.3 to 4.6 s (*mute*), or killed at 5.3 s and crash-recovered (*crash*)."""
    import shutil as _shutil

    from bwc_core.capture.recorder import Recorder, RecordingPolicy

    live = out / "live"
    with MediaSource(clip) as src:
        rec = Recorder(live, identity=trust.cam, cert=trust.cert, streams=src.streams, progress_seconds=1,
                       policy=RecordingPolicy(pre_event_seconds=1, segment_seconds=3, container=container))
        for p in src:
            rec.push(p)
            t = p.pts_seconds
            if rec.state.value == "standby" and t > 1.2:
                rec.activate()
            if mute and t > 3.3 and not rec.muted:
                rec.mute()
            if mute and t > 4.6 and rec.muted:
                rec.unmute()
            if crash and t > 5.3:
                break
        if crash:
            rec.flush_progress()
            _shutil.copytree(live, out / "ev", symlinks=True)
            rec.deactivate("event_complete")
            rec.close()
            Recorder.recover(out / "ev", identity=trust.cam, cert=trust.cert)
            return out / "ev"
        rec.deactivate("event_complete")
        rec.close()
    return live


@pytest.mark.parametrize("kind", ["video-only", "audio-only", "pre-event+muted", "crash-recovered"])
def test_pristine_clip_matrix(tmp_path, make_evidence, av_clip, video_clip, audio_clip, trust, container, kind):
    """Clips of evidence of every shape, cut at several spans (mid-GOP, across segments, to the
    recording's end, one chunk), verify clean in every container: no hold, duration, metadata or
    presentation finding on a pristine clip."""
    if kind == "video-only":
        ev = make_evidence(tmp_path / "v", [video_clip], trust.cam, trust.cert, container=container)
    elif kind == "audio-only":
        ev = make_evidence(tmp_path / "a", [audio_clip], trust.cam, trust.cert, container=container,
                           segment_seconds=1)
    else:
        ev = _recorded(tmp_path, av_clip, trust, container, mute=kind == "pre-event+muted",
                       crash=kind == "crash-recovered")
        from bwc_core.verify import verify_evidence  # the evidence itself verifies first

        whole = verify_evidence(ev, TrustAnchors([trust.root_pub]))
        assert whole.ok, [(f.code, f.message) for f in whole.findings if f.failed]
    rid = next(p.name for p in (Path(ev) / "media").iterdir() if p.is_dir())
    shown = 0
    for n, (start, end) in enumerate([(0, None), (0.4, 1.7), (1.1, None), (0.2, 0.5)]):
        ex = build_exhibit(ev, rid, tmp_path / f"ex{n}", start=start, end=end, trust=[trust.root_pub],
                           **trust.signed)
        report, failed = verify(ex, trust)
        shown += 1
        assert report.ok and not failed, (kind, start, end, [(f.code, f.message) for f in report.findings if f.failed])
        assert not [f for f in report.findings if f.severity.value == "warning"
                    and f.code not in ("recording.recovered", "segment.unattested_kept", "segment.lost")], \
            (kind, start, end, [(f.code, f.message) for f in report.findings])
    assert shown == 4

"""Tamper matrix, AAC part: every ADTS header a player decodes is committed (format 1.4, 1.2).

The content format strips an AAC frame's ADTS header before hashing, so the
same frame hashes the same in MPEG-TS (ADTS) and MP4/Matroska (raw AAC +
AudioSpecificConfig). Before format 1.4 it stripped *any* header, and the
configuration digest committed only the stream's first one: a later header
saying another sample rate, channel configuration or profile left the root
unchanged while FFmpeg decoded the frame by it. Now a header is stripped only
when it says what the committed configuration says (and holds one raw data
block); otherwise it is hashed with its frame. Attacks run in every container
where a player reads ADTS headers: MPEG-TS (every frame has one) and MP4 /
Matroska (FFmpeg's AAC decoder honours a header at the start of any frame).
Pristine evidence, made with PyAV's AAC encoder at 44.1 and 48 kHz, mono and
stereo, and its stream copies between the containers must keep verifying.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import _content_ref as ref
import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwc_core import _framing
from bwc_core.format.codec import StreamInfo
from bwc_core.format.content import ContentHasher, canonical_payload
from bwc_core.format.findings import Severity
from bwc_core.format.keys import TrustAnchors
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import payload_rewrites, write_packets
from bwc_core.verify import verify_evidence

CONTAINERS = ["mp4", "mkv", "ts"]
FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}
AUDIO = [(44100, "mono"), (44100, "stereo"), (48000, "mono"), (48000, "stereo")]
SFI = {44100: 4, 48000: 3}
SPEC = Path(__file__).parent / "data" / "content_spec_vectors.json"


# --- media and evidence ---------------------------------------------------------------------------


def encode(path: Path, rate: int, layout: str, seconds: int = 4) -> Path:
    """*seconds* of 64x48 H.264 (1 s GOPs) and a tone through PyAV's AAC encoder, in MP4."""
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
    v.codec_context.options = {"preset": "ultrafast", "x264-params": "keyint=25:min-keyint=25:scenecut=0"}
    a = out.add_stream("aac", rate=rate)
    a.layout = layout
    channels = 1 if layout == "mono" else 2
    frames, k = 0, 0
    while frames < seconds * 25 or k * 1024 < seconds * rate:
        if frames < seconds * 25 and frames / 25 <= k * 1024 / rate:
            img = np.full((48, 64, 3), (frames * 7) % 255, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = frames
            frames += 1
            for p in v.encode(f):
                out.mux(p)
            continue
        t = (np.arange(1024) + k * 1024) / rate
        tone = np.tile((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (channels, 1))
        f = av.AudioFrame.from_ndarray(tone, format="fltp", layout=layout)
        f.sample_rate, f.pts = rate, k * 1024
        k += 1
        for p in a.encode(f):
            out.mux(p)
    for s in (v, a):
        for p in s.encode():
            out.mux(p)
    out.close()
    return path


@pytest.fixture(scope="module")
def evidence_of(tmp_path_factory, trust, make_evidence):
    """(container, (rate, layout)) -> a pristine evidence directory (2 s segments), built once."""
    base = tmp_path_factory.mktemp("adts")
    sources: dict = {}
    built: dict = {}

    def get(container: str, audio: tuple[int, str]) -> Path:
        if audio not in sources:
            sources[audio] = encode(base / f"src-{audio[0]}-{audio[1]}.mp4", *audio)
        key = (container, audio)
        if key not in built:
            built[key] = make_evidence(base / f"{container}-{audio[0]}-{audio[1]}", [sources[audio]],
                                       trust.cam, trust.cert, container=container)
        return built[key]

    return get


@pytest.fixture
def ev(request, tmp_path, evidence_of):
    container, audio = request.param if isinstance(request.param, tuple) else (request.param, (44100, "mono"))
    return Path(shutil.copytree(evidence_of(container, audio), tmp_path / "ev")), container


def seg(ev_dir: Path, container: str, index: int) -> Path:
    return ev_dir / "media" / "REC-001" / f"REC-001-{index:05d}.{container}"


def verify(ev_dir: Path, trust):
    report = verify_evidence(ev_dir, TrustAnchors([trust.root_pub]))
    errors = {f.code for f in report.findings if f.severity is Severity.ERROR}
    others = {f.code for f in report.findings if f.severity is not Severity.ERROR}
    return report, errors, others


# --- ADTS headers, edited the way an attacker would ------------------------------------------------


def header(size: int, profile: int, sfi: int, chan: int) -> bytes:
    """A 7-byte ADTS header (no CRC, one raw data block) for a raw frame of *size* bytes."""
    n = size + 7
    return bytes([0xFF, 0xF1, (profile << 6) | (sfi << 2) | (chan >> 2), ((chan & 3) << 6) | (n >> 11),
                  (n >> 3) & 0xFF, ((n & 7) << 5) | 0x1F, 0xFC])


def fields(h: bytes) -> tuple[int, int, int]:
    return h[2] >> 6, (h[2] >> 2) & 0xF, ((h[2] & 1) << 2) | (h[3] >> 6)


def with_fields(h: bytes, profile: int, sfi: int, chan: int) -> bytes:
    h = bytearray(h)
    h[2] = (profile << 6) | (sfi << 2) | (h[2] & 0x02) | (chan >> 2)
    h[3] = ((chan & 3) << 6) | (h[3] & 0x3F)
    return bytes(h)


def ts_adts_headers(data: bytes) -> list[list[int]]:
    """File offsets of the 7 header bytes of every ADTS frame in an MPEG-TS file's audio PES."""
    es: dict[int, list[int]] = {}
    for at in range(0, len(data) - 187, 188):
        pkt = data[at:at + 188]
        assert pkt[0] == 0x47
        pid, afc = ((pkt[1] & 0x1F) << 8) | pkt[2], (pkt[3] >> 4) & 3
        start = 4 + (1 + pkt[4] if afc & 2 else 0)
        if not afc & 1 or start >= 188:
            continue
        if pkt[1] & 0x40:  # a PES starts here: audio streams are 0xC0..0xDF
            if pkt[start:start + 3] != b"\x00\x00\x01" or not 0xC0 <= pkt[start + 3] <= 0xDF:
                es.pop(pid, None)
                continue
            es.setdefault(pid, [])
            start += 9 + pkt[start + 8]
        if pid in es:
            es[pid].extend(range(at + start, at + 188))
    out = []
    for offsets in es.values():
        pos = 0
        while pos + 7 <= len(offsets):
            h = bytes(data[o] for o in offsets[pos:pos + 7])
            assert h[0] == 0xFF and h[1] & 0xF6 == 0xF0, h.hex()
            out.append(offsets[pos:pos + 7])
            pos += ((h[3] & 3) << 11) | (h[4] << 3) | (h[5] >> 5)
    return out


def edit_headers(path: Path, container: str, edit, first: int, last: int = 1 << 30) -> list[int]:
    """Give audio frames *first*..*last* the header ``edit(header) -> header``; returns the frames changed.

    MPEG-TS: the header bytes are patched in place (nothing else in the file moves). MP4 and
    Matroska hold raw frames: the segment is rewritten with the same packets and timestamps, the
    header put in front of those frames (FFmpeg's decoder reads a header at a frame's start).
    """
    changed = []
    if container == "ts":
        data = bytearray(path.read_bytes())
        for i, offs in enumerate(ts_adts_headers(data)):
            old = bytes(data[o] for o in offs)
            new = edit(old) if first <= i <= last else old
            if new != old:
                changed.append(i)
                for o, b in zip(offs, new, strict=False):
                    data[o] = b
        path.write_bytes(bytes(data))
        return changed
    with MediaSource(path) as src:
        asc = next(s.extradata for s in src.streams if s.kind == "audio")
        own = header(0, *ref.adts_reference(asc)[:3])  # what the configuration says
        packets, i = [], 0
        for p in src.packets():
            if p.kind == "audio":
                if first <= i <= last:
                    new = edit(header(len(p.payload), *fields(own)))
                    if fields(new) != fields(own):
                        changed.append(i)
                        p = p.replace(payload=new + bytes(p.payload))
                i += 1
            packets.append(p)
        tmp = path.with_name("edited." + container)
        write_packets(tmp, src.streams, packets, container=container, live=True)
    tmp.replace(path)
    return changed


def decoded(path: Path) -> list[tuple[int, int]]:
    """(sample rate, channels) of every audio frame FFmpeg decodes (None for an undecodable packet)."""
    out = []
    with av.open(str(path)) as c:
        for p in c.demux(c.streams.audio[0]):
            try:
                out.extend((f.sample_rate, len(f.layout.channels)) for f in p.decode())
            except av.FFmpegError:
                out.append(None)
    return out


ATTACKS = {
    # 44.1 kHz frames said to be 48 kHz: the same scale-factor bands, decoded and played at 48 kHz.
    "sample_rate": lambda h: with_fields(h, fields(h)[0], SFI[48000], fields(h)[2]),
    # mono frames said to be stereo: FFmpeg presents two channels.
    "channels": lambda h: with_fields(h, fields(h)[0], fields(h)[1], 2),
    # AAC LC frames said to be AAC LTP (the decoder reads long-term prediction data by it).
    "profile": lambda h: with_fields(h, 3, fields(h)[1], fields(h)[2]),
}


# --- attacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ev", CONTAINERS, indirect=True)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_later_adts_headers_changed_are_an_error(ev, trust, attack):
    """Segment 1 (44.1 kHz mono): frames 10.. get a header saying something else. The old
    format stripped it (root unchanged: at most 'container changed'); now each is a named
    ``content.packet_altered``."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 1)
    before = decoded(victim)
    changed = edit_headers(victim, container, ATTACKS[attack], first=10)
    assert len(changed) > 20
    after = decoded(victim)
    if attack == "sample_rate":  # the premise: what a player presents changes
        assert (48000, 1) in after and (48000, 1) not in before
    elif attack == "channels":
        assert (44100, 2) in after and (44100, 2) not in before
    report, errors, others = verify(ev_dir, trust)
    assert not report.ok and "content.packet_altered" in errors, report.findings
    assert "content.container_changed" not in others
    named = [f for f in report.findings if f.code == "content.packet_altered" and "stream_packet" in f.where]
    assert named and all(f.where["stream"] == 1 and f.where["stream_packet"] in changed for f in named)
    assert all(f.where["segment"].endswith(victim.name) for f in named)
    total = [f for f in report.findings if f.code == "content.packet_altered" and "count" in f.where]
    assert (total[0].where["count"] if total else len(named)) == len(changed)


@pytest.mark.parametrize("ev", ["ts"], indirect=True)
def test_every_adts_header_changed_is_a_configuration_error(ev, trust):
    """All headers, the first included: the first one is the committed configuration (1.3)."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 1)
    edit_headers(victim, container, ATTACKS["sample_rate"], first=0)
    report, errors, _ = verify(ev_dir, trust)
    assert not report.ok and "content.config_altered" in errors, report.findings
    (f,) = [f for f in report.findings if f.code == "content.config_altered"]
    assert f.where["stream"] == 1 and f.where["segment"].endswith(victim.name)


@pytest.mark.parametrize("ev", ["ts"], indirect=True)
def test_header_bits_ffmpeg_does_not_read_stay_outside_the_commitment(ev, trust):
    """ID, private, original/copy, home, copyright bits and buffer fullness: FFmpeg's ADTS parser
    skips them (nothing decoded or presented changes), so the frames are the signed ones."""
    ev_dir, container = ev
    victim = seg(ev_dir, container, 1)
    before = decoded(victim)

    def unread(h: bytes) -> bytes:
        h = bytearray(h)
        h[1] ^= 0x08
        h[2] ^= 0x02
        h[3] ^= 0x3C
        h[5] ^= 0x1F
        h[6] ^= 0xFC
        return bytes(h)

    assert edit_headers(victim, container, unread, first=5)
    assert decoded(victim) == before
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and not errors and "content.container_changed" in others, report.findings


# --- a TS clip exhibit -----------------------------------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
def test_exhibit_clip_with_later_adts_headers_changed(container, evidence_of, tmp_path, trust):
    """A clip of an exhibit, its later ADTS headers changed and the exhibit re-signed by the
    (complicit) exporter: only the device's signature is left, and it catches it."""
    from test_attacks_exhibit import _clip_file, resign
    from test_attacks_exhibit import verify as verify_ex

    from bwc_core.exhibit.build import build_exhibit

    ev_dir = evidence_of(container, (44100, "mono"))
    ex = build_exhibit(ev_dir, "REC-001", tmp_path / "ex", start=0.5, end=3.5, trust=[trust.root_pub],
                       **trust.signed)
    report, failed = verify_ex(ex, trust)
    assert report.ok and not failed, report.findings  # pristine
    clip = _clip_file(ex, 1)
    changed = edit_headers(clip, container, ATTACKS["sample_rate"], first=10, last=14)
    assert len(changed) == 5 and (48000, 1) in decoded(clip)
    resign(ex, trust.server, trust.server_cert)
    report, failed = verify_ex(ex, trust)
    assert not report.ok and {"clip.chunk_altered", "clip.frames_removed"} <= failed, [
        (f.code, f.message) for f in report.findings if f.failed]
    f = next(f for f in report.findings if f.code == "clip.chunk_altered" and "count" in f.where)
    assert f.where["count"] == 5 and "never signed" in f.message  # the 5 frames, by their signed chunk
    assert f.where["segment"].endswith(f"00001.{container}")


# --- pristine evidence stays clean ----------------------------------------------------------------


@pytest.mark.parametrize("ev", [(c, a) for c in CONTAINERS for a in AUDIO], indirect=True,
                         ids=[f"{c}-{a[0]}-{a[1]}" for c in CONTAINERS for a in AUDIO])
def test_pristine_evidence_and_its_stream_copies_verify(ev, trust, tmp_path):
    """PyAV's AAC encoder at 44.1 / 48 kHz, mono / stereo, sealed in each container; then
    ``ffmpeg -c copy`` of each segment into each container: no error, 'container changed'."""
    ev_dir, container = ev
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and not errors and not others - {"content.timing_shifted"}, report.findings
    segments = sorted((ev_dir / "media" / "REC-001").glob(f"*.{container}"))
    assert len(segments) >= 2
    for victim in (segments[0], segments[-1]):
        original = victim.read_bytes()
        for target in CONTAINERS:
            out = tmp_path / f"remux.{target}"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", victim, "-map", "0", "-c", "copy",
                            "-f", FORMATS[target], out], check=True)
            victim.write_bytes(out.read_bytes())
            report, errors, others = verify(ev_dir, trust)
            assert report.ok and not errors, (victim.name, target, report.findings)
            assert "content.container_changed" in others
            victim.write_bytes(original)


@pytest.fixture(scope="module")
def other_sources(tmp_path_factory):
    """An MPEG-TS source (stream copy of PyAV's 48 kHz stereo AAC: ADTS frames, no ASC) and AAC
    Main profile (ADTS profile 0) from FFmpeg's encoder."""
    base = tmp_path_factory.mktemp("adts-sources")
    ts = base / "source.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", encode(base / "lc.mp4", 48000, "stereo"), "-c", "copy",
                    ts], check=True)
    main = base / "main.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=4", "-f", "lavfi", "-i",
                    "testsrc=s=64x48:r=25:d=4", "-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-preset",
                    "ultrafast", "-g", "25", "-c:a", "aac", "-profile:a", "aac_main", "-b:a", "64k", main],
                   check=True)
    return {"ts-source": ts, "aac-main": main}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("source", ["ts-source", "aac-main"])
def test_pristine_evidence_from_adts_and_main_profile_sources(container, source, other_sources, make_evidence,
                                                              trust, tmp_path):
    """Sealed from an MPEG-TS file (bwc-core strips the headers into MP4/Matroska) and from AAC
    Main: verifies clean, and so does a stream copy of a segment into each container."""
    ev_dir = make_evidence(tmp_path / "ev", [other_sources[source]], trust.cam, trust.cert, container=container)
    report, errors, others = verify(ev_dir, trust)
    assert report.ok and not errors and not others - {"content.timing_shifted"}, report.findings
    victim = seg(ev_dir, container, 1)
    if source == "aac-main":
        with MediaSource(victim) as src:
            assert ref.adts_reference(src.streams[1].extradata)[0] == 0  # profile Main
    original = victim.read_bytes()
    for target in CONTAINERS:
        out = tmp_path / f"remux.{target}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", victim, "-map", "0", "-c", "copy", "-f",
                        FORMATS[target], out], check=True)
        victim.write_bytes(out.read_bytes())
        report, errors, others = verify(ev_dir, trust)
        assert report.ok and not errors and "content.container_changed" in others, (target, report.findings)
        victim.write_bytes(original)


@pytest.mark.parametrize("audio", AUDIO, ids=[f"{a[0]}-{a[1]}" for a in AUDIO])
def test_adts_headers_of_pristine_ts_are_all_stripped(audio, evidence_of):
    """The premise of 'no root changed': FFmpeg's MPEG-TS muxer writes every header as the
    configuration says, so every frame of a pristine TS segment hashes as its raw frame."""
    ev_dir = evidence_of("ts", audio)
    for path in sorted((ev_dir / "media" / "REC-001").glob("*.ts")):
        with MediaSource(path) as src:
            info = src.streams[1]
            framer = _framing.Framer("aac", info.extradata)
            payloads = [bytes(p.payload) for p in src.packets() if p.stream == 1]
        assert info.extradata == bytes([0x10 | SFI[audio[0]] >> 1, (SFI[audio[0]] & 1) << 7
                                        | (1 if audio[1] == "mono" else 2) << 3])
        assert all(len(bytes(framer.canonical(p))) == len(p) - 7 for p in payloads)


# --- the rule, both implementations --------------------------------------------------------------


def test_adts_vectors():
    """tests/data/content_spec_vectors.json ``adts``: the fast path and the reference."""
    from bwc_core.format.content import config_digest

    for v in json.loads(SPEC.read_text())["adts"]:
        extradata = bytes.fromhex(v["extradata"])
        payloads = [bytes.fromhex(p) for p in v["payloads"]]
        framer = _framing.Framer("aac", extradata)
        h = ContentHasher([StreamInfo(1, "audio", "aac", Fraction(1, 48000), extradata=extradata)])
        for k, p in enumerate(payloads):
            assert bytes(framer.canonical(p)).hex() == v["canonical"][k], (v["name"], k)
            h.update(PacketRecord(1, "audio", 1024 * k, None, 1024, (1, 48000), True, p))
        res = h.finish()
        assert [p.leaf.hex() for p in res.packets] == v["leaves"], v["name"]
        assert res.streams[0].config_digest == ref.H(ref.CC, bytes.fromhex(v["config_input"]))
        assert config_digest("aac", extradata, (), framer.adts_config) == res.streams[0].config_digest
        ref_out = [ref.canonical_payload("aac", p, extradata, ref.aac_config(extradata, payloads)) for p in payloads]
        assert [c.hex() for c in ref_out] == v["canonical"], v["name"]
        expect = v["reference"]
        got = framer.adts_reference
        assert (got == -2) == (not expect)
        if expect:
            p, sfi, chan, _ = expect
            assert got == (p << 14) | (sfi << 10) | ((chan >> 2) << 8) | ((chan & 3) << 6)
    names = " ".join(v["name"] for v in json.loads(SPEC.read_text())["adts"])
    assert "HE-AAC" in names and "5-byte" in names


ASCS = ["", "1188", "118856e500", "1210", "1190", "2b118800", "eb098800", "17800bb80008", "f8", "0a"]


@st.composite
def adts_streams(draw):
    """An AAC stream's payloads: ADTS frames with random decoding fields and bits, raw frames,
    frames whose length field lies; and an extradata that agrees, differs or is absent."""
    extradata = bytes.fromhex(draw(st.sampled_from(ASCS)))
    base = (draw(st.integers(0, 3)), draw(st.integers(0, 15)), draw(st.integers(0, 7)))
    payloads = []
    for _ in range(draw(st.integers(0, 12))):
        body = draw(st.binary(max_size=24))
        kind = draw(st.sampled_from(["same", "same", "other", "raw", "bad_length", "crc"]))
        profile, sfi, chan = base if kind != "other" else (
            draw(st.integers(0, 3)), draw(st.integers(0, 15)), draw(st.integers(0, 7)))
        if kind == "raw":
            payloads.append(body)
            continue
        crc = kind == "crc"
        n = len(body) + (9 if crc else 7) + (draw(st.integers(1, 3)) if kind == "bad_length" else 0)
        h = bytearray([0xFF, 0xF0 | (draw(st.integers(0, 1)) << 3) | (0 if crc else 1),
                       (profile << 6) | (sfi << 2) | (draw(st.integers(0, 1)) << 1) | (chan >> 2),
                       ((chan & 3) << 6) | (draw(st.integers(0, 15)) << 2) | (n >> 11), (n >> 3) & 0xFF,
                       ((n & 7) << 5) | draw(st.integers(0, 31)), draw(st.integers(0, 255))])
        payloads.append(bytes(h) + (b"\x12\x34" if crc else b"") + body)
    return extradata, payloads


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adts_streams())
def test_adts_rule_fast_path_equals_reference(stream):
    """Differential: the Cython framer and the pure-Python reference give identical bytes."""
    extradata, payloads = stream
    framer = _framing.Framer("aac", extradata)
    config = ref.aac_config(extradata, payloads)
    fast = [bytes(framer.canonical(p)) for p in payloads]
    slow = [ref.canonical_payload("aac", p, extradata, config) for p in payloads]
    assert fast == slow
    info = StreamInfo(0, "audio", "aac", Fraction(1, 48000), extradata=extradata)
    h = ContentHasher([info])
    packets = [PacketRecord(0, "audio", 1024 * k, None, 1024, (1, 48000), True, p) for k, p in enumerate(payloads)]
    for p in packets:
        h.update(p)
    res = h.finish()
    expected = ref.content([(0, "audio", "aac", Fraction(1, 48000), extradata)], packets)
    assert res.root == expected["root"] and [p.leaf for p in res.packets] == expected["leaves"]


def test_he_aac_core_headers_are_stripped():
    """HE-AAC: ADTS carries the core (AAC LC at half the rate); the ASC signals SBR on top."""
    he = bytes.fromhex("2b118800")  # object type 5, core 24 kHz stereo, SBR at 48 kHz, core LC
    body = b"\x21\x10\x05"
    core = header(len(body), 1, 6, 2) + body
    full_rate = header(len(body), 1, 3, 2) + body
    assert bytes(canonical_payload("aac", core, he)) == body
    assert bytes(canonical_payload("aac", full_rate, he)) == full_rate


def test_writer_keeps_a_header_the_configuration_does_not_describe():
    """ADTS into MP4/Matroska (bwc seal of an MPEG-TS file): a frame whose header says something
    else keeps it, so the file decodes as the source did and hashes as the camera signed."""
    from bwc_core.media.writers import PayloadRewrite

    asc = bytes.fromhex("1208")  # LC 44.1 kHz mono
    rewrite = PayloadRewrite(adts=True, extradata=asc)
    body = b"\x21\x10\x05"
    assert rewrite(header(3, 1, 4, 1) + body, False) == body
    odd = header(3, 1, 3, 1) + body
    assert rewrite(odd, False) == odd
    from types import SimpleNamespace

    ts_source = SimpleNamespace(codec_context=SimpleNamespace(extradata=b""))  # ADTS: no ASC of its own
    rw = payload_rewrites([StreamInfo(0, "audio", "aac", Fraction(1, 44100), extradata=asc,
                                      template=ts_source)], "mp4")
    assert rw[0](odd, False) == odd and rw[0](header(3, 1, 4, 1) + body, False) == body

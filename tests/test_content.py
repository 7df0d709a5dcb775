"""Content format v1: fast path vs reference, containers, proofs, sidecar, vectors."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from fractions import Fraction

import _content_ref as ref
import numpy as np
import pytest
from blake3 import blake3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwc_core.errors import (
    BwcTypeError,
    BwcValueError,
    CorruptMediaError,
    LeavesError,
    MediaError,
    PacketError,
    UnsupportedCodecError,
)
from bwc_core.format import content
from bwc_core.format.codec import StreamInfo
from bwc_core.format.content import (
    CONTEXTS,
    ContentHasher,
    FileDigester,
    RangeProof,
    canonical_payload,
    config_digest,
    file_digests,
    inclusion_proof,
    merkle_root,
    packet_leaf,
    read_leaves,
    verify_range_proof,
    write_leaves,
)
from bwc_core.media.commit import content_root
from bwc_core.media.packets import PacketRecord
from bwc_core.media.source import MediaSource
from bwc_core.media.writers import write_packets

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def demux(path):
    with MediaSource(path) as src:
        return src.streams, list(src.packets())


def ref_streams(streams):
    return [(s.index, s.kind, s.codec, s.time_base, s.extradata) for s in streams]


# --- differential: Cython fast path == pure-Python reference -------------------------------------

nal_body = st.binary(min_size=1, max_size=40).filter(lambda b: b"\x00\x00" not in b and not b.endswith(b"\x00"))


@st.composite
def nal_units(draw, codec):
    types = [1, 5, 6, 7, 8, 9, 12] if codec == "h264" else [1, 19, 32, 33, 34, 35, 38, 39]
    out = []
    for _ in range(draw(st.integers(0, 6))):
        t = draw(st.sampled_from(types))
        head = bytes([t]) if codec == "h264" else bytes([t << 1, 1])
        out.append(head + draw(nal_body))
    return out


def avcc(length_size: int) -> bytes:
    return bytes([1, 0x64, 0, 0x0A, 0xFC | (length_size - 1), 0xE0, 0])


def hvcc(length_size: int) -> bytes:
    return bytes([1] + [0] * 20 + [0xFC | (length_size - 1), 0])


@FAST
@given(st.sampled_from(["h264", "hevc"]), st.data())
def test_canonical_and_leaf_match_reference_length_prefixed(codec, data):
    nals = data.draw(nal_units(codec))
    size = data.draw(st.sampled_from([1, 2, 4]))
    nals = [n for n in nals if len(n) < (1 << (8 * size))]
    extradata = avcc(size) if codec == "h264" else hvcc(size)
    payload = b"".join(len(n).to_bytes(size, "big") + n for n in nals)
    fast = bytes(canonical_payload(codec, payload, extradata))
    assert fast == ref.canonical_payload(codec, payload, extradata)
    stream, flags = data.draw(st.integers(0, 2**32 - 1)), data.draw(st.integers(0, 1))
    assert packet_leaf(stream, flags, fast) == ref.packet_leaf(stream, flags, fast)
    # The hasher's one-pass leaf equals leaf(canonical): framing happens inside.
    info = StreamInfo(0, "video", codec, Fraction(1, 90000), extradata=extradata)
    h = ContentHasher([info])
    h.update(PacketRecord(0, "video", 0, payload=payload, keyframe=bool(flags)))
    assert h.finish().packets[0].leaf == ref.packet_leaf(0, flags, fast)


@FAST
@given(st.sampled_from(["h264", "hevc"]), st.data())
def test_trailing_zero_bytes_are_not_part_of_a_nal_unit(codec, data):
    """A length-prefixed NAL unit carrying trailing zeros (what a converter from Annex B can
    leave) frames like the same NAL in Annex B: a NAL unit never ends in 0x00."""
    nals = data.draw(nal_units(codec))
    pads = [data.draw(st.integers(0, 3)) for _ in nals]
    extradata = avcc(4) if codec == "h264" else hvcc(4)
    padded = b"".join(
        len(n + b"\x00" * k).to_bytes(4, "big") + n + b"\x00" * k for n, k in zip(nals, pads, strict=False)
    )
    clean = b"".join(len(n).to_bytes(4, "big") + n for n in nals)
    annexb = b"".join(b"\x00\x00\x00\x01" + n for n in nals)
    fast = bytes(canonical_payload(codec, padded, extradata))
    assert fast == bytes(canonical_payload(codec, clean, extradata)) == bytes(canonical_payload(codec, annexb))
    assert fast == ref.canonical_payload(codec, padded, extradata)
    # and in the configuration record
    ps = [n for n in nals if ref.nal_type(codec, n) in (ref.H264_PS if codec == "h264" else ref.HEVC_PS)]
    if codec == "hevc" and ps:
        record = bytes(hvcc(4)[:22]) + bytes([len(ps)]) + b"".join(
            bytes([(n[0] >> 1) & 0x3F]) + (1).to_bytes(2, "big") + (len(n) + 2).to_bytes(2, "big") + n + b"\x00\x00"
            for n in ps)
        assert config_digest("hevc", record) == config_digest("hevc", b"", ps)
        assert config_digest("hevc", record) == ref.config_digest("hevc", record, [])


@FAST
@given(st.sampled_from(["h264", "hevc"]), st.data())
def test_canonical_matches_reference_annexb(codec, data):
    nals = data.draw(nal_units(codec))
    parts = []
    for n in nals:
        parts.append(data.draw(st.sampled_from([b"\x00\x00\x01", b"\x00\x00\x00\x01"])) + n)
        parts.append(b"\x00" * data.draw(st.integers(0, 3)))
    payload = data.draw(st.binary(max_size=3).filter(lambda b: b"\x00" not in b)) + b"".join(parts)
    assert bytes(canonical_payload(codec, payload)) == ref.canonical_payload(codec, payload)
    kept = [n for n in nals if ref.nal_type(codec, n) not in (ref.H264_DROP if codec == "h264" else ref.HEVC_DROP)]
    assert bytes(canonical_payload(codec, payload)).endswith(b"".join(len(n).to_bytes(4, "big") + n for n in kept))


@FAST
@given(st.binary(max_size=64), st.booleans(), st.booleans())
def test_aac_matches_reference(body, adts, crc):
    payload = body
    if adts:
        n = len(body) + (7 if not crc else 9)
        header = bytearray([0xFF, 0xF1 if not crc else 0xF0, 0x50, 0x80, 0, 0x1F, 0xFC])
        header[3] |= (n >> 11) & 3
        header[4] = (n >> 3) & 0xFF
        header[5] = ((n & 7) << 5) | 0x1F
        payload = bytes(header) + (b"\x00\x00" if crc else b"") + body
        assert bytes(canonical_payload("aac", payload)) == body
    assert bytes(canonical_payload("aac", payload)) == ref.canonical_payload("aac", payload)


@FAST
@given(st.integers(1, 300), st.sampled_from(["packet_tree", "segment_tree"]))
def test_merkle_root_matches_reference(n, key):
    leaves = [blake3(struct.pack("<I", i)).digest() for i in range(n)]
    assert merkle_root(leaves, key) == ref.mth(leaves, CONTEXTS[key])


@st.composite
def packet_sequences(draw):
    """Random H.264 (length-prefixed) + AAC (ADTS or raw) + data packets."""
    gop = draw(st.integers(1, 6))
    nvideo = draw(st.integers(0, 25))
    naudio = draw(st.integers(0, 25))
    video_first = draw(st.booleans())
    streams = []
    if nvideo or video_first:
        streams.append(StreamInfo(0, "video", "h264", Fraction(1, 90000), extradata=avcc(4)))
    streams.append(StreamInfo(len(streams), "audio", "aac", Fraction(1, 48000)))
    streams.append(StreamInfo(len(streams), "data", "bin_data", Fraction(1, 1000)))
    packets = {s.index: [] for s in streams}
    if streams[0].kind == "video":
        for i in range(nvideo):
            body = draw(nal_units("h264"))
            payload = b"".join(len(n).to_bytes(4, "big") + n for n in body)
            pts = 3000 * i + draw(st.sampled_from([0, 3000, 6000]))
            packets[0].append(PacketRecord(0, "video", pts, 3000 * i - 3000, 3000, (1, 90000), i % gop == 0, payload))
    a = streams[-2].index
    start = draw(st.integers(-2048, 40000))
    for i in range(naudio):
        body = draw(st.binary(max_size=20))
        packets[a].append(PacketRecord(a, "audio", start + 1024 * i, None, 1024, (1, 48000), True, body))
    d = streams[-1].index
    for i in range(draw(st.integers(0, 4))):
        packets[d].append(PacketRecord(d, "data", draw(st.integers(-100, 3000)), None, 0, (1, 1000), False, b"x" * i))
    # random interleaving keeping each stream's order
    order = []
    queues = {k: list(v) for k, v in packets.items()}
    while any(queues.values()):
        k = draw(st.sampled_from(sorted(k for k, v in queues.items() if v)))
        order.append(queues[k].pop(0))
    return streams, order


@FAST
@given(packet_sequences(), st.randoms(use_true_random=False))
def test_content_hasher_matches_reference_and_ignores_interleaving(seq, rnd):
    streams, packets = seq
    h = ContentHasher(streams)
    for p in packets:
        h.update(p)
    result = h.finish()
    expected = ref.content(ref_streams(streams), packets)
    assert result.root == expected["root"]
    assert result.chunk_roots == expected["chunk_roots"]
    assert [p.leaf for p in result.packets] == expected["leaves"]
    # Another interleaving of the same per-stream sequences gives the same root.
    by_stream = {}
    for p in packets:
        by_stream.setdefault(p.stream, []).append(p)
    shuffled = []
    while any(by_stream.values()):
        k = rnd.choice(sorted(k for k, v in by_stream.items() if v))
        shuffled.append(by_stream[k].pop(0))
    h2 = ContentHasher(streams)
    for p in shuffled:
        h2.update(p)
    assert h2.finish().root == result.root


TIME_BASES = st.sampled_from([Fraction(1, 1000), Fraction(1, 90000), Fraction(1, 48000), Fraction(1001, 30000),
                              Fraction(1, 7)])


@FAST
@given(packet_sequences(), st.data())
def test_committed_time_bases_and_wrapped_pts_match_reference(seq, data):
    """Rescaling to output time bases and 33-bit wrapping: fast path == reference, byte for byte."""
    streams, packets = seq
    shift = data.draw(st.sampled_from([0, 2**32 - 5000, -(2**32) + 3000, 2**33 - 1000, 5 * 2**33 + 17]))
    packets = [p.replace(pts=p.pts + shift) for p in packets]
    time_bases = data.draw(st.dictionaries(st.sampled_from([s.index for s in streams]), TIME_BASES))
    bits = data.draw(st.sampled_from([None, 33]))
    h = ContentHasher(streams, time_bases=time_bases, pts_bits=bits)
    for p in packets:
        h.update(p)  # records still come in the declared time bases
    result = h.finish()
    expected = ref.content(ref_streams(streams), packets, time_bases, bits)
    assert result.root == expected["root"]
    assert result.chunk_roots == expected["chunk_roots"]
    assert [p.leaf for p in result.packets] == expected["leaves"]
    assert [p.pts for p in result.packets] == expected["pts"]
    assert {s.index: s.time_base for s in result.streams} == {
        s.index: Fraction(time_bases.get(s.index, s.time_base)) for s in streams}
    if bits:
        assert all(-(2**32) <= p.pts < 2**32 for p in result.packets)


@pytest.mark.parametrize("pts,src,dst,expected", [
    (1, Fraction(1, 2), Fraction(1), 1),        # 0.5 -> 1: halves away from zero
    (-1, Fraction(1, 2), Fraction(1), -1),      # -0.5 -> -1
    (3, Fraction(1, 2), Fraction(1), 2),        # 1.5 -> 2
    (-1024, Fraction(1, 48000), Fraction(1, 1000), -21),   # AAC priming in MKV (-21.33 ms)
    (-1024, Fraction(1, 44100), Fraction(1, 90000), -2090),  # -2089.8 ticks
    (512, Fraction(1, 15360), Fraction(1, 1000), 33),      # 33.33 ms
    (2**63 - 1, Fraction(1, 48000), Fraction(1, 1000), 2**63 - 1),  # PASS_MINMAX
    (-(2**63), Fraction(1, 48000), Fraction(1, 1000), -(2**63)),
])
def test_rescale_is_ffmpegs_near_inf(pts, src, dst, expected):
    from bwc_core import _framing

    assert ref.rescale(pts, src, dst) == expected
    b, c = src.numerator * dst.denominator, src.denominator * dst.numerator
    assert _framing.rescale_pts(pts, b, c) == expected


def test_pts_wrap_is_signed_33_bits():
    from bwc_core import _framing

    for v, expected in [(0, 0), (2**33 - 1920, -1920), (2**32 - 1, 2**32 - 1), (2**32, -(2**32)),
                        (-1920, -1920), (2**33 + 5, 5), (-(2**33) - 5, -5)]:
        assert _framing.wrap_pts(v, 33) == ref.wrap(v, 33) == expected


def test_hasher_time_base_misuse_is_typed():
    info = StreamInfo(0, "audio", "aac", Fraction(1, 48000))
    with pytest.raises(BwcValueError):
        ContentHasher([info], time_bases={1: Fraction(1, 1000)})
    with pytest.raises(BwcValueError):
        ContentHasher([info], time_bases={0: Fraction(0, 1)})
    with pytest.raises(BwcValueError):
        ContentHasher([info], pts_bits=1)
    h = ContentHasher([info], time_bases={0: Fraction(1, 1000)})
    with pytest.raises(PacketError, match="time base"):  # records in the output time base are refused
        h.update(PacketRecord(0, "audio", 0, None, 1024, (1, 1000), True, b"x"))


# --- real media across containers -------------------------------------------------------------------


def ffmpeg_copy(src, dst):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-map", "0", "-c", "copy", str(dst)], check=True)
    return dst


def pyav_copy(src, dst, container):
    with MediaSource(src) as s:
        write_packets(dst, s.streams, s.packets(), container=container)
    return dst


@pytest.fixture(scope="module")
def original(av_clip):
    return content_root(av_clip)


@pytest.mark.parametrize("tool", ["ffmpeg", "pyav"])
@pytest.mark.parametrize("container,unit", [("mp4", None), ("mkv", Fraction(1, 1000)), ("ts", Fraction(1, 90000))])
def test_stream_copy_keeps_payload_roots(av_clip, original, tmp_path, tool, container, unit):
    dst = tmp_path / f"copy.{container}"
    if tool == "ffmpeg":
        ffmpeg_copy(av_clip, dst)
    else:
        pyav_copy(av_clip, dst, container)
    copy = content_root(dst)
    assert len(original.chunks) == 8
    assert [c.payload_root for c in copy.chunks] == [c.payload_root for c in original.chunks]
    assert [s.config_digest for s in copy.streams] == [s.config_digest for s in original.streams]
    assert [(p.chunk, p.stream, p.flags, p.size, p.leaf) for p in copy.packets] == [
        (p.chunk, p.stream, p.flags, p.size, p.leaf) for p in original.packets
    ]
    # Timing: equal within half the new time base unit after one constant offset.
    tbs = {s.index: s.time_base for s in original.streams}
    new_tbs = {s.index: s.time_base for s in copy.streams}
    diffs = [
        q.pts * new_tbs[q.stream] - p.pts * tbs[p.stream] for p, q in zip(original.packets, copy.packets, strict=False)
    ]
    spread = max(diffs) - min(diffs)
    if unit is None:  # MP4 -> MP4 keeps time bases and timestamps exactly
        assert new_tbs == tbs and spread == 0
        assert [p.pts for p in copy.packets] == [p.pts for p in original.packets]
    else:
        assert set(new_tbs.values()) == {unit}
        assert spread <= unit, f"timing moved by more than container rounding: {spread}"
    if container == "mkv":
        # Millisecond rounding changes timing hashes but never payload roots.
        assert all(a.timing_hash != b.timing_hash for a, b in zip(original.chunks, copy.chunks, strict=False))


def test_mpegts_really_is_annexb_with_adts(av_clip, tmp_path):
    dst = ffmpeg_copy(av_clip, tmp_path / "c.ts")
    streams, packets = demux(dst)
    video = next(p for p in packets if p.stream == 0 and p.keyframe)
    audio = next(p for p in packets if p.stream == 1)
    assert bytes(video.payload[:4]) in (b"\x00\x00\x00\x01",) or bytes(video.payload[:3]) == b"\x00\x00\x01"
    assert b"\x00\x00\x01\x09" in bytes(video.payload) and b"\x00\x00\x01\x67" in bytes(video.payload)
    assert audio.payload[0] == 0xFF and audio.payload[1] & 0xF0 == 0xF0
    # The demuxer gives no AudioSpecificConfig; MediaSource rebuilds it from the
    # first ADTS header (profile + 1, sampling index, channels), as the framer does.
    import av

    with av.open(str(dst)) as raw:
        assert not raw.streams.audio[0].codec_context.extradata
    h = bytes(audio.payload[:4])
    profile, sfi, chan = h[2] >> 6, (h[2] >> 2) & 0xF, ((h[2] & 1) << 2) | (h[3] >> 6)
    v = ((profile + 1) << 11) | (sfi << 7) | (chan << 3)
    assert streams[1].extradata == v.to_bytes(2, "big")


def test_video_only_and_audio_only(video_clip, audio_clip):
    v = content_root(video_clip)
    assert len(v.chunks) == 8  # 4 s, half-second GOPs
    assert all(p.flags == 1 for p in v.packets if p.pts == 0)
    a = content_root(audio_clip)
    tb = a.streams[0].time_base
    t0 = min(p.pts for p in a.packets) * tb
    for c in a.chunks:  # audio only: chunk k holds the packets of [t0 + k s, t0 + k + 1 s)
        assert all(c.index <= p.pts * tb - t0 < c.index + 1 for p in a.chunk_packets(c.index))
    assert len(a.chunks) in (3, 4) and all(p.flags == 0 for p in a.packets)
    for path, res in ((video_clip, v), (audio_clip, a)):
        streams, packets = demux(path)
        assert ref.content(ref_streams(streams), packets)["root"] == res.root


def test_one_payload_byte_changes_exactly_one_leaf(av_clip, original, tmp_path):
    path = tmp_path / "tampered.mp4"
    with MediaSource(av_clip) as src:  # templates are only valid while the source is open
        packets = list(src.packets())
        target = next(i for i, p in enumerate(packets) if p.stream == 0 and p.pts * p.time_base > 3 and not p.keyframe)
        payload = bytearray(packets[target].payload)
        payload[len(payload) // 2] ^= 0x40
        packets[target] = packets[target].replace(payload=bytes(payload))
        write_packets(path, src.streams, packets)
    tampered = content_root(path)
    changed_leaves = [
        i for i, (a, b) in enumerate(zip(original.packets, tampered.packets, strict=False)) if a.leaf != b.leaf
    ]
    changed_chunks = [c.index for c, d in zip(original.chunks, tampered.chunks, strict=False) if c.root != d.root]
    assert len(changed_leaves) == 1 and len(changed_chunks) == 1
    assert tampered.root != original.root
    named = tampered.packets[changed_leaves[0]]
    assert (named.stream, named.pts, named.chunk) == (0, packets[target].pts, changed_chunks[0])
    assert [c.timing_hash for c in original.chunks] == [c.timing_hash for c in tampered.chunks]


# --- range proofs ---------------------------------------------------------------------------------


def test_range_proofs_verify_and_fail_when_tampered(original):
    roots = original.chunk_roots
    n = len(roots)
    for first in range(n):
        for last in range(first, n):
            proof = inclusion_proof(original, first, last)
            rng = roots[first : last + 1]
            assert verify_range_proof(proof, rng, original.root)
            again = RangeProof.from_json(json.loads(json.dumps(proof.to_json())))
            assert verify_range_proof(again, rng, original.root)
            bad = bytearray(rng[0])
            bad[0] ^= 1
            assert not verify_range_proof(proof, [bytes(bad)] + rng[1:], original.root)
            assert not verify_range_proof(proof, rng, bytes(32))
            if first > 0:  # the wrong chunk
                assert not verify_range_proof(proof, roots[first - 1 : last], original.root)
            for k in range(len(proof.siblings)):
                sib = list(proof.siblings)
                sib[k] = bytes(32)
                assert not verify_range_proof(RangeProof(n, first, last, sib, proof.streams), rng, original.root)
            assert not verify_range_proof(
                RangeProof(n, first, last, proof.siblings + [bytes(32)], proof.streams), rng, original.root
            )
    proof = inclusion_proof(original, 2, 4)
    assert not verify_range_proof(
        RangeProof(n, 2, 4, proof.siblings, proof.streams[:-1] + b"\x00"), roots[2:5], original.root
    )
    with pytest.raises(BwcValueError):
        inclusion_proof(original, 3, n)
    with pytest.raises(BwcValueError):
        RangeProof.from_json({"version": 2})
    with pytest.raises(BwcValueError):
        RangeProof.from_json({"version": 1, "tree_size": 1, "first": 0, "last": 0, "siblings": ["00"], "streams": ""})


# --- sidecar ------------------------------------------------------------------------------------------


def test_leaves_sidecar_roundtrip_and_validation(original, tmp_path):
    path = tmp_path / "seg.mp4.leaves"
    size = write_leaves(path, original)
    assert size == os.path.getsize(path) == 8 + 4 + 44 * 2 + 8 + 56 * len(original.packets)
    back = read_leaves(path)
    assert back.root == original.root
    assert back.packets == original.packets
    assert [(c.payload_root, c.timing_hash, c.start, c.duration) for c in back.chunks] == [
        (c.payload_root, c.timing_hash, c.start, c.duration) for c in original.chunks
    ]
    data = path.read_bytes()
    # Every byte is covered: flipping any leaf, timestamp or config digest changes the root.
    # (a config digest byte, packet 5's pts, packet 7's leaf)
    for offset in (8 + 4 + 20, 8 + 4 + 88 + 8 + 56 * 5 + 16, 8 + 4 + 88 + 8 + 56 * 7 + 40):
        tampered = bytearray(data)
        tampered[offset] ^= 1
        p = tmp_path / "t.leaves"
        p.write_bytes(bytes(tampered))
        assert read_leaves(p).root != original.root
    for bad, what in ((b"BWCLEAVX" + data[8:], "magic"), (data[:-5], "truncated"), (data + b"\0", "trailing"),
                      (data[:100], "truncated")):
        p = tmp_path / "bad.leaves"
        p.write_bytes(bad)
        with pytest.raises(LeavesError, match=what):
            read_leaves(p)
    # packets out of chunk order
    swapped = bytearray(data)
    head = 8 + 4 + 88 + 8
    a, b = head, head + 56 * (len(original.packets) - 1)
    swapped[a : a + 56], swapped[b : b + 56] = data[b : b + 56], data[a : a + 56]
    p.write_bytes(bytes(swapped))
    with pytest.raises(LeavesError):
        read_leaves(p)
    with pytest.raises(LeavesError, match="no such file"):
        read_leaves(tmp_path / "missing.leaves")


# --- known-answer vectors ---------------------------------------------------------------------------------


def test_known_answer_vectors():
    with open(os.path.join(DATA, "content_vectors.json")) as fh:
        vectors = json.load(fh)
    assert vectors["contexts"] == {"PT": CONTEXTS["packet_tree"], "TM": CONTEXTS["timing"],
                                   "ST": CONTEXTS["segment_tree"], "CC": CONTEXTS["codec_config"]}
    assert blake3(b"abc", derive_key_context=CONTEXTS["packet_tree"]).hexdigest() == vectors["context_check"]["PT"]
    for v in vectors["primitives"]:
        canon = bytes(canonical_payload(v["codec"], bytes.fromhex(v["payload"]), bytes.fromhex(v["extradata"])))
        assert canon.hex() == v["canonical"], v["name"]
        assert packet_leaf(v["stream"], v["flags"], canon).hex() == v["leaf"], v["name"]
    for t in vectors["trees"]:
        leaves = [
            blake3(struct.pack("<I", i), derive_key_context=CONTEXTS["packet_tree"]).digest() for i in range(t["n"])
        ]
        assert merkle_root(leaves, "packet_tree").hex() == t["packet_tree_root"]
        assert merkle_root(leaves, "segment_tree").hex() == t["segment_tree_root"]
    for f in vectors["files"]:
        path = os.path.join(DATA, f["path"])
        assert file_digests(path) == {"blake3": f["blake3"], "sha256": f["sha256"]}
        res = content_root(path)
        assert res.root.hex() == f["root"]
        assert [c.payload_root.hex() for c in res.chunks] == f["payload_roots"]
        assert [c.timing_hash.hex() for c in res.chunks] == f["timing_hashes"]
        assert [c.root.hex() for c in res.chunks] == f["chunk_roots"]
        assert [p.leaf.hex() for p in res.packets] == f["leaves"]
        assert [p.chunk for p in res.packets] == f["chunks_of_leaves"]
        assert [p.pts for p in res.packets] == f["pts_of_leaves"]
        assert [s.config_digest.hex() for s in res.streams] == [s["config_digest"] for s in f["streams"]]
        assert res.stream_table.hex() == f["stream_table"]
    mp4, ts = vectors["files"]
    assert mp4["payload_roots"] == ts["payload_roots"] and mp4["root"] != ts["root"]


def test_contexts_match_b3sum_derive_key(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"bwc")
    for ctx in CONTEXTS.values():
        out = subprocess.run(
            ["b3sum", "--no-names", "--derive-key", ctx, str(path)], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == blake3(b"bwc", derive_key_context=ctx).hexdigest()


# --- file digests ----------------------------------------------------------------------------------------------


def test_file_digests_equal_b3sum_and_sha256sum(av_clip, tmp_path):
    digests = file_digests(av_clip)
    b3 = subprocess.run(["b3sum", "--no-names", av_clip], capture_output=True, text=True, check=True).stdout.strip()
    sha = subprocess.run(["sha256sum", av_clip], capture_output=True, text=True, check=True).stdout.split()[0]
    assert digests == {"blake3": b3, "sha256": sha}
    # streaming, in uneven pieces, with a copy part-way
    data = open(av_clip, "rb").read()
    d = FileDigester()
    d.update(data[:1000])
    snapshot = d.copy()
    d.update(memoryview(data)[1000:])
    assert d.hexdigests() == digests
    snapshot.update(b"other")
    assert snapshot.hexdigests() != digests
    assert file_digests(av_clip, ("sha512",)) == {"sha512": __import__("hashlib").sha512(data).hexdigest()}
    with pytest.raises(BwcValueError):
        FileDigester(("md4x",))
    with pytest.raises(MediaError):
        file_digests(tmp_path / "missing")


# --- bad input ----------------------------------------------------------------------------------------------------


def test_bad_input_raises_typed_errors():
    with pytest.raises(UnsupportedCodecError, match="stream 0.*vp9"):
        ContentHasher([StreamInfo(0, "video", "vp9", Fraction(1, 1000))], name="cam.mkv")
    with pytest.raises(UnsupportedCodecError):
        canonical_payload("vp9", b"")
    h = ContentHasher([StreamInfo(0, "video", "h264", Fraction(1, 90000), extradata=avcc(4))], name="seg.mp4")
    with pytest.raises(PacketError, match="stream 3"):
        h.update(PacketRecord(3, "video", 0, payload=b""))
    with pytest.raises(PacketError, match="time base"):
        h.update(PacketRecord(0, "video", 0, time_base=(1, 1000), payload=b""))
    with pytest.raises(CorruptMediaError, match="seg.mp4: stream 0, packet 0"):
        h.update(PacketRecord(0, "video", 0, payload=b"\x00\x00\x00\x09\x65abc"))
    with pytest.raises(CorruptMediaError):
        canonical_payload("h264", b"\x00\x00", avcc(4))
    with pytest.raises(BwcTypeError):
        canonical_payload("h264", np.zeros(16, np.uint8)[::2], avcc(4))
    with pytest.raises(BwcTypeError):
        merkle_root([b"short"], "packet_tree")
    h.update(PacketRecord(0, "video", 0, keyframe=True, payload=b"\x00\x00\x00\x02\x65\x01"))
    assert len(h.finish().chunks) == 1
    with pytest.raises(PacketError):
        h.finish()
    with pytest.raises(PacketError):
        h.update(PacketRecord(0, "video", 1, payload=b""))


def test_fast_path_returns_payload_without_copy():
    payload = b"\x00\x00\x00\x02\x65\x01\x00\x00\x00\x01\x41"
    assert canonical_payload("h264", payload, avcc(4)) is payload
    view = canonical_payload("aac", b"\xff\xf1\x50\x80\x01\x3f\xfc\x21\x00")  # frame_length 9
    assert isinstance(view, memoryview) and bytes(view) == b"\x21\x00"


def test_chunk_table_json(original):
    doc = json.loads(json.dumps(original.to_json()))
    assert doc["root"] == original.root.hex()
    assert [c["index"] for c in doc["chunks"]] == list(range(len(original.chunks)))
    assert all(isinstance(x, int) for c in doc["chunks"] for x in c["start"] + c["duration"])
    total = sum(c.duration for c in original.chunks)
    assert Fraction(7, 1) < total <= Fraction(9, 1)
    assert sum(c["packet_count"] for c in doc["chunks"]) == len(original.packets)


# --- content_root's in-place demux path (update_av) vs the PacketRecord path ---------


def _record_path_root(path, salvage=False):
    with MediaSource(path) as src:
        hasher = ContentHasher(src.streams, pts_bits=content.pts_bits_of(src.format), name=src.name)
        for packet in src.packets(salvage=salvage):
            hasher.update(packet)
        return hasher.finish()


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_content_root_fast_path_equals_record_path(av_clip, tmp_path, container):
    path = av_clip
    if container != "mp4":
        path = tmp_path / f"remux.{container}"
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(av_clip), "-map", "0", "-c", "copy",
                        str(path)], check=True)
    fast, slow = content_root(path), _record_path_root(path)
    assert fast.root == slow.root
    assert fast.packets == slow.packets
    assert [c.to_json() for c in fast.chunks] == [c.to_json() for c in slow.chunks]


def test_content_root_fast_path_salvage_and_tolerance(av_clip, tmp_path):
    ts = tmp_path / "whole.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(av_clip), "-map", "0", "-c", "copy", str(ts)],
                   check=True)
    data = ts.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) * 2 // 3 + 17])  # mid-packet
    assert content_root(cut, salvage=True).root == _record_path_root(cut, salvage=True).root
    problems: list[str] = []
    result = content_root(av_clip, problems=problems)
    assert problems == [] and result.root == _record_path_root(av_clip).root


def test_content_root_tolerant_skips_unframeable_packets(tmp_path):
    # An H.264 stream whose second packet's NAL length runs past the packet end.
    from bwc_core.capture.synthetic import SyntheticCamera

    path = tmp_path / "bad.mp4"
    src_path = SyntheticCamera(seconds=1, audio=False, gop=10).write(tmp_path / "ok.mp4")
    with MediaSource(src_path) as src:
        streams = src.streams
        records = list(src.packets())
        bad = records[1].replace(payload=b"\x00\x00\x10\x00" + bytes(records[1].payload)[4:])
        write_packets(path, streams, [records[0], bad, *records[2:]])
    with pytest.raises(CorruptMediaError, match="packet 1"):
        content_root(path)
    problems: list[str] = []
    result = content_root(path, problems=problems)
    assert len(problems) == 1 and "runs past the packet end" in problems[0]
    assert len(result.packets) == len(records) - 1

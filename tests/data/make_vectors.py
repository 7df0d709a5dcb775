"""Regenerate tests/data/content_vectors.json and the tiny media it names.

Run from the repository root with bwc-core installed:
    python tests/data/make_vectors.py
The media files are committed (encoders differ between FFmpeg builds); the
JSON is computed with the pure-Python reference (tests/_content_ref.py), so
the vectors do not come from the fast path they check.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def make_media() -> None:
    from bwc_core.capture.synthetic import SyntheticCamera

    mp4 = os.path.join(HERE, "tiny.mp4")
    # 1.2 s, 64x48, 10 fps, GOP 5 with B-frames, mono AAC: three chunks, a few KB.
    SyntheticCamera(seconds=1.2, width=64, height=48, fps=10, gop=5, bframes=1, sample_rate=16000).write(mp4)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", mp4, "-map", "0", "-c", "copy", os.path.join(HERE, "tiny.ts")],
        check=True,
    )


def describe(path: str) -> dict:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref
    from bwc_core.media.source import MediaSource

    with MediaSource(path) as src:
        streams = [(s.index, s.kind, s.codec, s.time_base, s.extradata) for s in src.streams]
        packets = list(src.packets())
        # MPEG-TS stores 33-bit pts: committed as the signed value of those bits.
        pts_bits = 33 if "mpegts" in src.format.split(",") else None
    out = ref.content(streams, packets, pts_bits=pts_bits)
    with open(path, "rb") as fh:
        data = fh.read()
    import hashlib

    from blake3 import blake3

    rows = []
    for p in packets:
        _, kind, codec, tb, extra = next(s for s in streams if s[0] == p.stream)
        canon = ref.canonical_payload("data" if kind == "data" else codec, p.payload, extra)
        rows.append((p, canon))
    return {
        "path": os.path.basename(path),
        "blake3": blake3(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "streams": [
            {
                "index": s[0],
                "codec": s[2],
                "time_base": [s[3].numerator, s[3].denominator],
                "config_digest": ref.config_digest(s[2], s[4], [p.payload for p in packets if p.stream == s[0]]).hex(),
            }
            for s in streams
        ],
        "payload_roots": [r.hex() for r in out["payload_roots"]],
        "timing_hashes": [r.hex() for r in out["timing_hashes"]],
        "chunk_roots": [r.hex() for r in out["chunk_roots"]],
        "stream_table": out["stream_table"].hex(),
        "leaves": [leaf.hex() for leaf in out["leaves"]],
        "pts_of_leaves": out["pts"],
        "chunks_of_leaves": out["chunks"],
        "root": out["root"].hex(),
    }


def primitives() -> list[dict]:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    sps = bytes.fromhex("6764000aacd9")
    pps = bytes.fromhex("68ebe3cb")
    idr = bytes.fromhex("65888400ff")
    aud = bytes.fromhex("09f0")
    avcc = bytes([1, 0x64, 0, 0x0A, 0xFF, 0xE1]) + struct.pack(">H", len(sps)) + sps + b"\x01" + struct.pack(">H", len(pps)) + pps
    cases = [
        ("h264 length-prefixed, nothing dropped", "h264", avcc, struct.pack(">I", len(idr)) + idr),
        ("h264 length-prefixed with in-band SPS/PPS", "h264", avcc,
         b"".join(struct.pack(">I", len(n)) + n for n in (sps, pps, idr))),
        ("h264 Annex B with AUD, SPS, PPS, trailing zeros", "h264", b"",
         b"\x00\x00\x00\x01" + aud + b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x00\x01" + idr + b"\x00\x00"),
        ("hevc Annex B with VPS and AUD", "hevc", b"",
         b"\x00\x00\x00\x01" + bytes.fromhex("4601") + b"\x50" + b"\x00\x00\x01" + bytes.fromhex("4001") + b"\x0c"
         + b"\x00\x00\x01" + bytes.fromhex("2601") + b"\xaf\x01"),
        ("aac with ADTS header (7 bytes)", "aac", b"", bytes.fromhex("fff15080021ffc") + b"\x21\x00\x49\x90\x02\x19\x00\x23\x80"[:9]),
        ("aac raw", "aac", bytes.fromhex("1188"), bytes.fromhex("210049900219002380")),
        ("pcm_s16le raw", "pcm_s16le", b"", bytes(range(16))),
    ]
    out = []
    for i, (name, codec, extradata, payload) in enumerate(cases):
        if codec == "aac" and not extradata:
            # fix the ADTS frame_length field to the real length
            n = len(payload)
            b = bytearray(payload)
            b[3] = (b[3] & 0xFC) | ((n >> 11) & 3)
            b[4] = (n >> 3) & 0xFF
            b[5] = ((n & 7) << 5) | (b[5] & 0x1F)
            payload = bytes(b)
        canon = ref.canonical_payload(codec, payload, extradata)
        flags = 1 if codec in ("h264", "hevc") else 0
        out.append({
            "name": name, "codec": codec, "extradata": extradata.hex(), "payload": payload.hex(),
            "canonical": canon.hex(), "stream": i, "flags": flags,
            "leaf": ref.packet_leaf(i, flags, canon).hex(),
        })
    return out


def trees() -> list[dict]:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    out = []
    for n in (1, 2, 3, 5, 8, 13):
        leaves = [ref.H(ref.PT, struct.pack("<I", i)) for i in range(n)]
        out.append({
            "leaves": "H_PT(u32le i) for i in 0..n-1", "n": n,
            "packet_tree_root": ref.mth(leaves, ref.PT).hex(),
            "segment_tree_root": ref.mth(leaves, ref.ST).hex(),
        })
    return out


def main() -> None:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    if "--keep-media" not in sys.argv:
        make_media()
    vectors = {
        "format": "bwc-core content v1 (docs/format.md section 1)",
        "contexts": {"PT": ref.PT, "TM": ref.TM, "ST": ref.ST, "CC": ref.CC},
        "context_check": {"input": "abc", "PT": ref.H(ref.PT, b"abc").hex()},
        "primitives": primitives(),
        "trees": trees(),
        "files": [describe(os.path.join(HERE, "tiny.mp4")), describe(os.path.join(HERE, "tiny.ts"))],
    }
    with open(os.path.join(HERE, "content_vectors.json"), "w") as fh:
        json.dump(vectors, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()

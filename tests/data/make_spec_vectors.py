"""Regenerate tests/data/content_spec_vectors.json: the format 1.4 clarifications of section 1.

Run from the repository root with bwc-core installed:
    python tests/data/make_spec_vectors.py
Digests come from the pure-Python reference (tests/_content_ref.py); the
remux offsets are the rule of docs/format.md 1.11 applied to the two cases
measured there. tests/test_attacks_content.py holds the fast path and the
verifier to these vectors.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))

SPS = bytes.fromhex("6764000aacd9")
PPS = bytes.fromhex("68ebe3cb")
PPS2 = bytes.fromhex("68ce3c80")
AVCC = bytes.fromhex("0164000affe1") + len(SPS).to_bytes(2, "big") + SPS + b"\x01" + len(PPS).to_bytes(2, "big") + PPS
VPS = bytes.fromhex("40010c01ffff016000000300b0")
HSPS = bytes.fromhex("420101016000000300b0000003005aa0")
HPPS = bytes.fromhex("4401c172b4")
SEI = bytes.fromhex("4e01050aabcdef")


def hvcc(arrays: list[tuple[int, list[bytes]]]) -> bytes:
    head = bytes([1]) + bytes(20) + bytes([0x03])  # configurationVersion, ..., lengthSizeMinusOne = 3
    out = [head, bytes([len(arrays)])]
    for kind, nals in arrays:
        out.append(bytes([kind]) + len(nals).to_bytes(2, "big"))
        out.extend(len(n).to_bytes(2, "big") + n for n in nals)
    return b"".join(out)


def prefixed(nals: list[bytes]) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def config_cases() -> list[dict]:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    cases = [
        ("h264 avcC: the SPS (6 bytes) sorts before the PPS (4 bytes)", "h264", AVCC, []),
        ("h264 Annex B extradata, in-band duplicate SPS and a second PPS", "h264",
         b"\x00\x00\x00\x01" + PPS + b"\x00\x00\x01" + SPS + b"\x00",
         [b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS2 + b"\x00\x00\x01\x65\x88\x84"]),
        ("hevc hvcC with a declarative SEI array (not configuration)", "hevc",
         hvcc([(0xA0, [VPS]), (0xA1, [HSPS]), (0xA2, [HPPS]), (0x27, [SEI])]), []),
    ]
    out = []
    for name, codec, extradata, payloads in cases:
        sets = set(ref.extradata_parameter_sets(codec, extradata))
        for p in payloads:
            sets.update(ref.parameter_sets(codec, p, extradata=extradata))
        right = prefixed(sorted(sets))
        wrong = b"".join(sorted(len(n).to_bytes(4, "big") + n for n in sets))
        assert right != wrong, name
        digest = ref.config_digest(codec, extradata, payloads)
        assert digest == ref.H(ref.CC, right)
        out.append({"name": name, "codec": codec, "extradata": extradata.hex(),
                    "payloads": [p.hex() for p in payloads], "input": right.hex(),
                    "config_digest": digest.hex(),
                    "not": {"reading": "sorting the length-prefixed items", "input": wrong.hex(),
                            "config_digest": ref.H(ref.CC, wrong).hex()}})
    asc = bytes.fromhex("118856e500")  # AAC LC, 48 kHz, mono + explicit 'SBR absent' (FFmpeg's encoder)
    out.append({"name": "aac: FFmpeg's 5-byte ASC reduced to 2 bytes", "codec": "aac", "extradata": asc.hex(),
                "payloads": [], "input": "1188", "config_digest": ref.config_digest("aac", asc, []).hex()})
    assert ref.config_digest("aac", asc, []) == ref.H(ref.CC, bytes.fromhex("1188"))
    return out


def adts(body: bytes, profile: int = 1, sfi: int = 3, chan: int = 1, *, nrdb: int = 0, crc: bool = False,
         unread: bool = False) -> bytes:
    """One ADTS frame around *body*; *unread* sets every bit FFmpeg skips (ID, private, original/copy,
    home, copyright bits, buffer fullness)."""
    n = len(body) + (9 if crc else 7)
    h = bytes([0xFF, 0xF0 | (0x08 if unread else 0) | (0 if crc else 1),
               (profile << 6) | (sfi << 2) | (0x02 if unread else 0) | (chan >> 2),
               ((chan & 3) << 6) | (0x3C if unread else 0) | (n >> 11), (n >> 3) & 0xFF,
               ((n & 7) << 5) | 0x1F, 0xFC | nrdb])
    return h + (b"\xab\xcd" if crc else b"") + body


def adts_cases() -> list[dict]:
    """Format 1.2 (AAC): which ADTS headers are stripped, for the configurations 1.3 commits."""
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    raw = bytes.fromhex("21100503a0")
    cases = [
        ("no extradata: the first header configures (LC 48 kHz mono); one at 44.1 kHz is content", b"",
         [adts(raw), adts(raw), adts(raw, sfi=4), adts(raw)]),
        ("no extradata: mono, then a header saying stereo", b"", [adts(raw), adts(raw, chan=2)]),
        ("FFmpeg's 5-byte ASC (LC 48 kHz mono): CRC and bits FFmpeg does not read are stripped; "
         "another profile or two raw data blocks are content", bytes.fromhex("118856e500"),
         [raw, adts(raw), adts(raw, crc=True), adts(raw, unread=True), adts(raw, profile=3),
          adts(raw, nrdb=1)]),
        ("HE-AAC, explicit (object type 5: core LC 24 kHz stereo, SBR 48 kHz): ADTS carries the core",
         bytes.fromhex("2b118800"), [adts(raw, sfi=6, chan=2), adts(raw, sfi=3, chan=2)]),
        ("HE-AAC v2 (object type 29: core LC 24 kHz mono, SBR 48 kHz, PS)", bytes.fromhex("eb098800"),
         [adts(raw, sfi=6, chan=1), adts(raw, profile=1, sfi=6, chan=2)]),
        ("an explicit 24-bit sampling rate has no ADTS form: no header is stripped",
         bytes.fromhex("17800bb80008"), [adts(raw, sfi=15, chan=1)]),
    ]
    out = []
    for name, extradata, payloads in cases:
        config = ref.aac_config(extradata, payloads)
        canon = [ref.canonical_payload("aac", p, extradata, config) for p in payloads]
        out.append({"name": name, "extradata": extradata.hex(), "config_input": config.hex(),
                    "reference": list(ref.adts_reference(config) or []),
                    "payloads": [p.hex() for p in payloads], "canonical": [c.hex() for c in canon],
                    "stripped": [c != p for c, p in zip(canon, payloads)],
                    "leaves": [ref.packet_leaf(1, 0, c).hex() for c in canon]})
    return out


def frac(x: Fraction) -> list[int]:
    return [x.numerator, x.denominator]


def remux_offsets() -> list[dict]:
    """docs/format.md 1.11 step 4 for the two measured cases (30 fps, 2 B-frames, AAC 48 kHz)."""
    delay = Fraction(7, 5)
    cases = [("first segment: AAC priming and B-frame delay", Fraction(-1024, 48000), Fraction(-2, 30)),
             ("segment starting 6 s into its recording", Fraction(6), Fraction(6) - Fraction(2, 30))]
    out = []
    for name, start, first_dts in cases:
        out.append({"name": name, "S": frac(start), "D": frac(min(start, first_dts)),
                    "tolerated": {"mpegts": [frac(Fraction(0)), frac(delay), frac(delay - min(start, first_dts))],
                                  "other": [frac(Fraction(0)), frac(-start)]}})
    return out


def main() -> None:
    import sys

    sys.path.insert(0, os.path.dirname(HERE))  # tests/_content_ref.py
    import _content_ref as ref

    doc = {
        "format": "bwc-core content v1, format 1.4 clarifications (docs/format.md 1.2, 1.3, 1.11)",
        "config_digests": config_cases(),
        "packets": {
            "flush": {"dts": None, "size": 0, "committed": False},
            "empty_with_dts": {"stream": 1, "flags": 0, "canonical": "",
                               "leaf": ref.packet_leaf(1, 0, b"").hex(), "committed": True},
        },
        "kinds": {"video": "video", "audio": "audio", "subtitle": "data", "data": "data",
                  "attachment": "data", "unknown": "data"},
        "codec_names": [{"decoder": "mp3float", "codec": "mp3"}, {"decoder": "srt", "codec": "subrip"},
                        {"decoder": None, "codec": "unknown", "stream": "a Matroska attachment"}],
        "time_base_when_absent": [1, 90000],
        "remux_offsets": remux_offsets(),
        "adts": adts_cases(),
    }
    with open(os.path.join(HERE, "content_spec_vectors.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()

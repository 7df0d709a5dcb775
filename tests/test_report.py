"""report.html: one self-contained page, no scripts, no network, escaped text, thumbnails."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest

from bwc_core.cli import main
from bwc_core.format.keys import TrustAnchors
from bwc_core.report.html import render_html, thumbnail_png
from bwc_core.verify import verify_evidence


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data", "poster") or (value or "").startswith("url("):
                self.urls.append(value or "")

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    p.close()
    return p


@pytest.fixture(scope="module")
def report(evidence, trust):
    return verify_evidence(evidence, TrustAnchors([trust.root_pub]))


def test_self_contained_no_script_no_network(report, evidence):
    page = render_html(report, media_root=evidence)
    p = parse(page)
    assert "script" not in p.tags and "iframe" not in p.tags and "link" not in p.tags
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    assert p.urls and all(u.startswith("data:image/png;base64,") for u in p.urls)
    # The only http(s) string is the SVG namespace, which is never fetched.
    assert page.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http") == 0
    assert "@media print" in page and p.tags.count("svg") == len(report.recordings)


def test_banner_verdicts_fingerprints_and_findings(report, evidence):
    page = render_html(report, media_root=evidence)
    text = " ".join(parse(page).text)
    assert "PASS" in text and all(f"{v}: pass" in text for v in ("integrity", "completeness", "origin"))
    cert = report.device["certificates"][0]
    assert cert["key_id"] in text and cert["issuer_key_id"] in text
    seg = report.recordings[0].segments[0]
    assert seg.digests["blake3"] in text and seg.digests["sha256"] in text
    assert "victim_request" in text


def test_thumbnails_are_real_pngs(report, evidence):
    page = render_html(report, media_root=evidence)
    uris = [u for u in parse(page).urls]
    assert len(uris) == sum(len(r.segments) for r in report.recordings)
    png = base64.b64decode(uris[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    import av

    with av.open(io.BytesIO(png)) as c:
        frame = next(c.decode(video=0))
    assert frame.width == 160
    assert thumbnail_png(evidence / "journal.jsonl") is None  # not media: no thumbnail, no crash


def test_untrusted_text_is_escaped(report, evidence):
    rec = report.recordings[0]
    evil = '<script>alert("x")</script><img src=http://evil.example/x>'
    rec.events.append({"kind": "deactivate", "reason": "other", "note": evil, "seq": 99, "time": None})
    rec.events.append({"kind": "marker", "label": evil, "seq": 100, "time": None})
    try:
        page = render_html(report, media_root=evidence)
    finally:
        del rec.events[-2:]
    p = parse(page)
    assert "script" not in p.tags and not any("evil" in u for u in p.urls)
    assert "&lt;script&gt;" in page and evil in " ".join(p.text)


def test_failed_report_shows_fail_and_plain_findings(evidence, trust, tmp_path, capsys):
    import shutil

    copy = tmp_path / "ev"
    shutil.copytree(evidence, copy)
    seg = sorted((copy / "media" / "REC-001").glob("*.mp4"))[1]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    out = tmp_path / "r.html"
    assert main(["verify", str(copy), "--trust", str(trust.root_pub), "--html", str(out)]) == 1
    page = out.read_text()
    text = " ".join(parse(page).text)
    assert "FAIL" in text and "integrity: fail" in text and "segment.digest_mismatch" in text


def test_exhibit_report_files_match(tmp_path, evidence, trust):
    from bwc_core.exhibit.build import build_exhibit

    ex = build_exhibit(evidence, "REC-001", tmp_path / "ex", start=0, end=2, trust=[trust.root_pub], **trust.signed)
    data = json.loads((ex / "report.json").read_text())
    assert data["ok"] and data["exhibit"]["mode"] == "clip"
    page = (ex / "report.html").read_text()
    assert "clip verified" in page and "report.json" in page

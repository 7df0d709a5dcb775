"""Human-readable verification reports: one self-contained ``report.html``.

The page has no scripts and fetches nothing: CSS and SVG are inline, keyframe
thumbnails are PNG data URIs decoded with PyAV. It reads on screen and in
print (``@media print``). Every piece of text from the evidence (officer
notes, markers, ids) is escaped: it is untrusted input.

``report.json`` is :meth:`bwc_core.verify.model.Report.to_json` as it is.
"""

from __future__ import annotations

import base64
import html
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from bwc_core.format.findings import CONTENT_TIMING_GAP
from bwc_core.verify.model import iso

__all__ = [
    "render_html",
    "thumbnail_png",
    "write_report_html",
]

THUMB_WIDTH = 160

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:62em;color:#111;
padding:0 1em}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc}
.banner{padding:.8em 1em;border-radius:6px;border:2px solid}.pass{background:#e8f6ec;border-color:#2e7d32}
.fail{background:#fdecea;border-color:#c62828}.banner b{font-size:1.3em}
.verdicts span{display:inline-block;margin:.3em 1em 0 0;padding:.1em .6em;border-radius:4px;font-weight:600}
.v-pass{background:#2e7d32;color:#fff}.v-fail{background:#c62828;color:#fff}
.v-unchecked{background:#ef6c00;color:#fff}.unchecked{background:#fff3e0;border-color:#ef6c00}
table{border-collapse:collapse;width:100%;margin:.4em 0}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.86em;word-break:break-all}
.error{color:#b71c1c;font-weight:600}.warning{color:#8a5300;font-weight:600}.info{color:#37474f}
.thumbs{display:flex;flex-wrap:wrap;gap:.8em}.thumbs figure{margin:0;font-size:.8em;text-align:center}
.thumbs img{display:block;border:1px solid #999;width:160px}
svg{max-width:100%;height:auto}.muted{color:#666}
@media print{body{margin:0;max-width:none;font-size:11px}
.banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}
h2{break-after:avoid}table,figure,svg{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""

_PLAIN = {
    "ok": "intact", "container_changed": "same content, new container", "altered": "ALTERED",
    "missing": "MISSING", "misplaced": "MISPLACED", "swapped": "SWAPPED", "unreadable": "UNREADABLE",
    "bad_path": "REFUSED PATH", "clipped": "clip verified", "clip_altered": "CLIP ALTERED",
    "omitted": "outside the clip",
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def thumbnail_png(path: str | os.PathLike[str], width: int = THUMB_WIDTH) -> bytes | None:
    """The first decodable video frame of *path* as a PNG *width* pixels wide (None if none)."""
    import av

    try:
        with av.open(os.fspath(path), "r") as container:
            if not container.streams.video:
                return None
            for frame in container.decode(video=0):
                height = max(2, round(frame.height * width / max(1, frame.width)) // 2 * 2)
                small = frame.reformat(width=width, height=height, format="rgb24")
                cc = av.CodecContext.create("png", "w")
                cc.width, cc.height, cc.pix_fmt = width, height, "rgb24"
                packets = list(cc.encode(small)) + list(cc.encode(None))
                return b"".join(bytes(p) for p in packets) or None
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value) and value[1]:
        return value[0] / value[1]
    return None


def _event_time(event: dict[str, Any]) -> float | None:
    media = event.get("media") or event.get("last_frame")
    if isinstance(media, dict) and type(media.get("pts")) is int:
        tb = _seconds(media.get("time_base"))
        if tb is not None:
            return media["pts"] * tb
    return None


def _timeline(rec: Any, gaps: list[Any]) -> str:
    """An SVG timeline of one recording: segments, pre-event span, events, gaps."""
    segs = [s for s in rec.segments if s.start is not None and s.end is not None]
    if not segs:
        return '<p class="muted">No segment timing to draw.</p>'
    t0 = min(float(s.start) for s in segs)
    t1 = max(float(s.end) for s in segs)
    events = [(e, _event_time(e)) for e in rec.events]
    for _, t in events:
        if t is not None:
            t1 = max(t1, t)
    span = max(t1 - t0, 1e-3)
    W, left, right = 900, 10, 10
    scale = (W - left - right) / span

    def x(t: float) -> float:
        return left + (t - t0) * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} 150" role="img" '
             f'aria-label="timeline of recording {_e(rec.id)}">',
             f'<rect x="0" y="0" width="{W}" height="150" fill="#fff"/>']
    for s in segs:
        bad = s.status not in ("ok", "container_changed", "clipped", "omitted")
        fill = "#c62828" if bad else ("#9fa8da" if s.pre_event else "#64b5f6")
        parts.append(
            f'<rect x="{x(float(s.start)):.1f}" y="40" width="{max(1.0, (float(s.end) - float(s.start)) * scale):.1f}" '
            f'height="34" fill="{fill}" stroke="#1a237e" stroke-width="0.6">'
            f"<title>segment {_e(s.index)}: {_e(_PLAIN.get(s.status, s.status))}</title></rect>"
        )
        parts.append(f'<text x="{x(float(s.start)) + 3:.1f}" y="61" font-size="11" fill="#000">{_e(s.index)}</text>')
    pre = [s for s in segs if s.pre_event]
    if pre:
        a, b = float(pre[0].start), float(pre[-1].end)
        parts.append(f'<rect x="{x(a):.1f}" y="30" width="{(b - a) * scale:.1f}" height="6" fill="#5c6bc0"/>')
        parts.append(
            f'<text x="{x(a):.1f}" y="26" font-size="10" fill="#283593">'
            "pre-event buffer (video only unless policy says otherwise)</text>"
        )
    colours = {"deactivate": "#c62828", "mute": "#ef6c00", "unmute": "#2e7d32", "marker": "#6a1b9a",
               "notice": "#00838f", "recovery": "#b71c1c"}
    row = 0
    for e, t in events:
        if t is None:
            continue
        kind = str(e.get("kind"))
        colour = colours.get(kind, "#455a64")
        label = kind
        if kind == "deactivate":
            label += f": {e.get('reason')}"
        elif kind == "marker":
            label += f": {e.get('label')}"
        y = 92 + (row % 4) * 13
        row += 1
        parts.append(
            f'<line x1="{x(t):.1f}" y1="36" x2="{x(t):.1f}" y2="{y - 4}" stroke="{colour}" stroke-width="1.5"/>'
        )
        anchor = "end" if x(t) > W * 0.75 else "start"
        parts.append(f'<text x="{x(t) + (-3 if anchor == "end" else 3):.1f}" y="{y + 5}" font-size="10.5" '
                     f'text-anchor="{anchor}" fill="{colour}">{_e(label)} @ {t - t0:.1f}s</text>')
    for g in gaps:
        after = g.where.get("after")
        s = next((s for s in segs if s.index == after), None)
        if s is not None:
            parts.append(f'<rect x="{x(float(s.end)) - 2:.1f}" y="36" width="4" height="42" fill="#d50000">'
                         f'<title>{_e(g.message)}</title></rect>')
    parts.append(f'<line x1="{left}" y1="80" x2="{W - right}" y2="80" stroke="#999"/>')
    parts.append(f'<text x="{left}" y="14" font-size="10" fill="#555">0 s</text>')
    parts.append(f'<text x="{W - right}" y="14" font-size="10" fill="#555" text-anchor="end">{span:.1f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Any, *, media_root: str | os.PathLike[str] | None = None) -> str:
    """The report as one self-contained HTML page (no script, no external URL)."""
    root = Path(media_root) if media_root is not None else Path(report.path)
    exhibit = getattr(report, "exhibit", None) or {}
    clip_files = {c.get("segment"): c.get("file") for c in exhibit.get("clips") or [] if isinstance(c, dict)}
    v = report.verdicts
    ok = report.ok
    out: list[str] = []
    w = out.append
    title = f"bwc-core verification report: {report.path}"
    w("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
    w("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    w(f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>Verification report</h1><p class=\"mono\">{_e(report.path)}</p>")
    if ok and v.get("origin") == "unchecked":
        w('<div class="banner unchecked"><b>PASS, ORIGIN NOT CHECKED</b> &mdash; verified without trust anchors '
          "(UNSAFE_NO_ORIGIN): integrity and completeness passed, but no signing key was checked against a "
          'trusted root, so anyone could have made this evidence<div class="verdicts">')
    else:
        w(f'<div class="banner {"pass" if ok else "fail"}"><b>{"PASS" if ok else "FAIL"}</b> &mdash; '
          f'{"every check passed" if ok else "verification failed: see the findings below"}'
          '<div class="verdicts">')
    for name in ("integrity", "completeness", "origin"):
        w(f'<span class="v-{_e(v[name])}">{_e(name)}: {_e(v[name])}</span>')
    w("</div></div>")
    w('<p class="muted">Integrity: the bytes and frames are those that were signed. Completeness: nothing '
      "is missing (journal records, segments, frames) and every recording was closed. Origin: signed by a "
      "device key certified by a trusted, valid, unrevoked root.</p>")

    if exhibit:
        w("<h2>Exhibit</h2><table>")
        w(f"<tr><th>Recording</th><td class=\"mono\">{_e(exhibit.get('recording'))}</td></tr>")
        w(
            "<tr><th>Contents</th><td>"
            f"{'a clip of whole chunks' if exhibit.get('mode') == 'clip' else 'the whole recording'}</td></tr>"
        )
        exp = exhibit.get("exporter") or {}
        w(f"<tr><th>Exported by</th><td>{_e(exp.get('subject'))} ({_e(exp.get('role'))}, key "
          f"<span class=\"mono\">{_e(exp.get('key_id'))}</span>)"
          f"{'' if exhibit.get('signed') else ' <b class=error>declaration not authenticated</b>'}</td></tr>")
        span = exhibit.get("span") or {}
        if span:
            # From the signed segment records' chunk tables, never from exhibit.json alone.
            w(f"<tr><th>Shown</th><td>{_e(_seconds(span.get('start')))} s to {_e(_seconds(span.get('end')))} s "
              f"(segment {_e(span['first']['segment'])} chunk {_e(span['first']['chunk'])} to segment "
              f"{_e(span['last']['segment'])} chunk {_e(span['last']['chunk'])}; media time from the "
              "recording's first frame, from the signed segment records)</td></tr>")
        w("</table>")

    w("<h2>Device, certificates and keys</h2><table><tr><th>Device</th><th>Role</th>"
      "<th>Key id (SHA-256 of public key)</th>"
      "<th>Serial</th><th>Valid (unix s)</th><th>Issuer (root) key id</th></tr>")
    dev = report.device or {}
    for c in dev.get("certificates", []):
        # the certified role: only a camera key may sign a device's records (cert.wrong_role)
        w(
            f"<tr><td>{_e(c.get('subject'))}</td><td>{_e(c.get('role'))}</td>"
            f'<td class="mono">{_e(c.get("key_id"))}</td><td>{_e(c.get("serial"))}</td>'
            f'<td>{_e(c.get("not_before"))} &ndash; {_e(c.get("not_after"))}</td>'
            f'<td class="mono">{_e(c.get("issuer_key_id"))}</td></tr>'
        )
    w("</table>")
    roots = (report.trust or {}).get("roots", [])
    w(
        "<p>Trusted root fingerprint(s): "
        f"{', '.join(f'<code>{_e(r)}</code>' for r in roots) or '<b>none given: origin not checked</b>'}</p>"
    )
    j = report.journal or {}
    if j:
        w(f"<p>Journal: {_e(j.get('records'))} record(s), head seq {_e(j.get('head_seq'))}, "
          f"{_e(j.get('first_time'))} to {_e(j.get('last_time'))} (device clock, UTC).</p>")

    gaps = [f for f in report.findings if f.code == CONTENT_TIMING_GAP]
    for rec in report.recordings:
        w(f"<h2>Recording {_e(rec.id)}</h2>")
        summary = rec.event_summary()
        w("<table>")
        w(f"<tr><th>Trigger</th><td>{_e(rec.trigger)}</td><th>Officer</th><td>{_e(rec.officer)}</td></tr>")
        w(f"<tr><th>Opened</th><td>{_e(iso(rec.opened))}</td><th>Closed</th><td>"
          f"{_e(iso(rec.closed)) if rec.close_seq is not None else '<b class=error>never closed</b>'} "
          f"({_e(rec.close_reason)})</td></tr>")
        pol = rec.policy or {}
        w(
            f"<tr><th>Pre-event buffer</th><td>{_e(pol.get('pre_event_seconds'))} s, audio "
            f"{'kept' if pol.get('pre_event_audio') else 'not kept'}</td>"
            f"<th>Notices given</th><td>{_e(summary['notices'])}</td></tr>"
        )
        w(f"<tr><th>Mutes / unmutes</th><td>{_e(summary['mutes'])} / {_e(summary['unmutes'])}</td>"
          f"<th>Markers</th><td>{', '.join(_e(m.get('label')) for m in summary['markers']) or '&ndash;'}</td></tr>")
        for d in summary["deactivations"]:
            w(f"<tr><th>Deactivation</th><td colspan=\"3\">reason <b>{_e(d.get('reason'))}</b>"
              f"{' &mdash; note: ' + _e(d.get('note')) if d.get('note') else ''} at {_e(iso(d.get('time')))}</td></tr>")
        w("</table>")
        w(_timeline(rec, [g for g in gaps if g.where.get("recording") == rec.id]))
        thumbs = []
        for s in rec.segments:
            rel = clip_files.get(s.path) or s.path
            full = root / rel
            png = thumbnail_png(full) if rel and full.is_file() and not full.is_symlink() else None
            if png:
                uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                thumbs.append(f'<figure><img src="{uri}" alt="first keyframe of segment {_e(s.index)}">'
                              f"<figcaption>segment {_e(s.index)}{' (clip)' if s.path in clip_files else ''}"
                              "</figcaption></figure>")
        if thumbs:
            w('<div class="thumbs">' + "".join(thumbs) + "</div>")
        w("<table><tr><th>#</th><th>File</th><th>Status</th><th>Size</th><th>Digests (signed)</th><th>Content "
          "root</th></tr>")
        for s in rec.segments:
            d = "<br>".join(f"{_e(k)} <span class=\"mono\">{_e(val)}</span>" for k, val in sorted(s.digests.items()))
            shown = s.path + (f" (clip: {clip_files[s.path]})" if s.path in clip_files else "")
            w(f"<tr><td>{_e(s.index)}{' pre' if s.pre_event else ''}</td><td class=\"mono\">{_e(shown)}</td>"
              f"<td>{_e(_PLAIN.get(s.status, s.status))}</td><td>{_e(s.size)}</td><td>{d}</td>"
              f"<td class=\"mono\">{_e(s.content_root)}</td></tr>")
        w("</table>")

    files = exhibit.get("files") if exhibit else None
    if files:
        w("<h2>Files in this exhibit</h2><table><tr><th>File</th><th>Size</th><th>BLAKE3 (b3sum)</th><th>SHA-256 "
          "(sha256sum)</th></tr>")
        for f in files:
            if not isinstance(f, dict):
                continue
            dg = f.get("digests") or {}
            w(f"<tr><td class=\"mono\">{_e(f.get('path'))}</td><td>{_e(f.get('size'))}</td>"
              f"<td class=\"mono\">{_e(dg.get('blake3'))}</td><td class=\"mono\">{_e(dg.get('sha256'))}</td></tr>")
        w("</table><p class=\"muted\">report.json and this page are listed, with their digests, in "
          "exhibit.json.</p>")

    w("<h2>Findings</h2>")
    if not report.findings:
        w("<p>No findings: every check passed.</p>")
    else:
        w("<table><tr><th>Severity</th><th>Verdict</th><th>Code</th><th>What was found</th></tr>")
        for f in report.findings:
            w(f"<tr><td class=\"{_e(f.severity.value)}\">{_e(f.severity.value)}</td><td>{_e(f.verdict.value)}</td>"
              f"<td class=\"mono\">{_e(f.code)}</td><td>{_e(f.message)}</td></tr>")
        w("</table>")
    from bwc_core import __version__

    w(f"<p class=\"muted\">Produced by bwc-core {_e(__version__)}. This page has no scripts and loads nothing "
      "from the network.</p></body></html>")
    return "\n".join(out)


def write_report_html(report: Any, path: str | os.PathLike[str], *,
                      media_root: str | os.PathLike[str] | None = None) -> Path:
    """Write :func:`render_html` of *report* to *path* (UTF-8); returns the path."""
    target = Path(path)
    target.write_text(render_html(report, media_root=media_root), encoding="utf-8")
    return target

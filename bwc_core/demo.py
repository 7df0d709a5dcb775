"""The built-in demo (``bwc demo`` / ``make demo``): one short shift, end to end.

An agency root certifies a camera; a synthetic camera (test pattern + tone,
H.264 with B-frames + AAC) runs through a shift with the :class:`Recorder`:
standby with the pre-event buffer, activation, notice, mute / unmute, a
marker, a victim-request deactivation, a second recording, power off. The
evidence is verified, a clip is exported as a court exhibit, and the
exhibit (signed by the agency's evidence server key) is verified on its
own. Leaves ``DIR/keys/`` (with ``root.pub.json``), ``DIR/evidence/`` and
``DIR/exhibit/``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bwc_core.capture.recorder import Recorder, RecordingPolicy
from bwc_core.capture.synthetic import SyntheticCamera
from bwc_core.errors import BwcValueError
from bwc_core.format.keys import Identity, TrustAnchors

__all__ = [
    "run_demo",
]

_MARKER = ".bwc-demo"


def run_demo(out: str | os.PathLike[str], *, stream: TextIO, seconds: float = 24.0) -> int:
    """Run the demo into directory *out*; returns 0 when everything verifies.

    *out* must be new, empty, or a previous demo's output (whose demo files
    are replaced).
    """
    from bwc_core.exhibit.build import build_exhibit
    from bwc_core.report.html import write_report_html
    from bwc_core.verify import verify_evidence

    base = Path(out)
    if (base / _MARKER).is_file():
        # A previous demo's output (make demo twice): replace only what the demo writes.
        for name in ("keys", "evidence", "exhibit", "evidence-report.html", _MARKER):
            target = base / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    if base.exists() and any(base.iterdir()):
        raise BwcValueError(f"{base}: not empty; the demo needs a new or empty directory")
    say = lambda text="": print(text, file=stream)  # noqa: E731
    started = time.monotonic()
    keys, evidence, exhibit = base / "keys", base / "evidence", base / "exhibit"
    keys.mkdir(parents=True)
    (base / _MARKER).write_text("written by bwc demo; a new demo run replaces this directory's demo files\n")

    root = Identity.generate("root", "CPD-ROOT")
    cam = Identity.generate("camera", "BWC-0001")
    cert = root.certify(cam, days=365, not_before=int(time.time()) - 3600)
    root.save(keys / "root.key")
    root.save_public(keys / "root.pub.json")
    cam.save(keys / "BWC-0001.key")
    cam.save_public(keys / "BWC-0001.pub.json")
    cert.save(keys / "BWC-0001.cert.json")
    say(f"agency root CPD-ROOT   key id {root.key_id}")
    say(f"camera BWC-0001        key id {cam.key_id} (certified, serial {cert.serial})")
    server = Identity.generate("server", "CPD-EVIDENCE")
    server_cert = root.certify(server, days=365, not_before=int(time.time()) - 3600)
    server.save(keys / "CPD-EVIDENCE.key")
    server_cert.save(keys / "CPD-EVIDENCE.cert.json")
    say(f"server CPD-EVIDENCE    key id {server.key_id} (certified, serial {server_cert.serial}): signs exhibits")

    camera = SyntheticCamera(seconds=seconds, width=320, height=180, fps=15, gop=15, bframes=2)
    policy = RecordingPolicy(pre_event_seconds=3, segment_seconds=4)
    with camera.source() as src:
        packets: Iterator[Any] = iter(src.packets())
        rec = Recorder(evidence, identity=cam, cert=cert, streams=src.streams, policy=policy, sync="none")

        def run_until(t: float) -> None:
            for p in packets:
                rec.push(p)
                if p.pts_seconds >= t:
                    return

        run_until(6.0)  # standby: the pre-event buffer holds the last ~3 s (video only)
        first = rec.activate(trigger="button", officer="P-1234")
        run_until(7.0)
        rec.notify()
        run_until(9.0)
        rec.mute()
        run_until(10.0)
        rec.unmute()
        run_until(11.0)
        rec.mark("vehicle stopped")
        run_until(14.0)
        rec.deactivate("victim_request", note="victim asked to stop recording inside the residence")
        run_until(17.0)
        second = rec.activate(trigger="holster", officer="P-1234")
        run_until(22.0)
        rec.deactivate("event_complete")
        for p in packets:
            rec.push(p)
        rec.close()
    say(f"shift: {seconds:.0f} s of 320x180 H.264 (B-frames) + AAC; recordings {first} and {second}")

    report = verify_evidence(evidence, TrustAnchors([keys / "root.pub.json"]))
    write_report_html(report, base / "evidence-report.html", media_root=evidence)
    s = report.summary()
    say(f"evidence: {'PASS' if report.ok else 'FAIL'} "
        + " ".join(f"{k}={v}" for k, v in report.verdicts.items())
        + f"; {s['segments']} segments, {s['activations']} activations, deactivations "
        + ", ".join(f"{k} x{v}" for k, v in s["deactivation_reasons"].items())
        + f", {s['mutes']} mute, {s['markers']} marker")

    build_exhibit(evidence, first, exhibit, identity=server, cert=server_cert, start=2, end=6,
                  trust=[keys / "root.pub.json"])
    ex = verify_evidence(exhibit, TrustAnchors([keys / "root.pub.json"]))
    clips = ex.to_json()["exhibit"]["clips"]
    say(f"exhibit: clip of {first} from 2 s to 6 s, signed by CPD-EVIDENCE -> {len(clips)} segment clip(s), "
        "chunks " + ", ".join(f"{c['first_chunk']}..{c['last_chunk']} of #{c['index']}" for c in clips)
        + f"; {'PASS' if ex.ok else 'FAIL'}")
    say(f"report: {exhibit / 'report.html'}")
    say(
        f"check it yourself: bwc verify {exhibit} --trust {keys / 'root.pub.json'}   "
        f"(or read {exhibit / 'VERIFY.txt'});"
    )
    say(f"  the root fingerprint to compare with the agency's published one: {root.key_id}")
    say(f"done in {time.monotonic() - started:.1f} s")
    return 0 if report.ok and ex.ok else 1

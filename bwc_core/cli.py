"""The ``bwc`` command line.

Exit codes: 0 success, 1 verification failed, 2 usage error or unreadable
input. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bwc_core import __version__
from bwc_core.errors import BwcError
from bwc_core.format.findings import EXHIBIT_TRUST_INSIDE

__all__ = [
    "main",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _printable(text: Any) -> str:
    """*text* with every non-printable character escaped (``\\x1b``, ``\\u202e``, ``\\n``...).

    Everything ``bwc`` prints to a terminal goes through here: file names,
    record and manifest fields are attacker-written, and C0/C1 controls, ESC
    sequences or bidi overrides in them could rewrite what the terminal
    shows (clear the screen, paint a fake PASS). Printable characters,
    including non-ASCII letters, are kept.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, _printable(f"bwc: error: {message}") + "\n")


def _cmd_demo(args: argparse.Namespace) -> int:
    from bwc_core.demo import run_demo

    return run_demo(args.out, stream=sys.stdout)


def _read_passphrase(path: str | None) -> bytes | None:
    """The passphrase from a file: its first line, without the line ending."""
    if path is None:
        return None
    from bwc_core.errors import KeyFileError

    # A pipe is a fine source of a secret (`--passphrase-file <(pass show cam)`),
    # so unlike key and certificate files this one may be a FIFO: it is read as given.
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 16)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read passphrase file: {exc.strerror}") from None
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not line:
        raise KeyFileError(f"{path}: passphrase file is empty")
    return line


class _Progress:
    """One self-overwriting status line on a terminal's stderr; silent otherwise."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self._width = 0

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        line = _printable(f"verifying {done}/{total} {os.path.basename(what)}")[:78]
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


# --- keygen / certify -------------------------------------------------------------------


def _add_allow_open_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-open-key", action="store_true",
                   help="use a private key file that group or others can access (refused by default, "
                        "as ssh does)")


def _add_keygen(p: argparse.ArgumentParser) -> None:
    from bwc_core.format.keys import ROLES

    p.add_argument("role", metavar="ROLE", choices=ROLES, help="one of " + ", ".join(ROLES))
    p.add_argument("id", metavar="ID", help="subject id, e.g. CPD-ROOT or BWC-0001")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/ID.key and DIR/ID.pub.json")
    p.add_argument("--passphrase-file", metavar="F", help="encrypt the key with the first line of F")


def _cmd_keygen(args: argparse.Namespace) -> int:
    from bwc_core.format.keys import Identity

    passphrase = _read_passphrase(args.passphrase_file)
    out = Path(args.out)
    ident = Identity.generate(args.role, args.id)
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out / f"{args.id}.key", out / f"{args.id}.pub.json"
    for path in (key_path, pub_path):
        if path.exists():
            print(_printable(f"bwc: {path}: already exists; refusing to overwrite"), file=sys.stderr)
            return EXIT_USAGE
    ident.save(key_path, passphrase)
    ident.save_public(pub_path)
    print(_printable(f"{args.role} {args.id}"))
    print(_printable(f"key id  {ident.key_id}"))
    print(_printable(f"private {key_path}{' (encrypted)' if passphrase else ''}"))
    print(_printable(f"public  {pub_path}"))
    return EXIT_OK


def _add_certify(p: argparse.ArgumentParser) -> None:
    p.add_argument("--issuer", required=True, metavar="KEY", help="the root's key file")
    p.add_argument("--subject", required=True, metavar="PUB", help="the subject's ID.pub.json")
    p.add_argument("--days", required=True, type=int, metavar="N", help="validity in days from now")
    p.add_argument("--out", required=True, metavar="CERT", help="certificate file to write")
    p.add_argument("--passphrase-file", metavar="F", help="passphrase of an encrypted issuer key")
    _add_allow_open_key(p)


def _cmd_certify(args: argparse.Namespace) -> int:
    from bwc_core.format.keys import Identity, PublicIdentity

    issuer = Identity.load(args.issuer, _read_passphrase(args.passphrase_file),
                           allow_open_permissions=args.allow_open_key)
    subject = PublicIdentity.load(args.subject)
    cert = issuer.certify(subject, days=args.days)
    cert.save(args.out)
    print(_printable(f"certified {subject.role} {subject.id} ({subject.key_id[:16]}…) by {issuer.id} "
                     f"for {args.days} day(s), serial {cert.serial}"))
    print(_printable(f"certificate {args.out}"))
    return EXIT_OK


# --- verify --------------------------------------------------------------------------------


def _add_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH",
                   help="an evidence directory (with journal.jsonl), or an exhibit (folder or .zip)")
    p.add_argument("--trust", required=True, action="append", metavar="ROOT_PUB",
                   help="a trusted root's ID.pub.json (repeatable)")
    p.add_argument("--revocations", action="append", default=[], metavar="FILE",
                   help="a root-signed revocation list (repeatable)")
    p.add_argument("--head", action="append", default=[], type=_head, metavar="SEQ:HASH",
                   help="a journal head known from elsewhere (a dock receipt, an earlier audit): seq and "
                        "record hash; shows records removed from the journal's end (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--html", metavar="REPORT", help="also write the report as one self-contained HTML file")


def _head(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise argparse.ArgumentTypeError(f"{text!r} is not SEQ:HASH (a seq number, ':', 64 hex digits)")
    return int(seq), digest.lower()


def _cmd_verify(args: argparse.Namespace) -> int:
    from bwc_core.verify.io import Prefetch

    # Workers start reading the segments before the rest of bwc-core is even
    # imported; the journal and certificates are checked meanwhile.
    prefetched = Prefetch.start(args.path)
    try:
        from bwc_core.format.keys import TrustAnchors
        from bwc_core.verify import verify_evidence

        anchors = TrustAnchors(args.trust)
        progress = _Progress(not args.json)
        try:
            report = verify_evidence(args.path, anchors, revocations=args.revocations, progress=progress,
                                     processes=True, prefetched=prefetched, heads=args.head)
        finally:
            progress.clear()
    finally:
        if prefetched is not None:
            prefetched.close()
    if getattr(report, "exhibit", None) is not None:
        from bwc_core.verify.exhibit import trust_inside

        report.findings.extend(trust_inside(args.path, args.trust, anchors))
    if args.html:
        from bwc_core.report.html import write_report_html

        # Thumbnails come from the files verified; a zip's are gone by now.
        root = args.path if Path(args.path).is_dir() else None
        write_report_html(report, args.html, media_root=root if root else os.devnull)
    # The verdict is known before a byte is printed: a reader that stops early
    # (`| head`) ends the output, not the verdict (see main()).
    args.exit_code = EXIT_OK if report.ok else EXIT_FAILED
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        _print_report(report, sys.stdout)
    sys.stdout.flush()
    return args.exit_code


def _secs(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2 and value[1]:
        return f"{value[0] / value[1]:.3f}"
    return "?"


def _print_report(report: Any, out: TextIO) -> None:
    say = lambda text="": print(_printable(text), file=out)  # noqa: E731
    v = report.verdicts
    if report.ok and v.get("origin") == "unchecked":
        say(f"PASS (ORIGIN NOT CHECKED: no trust anchors)  {report.path}")
    else:
        say(f"{'PASS' if report.ok else 'FAIL'}  {report.path}")
    say("  " + "   ".join(f"{k}: {v[k]}" for k in ("integrity", "completeness", "origin")))
    dev = report.device or {}
    for cert in dev.get("certificates", []):
        # Who signed: the certified role says whether the key may sign a camera's records
        # (anything but "camera" is cert.wrong_role).
        say(f"  signer {cert['role']} {cert['subject']}  key {cert['key_id'][:16]}…  "
            f"from seq {cert.get('from_seq', 0)}  cert serial {cert['serial']}  "
            f"issuer {cert['issuer_key_id'][:16]}…")
    roots = report.trust.get("roots", [])
    if roots:
        say(f"  trusted root(s): {', '.join(r[:16] + '…' for r in roots)}")
    nseg = sum(len(r.segments) for r in report.recordings)
    say(f"  {len(report.recordings)} recording(s), {nseg} segment(s), "
        f"{report.bytes_checked / 1e6:.1f} MB checked, {report.journal.get('records', 0)} journal records")
    if report.journal.get("head"):
        # What an auditor keeps, to pass as --head next time.
        say(f"  journal head: {report.journal['head_seq']}:{report.journal['head']}")
    ex = getattr(report, "exhibit", None)
    if ex is not None:
        exp = ex.get("exporter") or {}
        say(f"  exhibit of {ex.get('recording')}: {'a clip' if ex.get('mode') == 'clip' else 'the whole recording'}, "
            + (f"exported by {exp.get('subject')} ({exp.get('role')}, key {str(exp.get('key_id'))[:16]}…)"
               if exp else "no exporter")
            + ("" if ex.get("signed") else "  [declaration NOT authenticated]"))
        for seg in ex.get("segments") or []:
            say(f"    segment {seg['index']}: chunks {seg['first_chunk']}..{seg['last_chunk']}, "
                f"{_secs(seg.get('start'))} s to {_secs(seg.get('end'))} s"
                + (f"  ({seg['file']})" if seg.get("file") else ""))
        say("    (times: signed segment records, seconds from the recording's first frame)")
    for r in report.recordings:
        bad = [s for s in r.segments if s.status not in ("ok", "clipped", "omitted")]
        state = f"closed ({r.close_reason})" if r.close_seq is not None else "NOT CLOSED"
        say(f"  {r.id}: {len(r.segments)} segment(s), {state}"
            + (f", {len(bad)} not ok" if bad else ""))
    if report.findings:
        say()
        for f in report.findings:
            say(f"  {f.severity.value:<7} {f.code:<26} {f.message}")
    if any(f.code == EXHIBIT_TRUST_INSIDE for f in report.findings):
        say()
        say("  The trust anchor came from the exhibit itself: compare the root fingerprint above with the one")
        say("  the agency publishes (out of band) before relying on the origin verdict.")


# --- seal -----------------------------------------------------------------------------------


def _add_seal(p: argparse.ArgumentParser) -> None:
    p.add_argument("media", nargs="+", metavar="MEDIA", help="media files to seal, one recording each")
    p.add_argument("--key", required=True, help="the device key file")
    p.add_argument("--cert", required=True, help="the device certificate")
    p.add_argument("--out", required=True, metavar="EVIDENCE", help="evidence directory (created or appended)")
    p.add_argument("--segment-seconds", type=int, default=10, metavar="S", help="target segment length (10)")
    p.add_argument("--container", choices=("mp4", "mkv", "ts"), default="mp4", help="segment container (mp4)")
    p.add_argument("--passphrase-file", metavar="F", help="passphrase of an encrypted key")
    _add_allow_open_key(p)


def _cmd_seal(args: argparse.Namespace) -> int:
    if args.segment_seconds < 1:
        print("bwc: --segment-seconds must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    from bwc_core._fileio import require_regular_file
    from bwc_core.capture.seal import seal_files
    from bwc_core.errors import MediaError

    for path in args.media:  # FFmpeg would block on a FIFO and read a device forever
        require_regular_file(path, MediaError, "a media file")
    results = seal_files(
        args.media, key=args.key, cert=args.cert, out=args.out,
        segment_seconds=args.segment_seconds, container=args.container,
        passphrase=_read_passphrase(args.passphrase_file), allow_open_key=args.allow_open_key,
    )
    for src, rid, count in results:
        print(_printable(f"sealed {src} -> recording {rid}: {count} segment(s)"))
    print(_printable(f"evidence {args.out}"))
    return EXIT_OK


# --- exhibit ---------------------------------------------------------------------------------


def _add_exhibit(p: argparse.ArgumentParser) -> None:
    p.add_argument("evidence", metavar="EVIDENCE", help="the evidence directory")
    p.add_argument("--recording", required=True, metavar="ID", help="the recording to export")
    p.add_argument("--start", type=_seconds, metavar="T",
                   help="clip start, seconds of media time from the recording's first frame")
    p.add_argument("--end", type=_seconds, metavar="T", help="clip end (same time origin as --start)")
    p.add_argument("--out", required=True, metavar="EXHIBIT", help="exhibit folder to create (or .zip)")
    p.add_argument("--zip", action="store_true", help="write one .zip file instead of a folder")
    p.add_argument("--key", required=True, metavar="KEY",
                   help="the exporting evidence server's key file (role server): signs the exhibit's content")
    p.add_argument("--cert", required=True, metavar="CERT", help="that server key's certificate (root-signed)")
    p.add_argument("--passphrase-file", metavar="F", help="passphrase of an encrypted key")
    _add_allow_open_key(p)
    p.add_argument("--trust", action="append", default=[], metavar="ROOT_PUB",
                   help="a trusted root's ID.pub.json, copied into the exhibit (repeatable)")
    p.add_argument("--revocations", action="append", default=[], metavar="FILE",
                   help="a root-signed revocation list for the exhibit's report (repeatable)")


#: Longest media time accepted by --start / --end (a century; far beyond any recording).
_MAX_SECONDS = 100 * 366 * 86400


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds (``nan``, ``inf``, ``-1`` are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 <= value <= _MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds between 0 and "
                                         f"{_MAX_SECONDS}")
    return value


def _cmd_exhibit(args: argparse.Namespace) -> int:
    if args.start is not None and args.end is not None and args.end <= args.start:
        print(f"bwc: error: --end ({args.end:g}) must be after --start ({args.start:g})", file=sys.stderr)
        return EXIT_USAGE
    from bwc_core.exhibit.build import build_exhibit
    from bwc_core.format.keys import Certificate, Identity

    identity = Identity.load(args.key, _read_passphrase(args.passphrase_file),
                             allow_open_permissions=args.allow_open_key)
    cert = Certificate.load(args.cert)
    target = build_exhibit(args.evidence, args.recording, args.out, identity=identity, cert=cert,
                           start=args.start, end=args.end, trust=args.trust, revocations=args.revocations,
                           as_zip=args.zip)
    report_path = target / "report.json" if target.is_dir() else None
    if report_path is not None:
        doc = json.loads(report_path.read_text(encoding="utf-8"))
    else:
        import zipfile

        with zipfile.ZipFile(target) as zf:
            doc = json.loads(zf.read("report.json"))
    ok = doc.get("ok", False)
    unchecked = (doc.get("verdicts") or {}).get("origin") == "unchecked"
    args.exit_code = EXIT_OK if ok else EXIT_FAILED
    what = "clip" if args.start is not None or args.end is not None else "whole recording"
    print(_printable(f"exhibit {target} ({what} of {args.recording}): "
                     f"{'verifies' if ok else 'DOES NOT VERIFY (see its report)'}"
                     + (" -- ORIGIN NOT CHECKED (no --trust): verify it with the agency's root" if unchecked
                        else "")))
    return EXIT_OK if ok else EXIT_FAILED


#: name -> (help, add-arguments, run). Later layers register their commands here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "keygen": ("create an Ed25519 identity (ROLE ID) as DIR/ID.key + DIR/ID.pub.json",
               _add_keygen, _cmd_keygen),
    "certify": ("issue a certificate for a public key, signed by a root key", _add_certify, _cmd_certify),
    "seal": ("turn existing media files into signed evidence (one recording each)", _add_seal, _cmd_seal),
    "verify": ("verify evidence: integrity, completeness and origin", _add_verify, _cmd_verify),
    "exhibit": ("export one recording (or a clip) as a self-contained court exhibit", _add_exhibit,
                _cmd_exhibit),
    "demo": (
        "run the main flow on built-in defaults",
        lambda p: p.add_argument("--out", required=True, help="output directory"),
        _cmd_demo,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = _Parser(prog="bwc", description="Provably intact body-worn-camera footage.")
    parser.add_argument("--version", action="version", version=f"bwc-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bwc`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 0 for --help/--version, 2 for usage errors
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader of stdout went away (`bwc verify ... | head -1`): stop
        # quietly, as cat or grep would, with the exit code of the work done
        # (every command prints only once its work is complete).
        _silence_stdout()
        return getattr(args, "exit_code", EXIT_OK)
    except KeyboardInterrupt:
        _error("interrupted")
    except BwcError as exc:
        _error(str(exc))
    except OSError as exc:
        _error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one line, not a traceback
        if os.environ.get("BWC_DEBUG") == "1":
            raise
        _error(f"internal error ({type(exc).__name__}: {exc}); rerun with BWC_DEBUG=1 for details")
    return EXIT_USAGE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's flush at exit does not report the
    broken pipe again ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _error(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    print(_printable("bwc: " + " ".join(message.split())), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

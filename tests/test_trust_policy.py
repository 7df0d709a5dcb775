"""Issue 10: every verification entry point requires a trust decision.

``TrustAnchors`` checks origin; ``UNSAFE_NO_ORIGIN`` (after sigstore-python's
``UnsafeNoOp``) skips it on purpose and every report says so (warning
``origin.unchecked``, origin verdict ``"unchecked"``); ``None`` or a missing
argument is a ``TypeError`` before any file is read.
"""

from __future__ import annotations

import io
import json
import pickle

import pytest

from bwc_core import cli
from bwc_core.errors import BwcTypeError
from bwc_core.exhibit.build import build_exhibit
from bwc_core.format.findings import ORIGIN_UNCHECKED, Severity, Verdict
from bwc_core.format.journal import read_lines, validate_chain, validate_journal
from bwc_core.format.keys import UNSAFE_NO_ORIGIN, TrustAnchors, UnsafeNoOrigin
from bwc_core.report.html import render_html
from bwc_core.verify import verify_evidence, verify_exhibit

ENTRY_POINTS = ["verify_evidence", "verify_exhibit", "validate_journal", "validate_chain"]


def call(name, target, *anchors):
    if name == "verify_evidence":
        return verify_evidence(target, *anchors)
    if name == "verify_exhibit":
        return verify_exhibit(target, *anchors)
    if name == "validate_journal":
        return validate_journal(target, *anchors)
    return validate_chain(read_lines(target), *anchors)


@pytest.fixture(scope="module")
def anchors(trust):
    return TrustAnchors([trust.root_pub])


@pytest.fixture(scope="module")
def exhibit(tmp_path_factory, evidence, trust):
    out = tmp_path_factory.mktemp("exhibit") / "whole"
    return build_exhibit(evidence, "REC-002", out, trust=[trust.root_pub], **trust.signed)


def target_of(name, evidence, exhibit):
    return exhibit if name == "verify_exhibit" else evidence


# --- refused: no trust decision -------------------------------------------------------------

@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_omitting_anchors_is_a_type_error(name, evidence, exhibit):
    with pytest.raises(TypeError):
        call(name, target_of(name, evidence, exhibit))


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_none_is_refused_with_a_clear_message(name, evidence, exhibit):
    with pytest.raises(BwcTypeError, match="anchors=None is refused.*UNSAFE_NO_ORIGIN"):
        call(name, target_of(name, evidence, exhibit), None)


@pytest.mark.parametrize("name", ENTRY_POINTS)
@pytest.mark.parametrize("bad", [[], "root.pub.json", object()])
def test_anything_else_is_refused(name, bad, evidence, exhibit):
    with pytest.raises(BwcTypeError, match="TrustAnchors or UNSAFE_NO_ORIGIN"):
        call(name, target_of(name, evidence, exhibit), bad)


def test_refused_before_the_input_is_read(tmp_path):
    # not even an evidence directory: the trust argument is checked first
    for name in ("verify_evidence", "verify_exhibit", "validate_journal"):
        with pytest.raises(BwcTypeError):
            call(name, tmp_path / "nothing", None)


def test_unsafe_policy_is_one_named_object():
    assert UnsafeNoOrigin() is UNSAFE_NO_ORIGIN and repr(UNSAFE_NO_ORIGIN) == "UNSAFE_NO_ORIGIN"
    assert pickle.loads(pickle.dumps(UNSAFE_NO_ORIGIN)) is UNSAFE_NO_ORIGIN
    import bwc_core

    assert bwc_core.UNSAFE_NO_ORIGIN is UNSAFE_NO_ORIGIN


# --- the unsafe policy: said in every output ----------------------------------------------

def assert_unchecked(report):
    warn = [f for f in report.findings if f.code == ORIGIN_UNCHECKED]
    assert len(warn) == 1 and warn[0].severity is Severity.WARNING and warn[0].verdict is Verdict.ORIGIN
    assert report.findings[0].code == ORIGIN_UNCHECKED  # first, not lost among the infos
    assert report.verdicts == {"integrity": "pass", "completeness": "pass", "origin": "unchecked"}
    assert report.ok and not report.origin_checked
    data = json.loads(json.dumps(report.to_json()))
    assert data["verdicts"]["origin"] == "unchecked"
    assert data["trust"] == {"roots": [], "checked": False, "policy": "UNSAFE_NO_ORIGIN"}
    assert data["summary"]["warnings"] >= 1
    assert ORIGIN_UNCHECKED in [f["code"] for f in data["findings"] if f["severity"] == "warning"]
    out = io.StringIO()
    cli._print_report(report, out)
    text = out.getvalue()
    assert text.startswith("PASS (ORIGIN NOT CHECKED") and "origin: unchecked" in text
    assert f"warning {ORIGIN_UNCHECKED}" in text
    page = render_html(report)
    assert "PASS, ORIGIN NOT CHECKED" in page and 'class="banner unchecked"' in page
    assert "every check passed" not in page and ORIGIN_UNCHECKED in page
    assert '<span class="v-unchecked">origin: unchecked</span>' in page


@pytest.mark.parametrize("container", ["mp4", "mkv", "ts"])
def test_unsafe_policy_on_pristine_evidence_warns_in_every_output(container, tmp_path, make_evidence, trust,
                                                                  av_clip, caplog):
    ev = make_evidence(tmp_path / "ev", [av_clip], trust.cam, trust.cert, container=container)
    with caplog.at_level("WARNING"):
        report = verify_evidence(ev, UNSAFE_NO_ORIGIN)
    assert_unchecked(report)
    assert any("UNSAFE_NO_ORIGIN" in r.getMessage() for r in caplog.records)


def test_unsafe_policy_on_an_exhibit(exhibit):
    report = verify_exhibit(exhibit, UNSAFE_NO_ORIGIN)
    assert_unchecked(report)
    assert verify_evidence(exhibit, UNSAFE_NO_ORIGIN).verdicts["origin"] == "unchecked"  # via the dispatcher


def test_exhibit_built_without_roots_says_origin_unchecked(tmp_path, evidence, trust):
    out = build_exhibit(evidence, "REC-002", tmp_path / "ex", **trust.signed)
    data = json.loads((out / "report.json").read_text())
    assert data["verdicts"]["origin"] == "unchecked"
    assert ORIGIN_UNCHECKED in {f["code"] for f in data["findings"]}
    assert "PASS, ORIGIN NOT CHECKED" in (out / "report.html").read_text()
    # verified later with the agency's root: origin passes, and the shipped "unchecked" is no mismatch
    report = verify_exhibit(out, TrustAnchors([trust.root_pub]))
    assert report.ok and report.verdicts["origin"] == "pass" and ORIGIN_UNCHECKED not in report.codes()


@pytest.mark.parametrize("policy", ["anchors", "unsafe"])
def test_shipped_report_lying_on_integrity_is_still_a_mismatch(policy, tmp_path, evidence, trust):
    out = build_exhibit(evidence, "REC-002", tmp_path / "ex", **trust.signed)  # shipped origin: unchecked
    doc = json.loads((out / "report.json").read_text())
    doc["verdicts"]["integrity"] = "fail"
    (out / "report.json").write_text(json.dumps(doc))
    anchors = TrustAnchors([trust.root_pub]) if policy == "anchors" else UNSAFE_NO_ORIGIN
    mismatched = {f.where.get("file") for f in verify_exhibit(out, anchors).findings
                  if f.code == "exhibit.report_mismatch"}
    assert "report.json" in mismatched  # (report.html too: the edited report.json is not the declared file)


def test_unsafe_policy_on_a_journal(evidence):
    found = validate_journal(evidence, UNSAFE_NO_ORIGIN)
    assert [(f.code, f.severity) for f in found] == [(ORIGIN_UNCHECKED, Severity.WARNING),
                                                     ("cert.unchecked", Severity.INFO)]
    assert validate_chain(read_lines(evidence), UNSAFE_NO_ORIGIN) == found


def test_unsafe_policy_still_fails_what_it_checks(tmp_path, evidence):
    ev = tmp_path / "ev"
    import shutil

    shutil.copytree(evidence, ev)
    lines = read_lines(ev)
    (ev / "journal.jsonl").write_bytes(b"".join(lines[:2] + lines[3:]))  # a record removed
    report = verify_evidence(ev, UNSAFE_NO_ORIGIN)
    assert not report.ok and report.verdicts["completeness"] == "fail"
    assert report.verdicts["origin"] == "unchecked" and report.findings[0].code == ORIGIN_UNCHECKED
    out = io.StringIO()
    cli._print_report(report, out)
    assert out.getvalue().startswith("FAIL")


# --- with anchors: no change ----------------------------------------------------------------

def test_with_anchors_origin_passes_and_no_warning(evidence, exhibit, anchors):
    for report in (verify_evidence(evidence, anchors), verify_exhibit(exhibit, anchors)):
        assert report.ok and report.origin_checked
        assert report.verdicts == {"integrity": "pass", "completeness": "pass", "origin": "pass"}
        assert ORIGIN_UNCHECKED not in report.codes() and "cert.unchecked" not in report.codes()
        assert report.trust["checked"] and report.trust["policy"] == "anchors"
        page = render_html(report)
        assert "every check passed" in page and "ORIGIN NOT CHECKED" not in page
    assert validate_journal(evidence, anchors) == []


def test_cli_exhibit_without_trust_says_origin_not_checked(evidence, trust, tmp_path, capsys):
    keys = ["--key", str(trust.server_key), "--cert", str(trust.server_cert_path)]
    assert cli.main(["exhibit", str(evidence), "--recording", "REC-002", "--out", str(tmp_path / "a"), *keys]) == 0
    assert "ORIGIN NOT CHECKED" in capsys.readouterr().out
    assert cli.main(["exhibit", str(evidence), "--recording", "REC-002", "--out", str(tmp_path / "b"), *keys,
                     "--trust", str(trust.root_pub)]) == 0
    assert "ORIGIN NOT CHECKED" not in capsys.readouterr().out


def test_cli_verify_requires_trust(evidence, capsys):
    # `bwc verify` has no unsafe mode: --trust is required (argparse exit 2)
    with pytest.raises(SystemExit) as exc:
        cli.main(["verify", str(evidence)])
    assert exc.value.code == 2 and "--trust" in capsys.readouterr().err

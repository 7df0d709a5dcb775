"""``bwc verify`` through the command line against ``b3sum`` + ``sha256sum`` of the same files.

Target (issue 5): verifying a sealed 10-minute 1080p 8 Mbit/s recording,
with the CLI's start-up, every digest, every content root (re-demuxed) and
every signature, takes <= 0.5x the wall time of ``b3sum`` + ``sha256sum``
over the segment files.

Building the corpus cheaply (all cached in ``benchmarks/.cache``): 60 s of
1080p 8 Mbit/s H.264 + AAC is encoded once, then stream-copied
``BWC_BENCH_VERIFY_SECONDS / 60`` times back to back onto one timeline
(timestamps shifted, nothing re-encoded) and the long file is sealed with
``bwc seal`` into 10 s segments. Both sides read from a warm page cache.

When ``c2pa-python`` is installed (``pip install bwc-core[c2pa]``), the same
long file is also signed and validated with it, side by side with
``bwc seal`` and ``bwc verify`` (bwc-core's should each be faster).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

SECONDS = int(os.environ.get("BWC_BENCH_VERIFY_SECONDS", "600"))
BASE_SECONDS = 60
CACHE = Path(__file__).parent / ".cache"


def _encode_base() -> Path:
    """60 s of 1920x1080 H.264 at 8 Mbit/s (GOP 30) + AAC, encoded once."""
    from bwc_core.capture.synthetic import SyntheticCamera

    path = CACHE / f"cam1080p_{BASE_SECONDS}s_8mbit_v1.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        SyntheticCamera(seconds=BASE_SECONDS, width=1920, height=1080, bitrate=8_000_000,
                        gop=30).write(tmp)
        tmp.rename(path)
    return path


def _loop(src: Path, dst: Path, times: int) -> None:
    """Stream-copy *src* *times* times back to back on one timeline (no re-encoding).

    Each copy starts where the longest stream of the previous one ended,
    rounded up to a whole video frame, so every stream stays monotonic.
    """
    import av

    with av.open(str(src)) as probe:
        end = Fraction(0)
        frame = Fraction(1, 30)
        for packet in probe.demux():
            if packet.pts is None:
                continue
            stream = probe.streams[packet.stream_index]
            tb = Fraction(stream.time_base)
            end = max(end, (packet.pts + (packet.duration or 0)) * tb)
            if stream.type == "video" and stream.average_rate:
                frame = 1 / Fraction(stream.average_rate)
    period = math.ceil(end / frame) * frame
    tmp = dst.with_suffix(".part")
    with av.open(str(tmp), "w", format="mp4") as out:
        with av.open(str(src)) as first:
            mapping = {s.index: out.add_stream_from_template(s) for s in first.streams}
        for k in range(times):
            with av.open(str(src)) as inp:
                for packet in inp.demux():
                    if packet.dts is None and packet.size == 0:
                        continue
                    tb = Fraction(inp.streams[packet.stream_index].time_base)
                    shift = int(k * period / tb)
                    if packet.pts is not None:
                        packet.pts += shift
                    if packet.dts is not None:
                        packet.dts += shift
                    packet.stream = mapping[packet.stream_index]
                    out.mux(packet)
    tmp.rename(dst)


@pytest.fixture(scope="module")
def long_file() -> Path:
    """SECONDS s of 1080p 8 Mbit/s H.264 + AAC in one MP4 (cached)."""
    base = _encode_base()
    times = max(1, SECONDS // BASE_SECONDS)
    path = CACHE / f"cam1080p_{times * BASE_SECONDS}s_8mbit_v1.mp4"
    if not path.exists():
        _loop(base, path, times)
    return path


@pytest.fixture(scope="module")
def identities() -> Path:
    """A root and a camera identity with its certificate (cached)."""
    from bwc_core.format.keys import Identity

    keys = CACHE / "keys-v1"
    if not (keys / "cam.cert").exists():
        shutil.rmtree(keys, ignore_errors=True)
        keys.mkdir(parents=True)
        root = Identity.generate("root", "BENCH-ROOT")
        cam = Identity.generate("camera", "BENCH-CAM")
        root.save_public(keys / "root.pub.json")
        cam.save(keys / "cam.key")
        root.certify(cam, days=3650).save(keys / "cam.cert")
    return keys


def _seal_cmd(keys: Path, media: Path, out: Path) -> list[str]:
    bwc = str(Path(sys.executable).with_name("bwc"))
    return [bwc, "seal", str(media), "--key", str(keys / "cam.key"), "--cert", str(keys / "cam.cert"),
            "--out", str(out), "--segment-seconds", "10"]


def _verify_cmd(keys: Path, evidence: Path) -> list[str]:
    bwc = str(Path(sys.executable).with_name("bwc"))
    return [bwc, "verify", str(evidence), "--trust", str(keys / "root.pub.json"), "--json"]


@pytest.fixture(scope="module")
def sealed(long_file, identities):
    """The long file sealed into 10 s segments (cached): (evidence, keys, segment files)."""
    ev = CACHE / f"sealed-{long_file.stem}" / "evidence"
    if not (ev / "journal.jsonl").exists():
        shutil.rmtree(ev.parent, ignore_errors=True)
        ev.parent.mkdir(parents=True)
        subprocess.run(_seal_cmd(identities, long_file, ev), check=True, stdout=subprocess.DEVNULL)
    files = sorted(str(p) for p in (ev / "media").rglob("*") if p.suffix in (".mp4", ".mkv", ".ts"))
    return ev, identities, files


def test_verify_cli_vs_b3sum_sha256sum(benchmark, paired, note, sealed):
    ev, keys, files = sealed
    size = sum(os.path.getsize(f) for f in files)
    cmd = _verify_cmd(keys, ev)

    def candidate(_):
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.returncode == 0, proc.stderr

    def baseline(_):
        subprocess.run(["b3sum", *files], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["sha256sum", *files], stdout=subprocess.DEVNULL, check=True)

    note(f"bwc verify corpus: {len(files)} segment(s), {size / 1e6:.1f} MB, {SECONDS} s of 1080p 8 Mbit/s")
    paired(benchmark, f"bwc verify ({SECONDS} s 1080p) vs b3sum+sha256sum", candidate, baseline,
           rounds=5, target=0.5, mode="overhead", per=max(1, size // 1_000_000), unit="MB")


# --- c2pa-python side by side -----------------------------------------------------------------


def _c2pa_identity(directory: Path) -> tuple[bytes, bytes]:
    """(PEM certificate chain, PEM private key): an ES256 signer under a test CA (cached).

    C2PA wants an X.509 chain whose end-entity certificate is not
    self-signed and carries a signing EKU.
    """
    chain, key_file = directory / "c2pa-chain.pem", directory / "c2pa-key.pem"
    if chain.exists() and key_file.exists():
        return chain.read_bytes(), key_file.read_bytes()
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    later = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bwc-core bench"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "bwc-core bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(later)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bwc-core bench"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "bwc-core bench signer")])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    directory.mkdir(parents=True, exist_ok=True)
    chain.write_bytes(pem)
    key_file.write_bytes(key_pem)
    return pem, key_pem


# c2pa is driven through a fresh interpreter per round, as bwc is: both sides
# pay their start-up (imports, native library load) and nothing stays warm.
_C2PA_SIGN = r"""
import json, sys, c2pa
src, dst, chain, key = sys.argv[1:5]
info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, open(chain, "rb").read(),
                           open(key, "rb").read(), None)
signer = c2pa.Signer.from_info(info)
manifest = {"claim_generator_info": [{"name": "bwc-core bench", "version": "1"}],
            "title": "bench", "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created",
                 "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
builder = c2pa.Builder(json.dumps(manifest))
with open(src, "rb") as s, open(dst, "w+b") as d:
    builder.sign(signer, "video/mp4", s, d)
"""

_C2PA_VERIFY = r"""
import sys, c2pa
with open(sys.argv[1], "rb") as s:
    reader = c2pa.Reader("video/mp4", s)
    state = reader.get_validation_state()
    results = reader.get_validation_results() or {}
failures = (results.get("activeManifest") or {}).get("failure") or []
bad = [f for f in failures if f.get("code") != "signingCredential.untrusted"]
if bad:
    sys.exit(f"c2pa validation failed: {state} {bad}")
"""


def _c2pa_or_skip() -> None:
    try:
        import c2pa  # noqa: F401
    except ImportError:
        pytest.skip("c2pa-python not installed (pip install bwc-core[c2pa])")


@pytest.fixture(scope="module")
def c2pa_signed(long_file, identities, tmp_path_factory):
    """The long file signed once with c2pa (what its validation reads)."""
    _c2pa_or_skip()
    _c2pa_identity(identities)
    dst = tmp_path_factory.mktemp("c2pa") / "signed.mp4"
    subprocess.run([sys.executable, "-c", _C2PA_SIGN, str(long_file), str(dst),
                    str(identities / "c2pa-chain.pem"), str(identities / "c2pa-key.pem")], check=True)
    subprocess.run([sys.executable, "-c", _C2PA_VERIFY, str(dst)], check=True)
    return dst


def test_seal_vs_c2pa_sign(benchmark, paired, note, long_file, identities, tmp_path):
    """``bwc seal`` of the long file vs c2pa-python signing it (manifest embedded, file rewritten)."""
    _c2pa_or_skip()
    _c2pa_identity(identities)
    rounds = iter(range(1 << 30))

    def prepare():
        work = tmp_path / f"round{next(rounds)}"
        work.mkdir()
        return work

    def candidate(work):
        subprocess.run(_seal_cmd(identities, long_file, work / "evidence"), check=True,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(work)

    def baseline(work):
        subprocess.run([sys.executable, "-c", _C2PA_SIGN, str(long_file), str(work / "signed.mp4"),
                        str(identities / "c2pa-chain.pem"), str(identities / "c2pa-key.pem")], check=True)
        shutil.rmtree(work)

    size = os.path.getsize(long_file)
    note(f"c2pa corpus: {long_file.name}, {size / 1e6:.1f} MB")
    paired(benchmark, f"bwc seal ({SECONDS} s 1080p) vs c2pa-python sign", candidate, baseline,
           prepare=prepare, rounds=3, target=1.0, mode="overhead", per=max(1, size // 1_000_000), unit="MB")


def test_verify_vs_c2pa_validate(benchmark, paired, sealed, c2pa_signed):
    """``bwc verify`` of the sealed recording vs c2pa-python validating the signed file."""
    ev, keys, _ = sealed
    cmd = _verify_cmd(keys, ev)

    def candidate(_):
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.returncode == 0, proc.stderr

    def baseline(_):
        subprocess.run([sys.executable, "-c", _C2PA_VERIFY, str(c2pa_signed)], check=True)

    size = os.path.getsize(c2pa_signed)
    paired(benchmark, f"bwc verify ({SECONDS} s 1080p) vs c2pa-python validate", candidate, baseline,
           rounds=5, target=1.0, mode="overhead", per=max(1, size // 1_000_000), unit="MB")

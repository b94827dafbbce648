"""Ctrl-C during a transfer: KeyboardInterrupt, nothing half-written, the partial download
kept, and the next pull resumes from it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import modelark
from conftest import Registry

PULLER = r"""
import os, signal, sys
import modelark

# A shell that starts a job in the background makes it ignore SIGINT, and Python then keeps
# it ignored; a terminal's Python has its KeyboardInterrupt handler, so install that.
signal.signal(signal.SIGINT, signal.default_int_handler)
client = modelark.Client(home=sys.argv[1], plain_http=True, connections=1)
sent = []

def progress(p):
    # A real SIGINT, delivered while the pull runs with the GIL released. Progress counts
    # bytes as they arrive; the file gets them a few MiB of buffers later, so wait until
    # some must be on disk.
    if p.done >= 32 << 20 and not sent:
        sent.append(p.done)
        os.kill(os.getpid(), signal.SIGINT)

try:
    client.pull(sys.argv[2], dest=sys.argv[3], progress=progress)
except KeyboardInterrupt as e:
    print("interrupted after", sent[0], "bytes:", e)
    sys.exit(42)
print("finished before the interrupt arrived")
"""


def test_ctrl_c_stops_a_pull_that_resumes(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "large"
    model.mkdir()
    size = 512 << 20
    with open(model / "weights.bin", "wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    home = tmp_path / "home"
    ref = modelark.Client(home=tmp_path / "pusher", plain_http=True).push(model, f"{registry.host}/py/large:1.0.0").reference

    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", PULLER, str(home), ref, str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 42, run.stdout + run.stderr
    assert "nothing half-written" in run.stdout
    assert not out.exists()
    partials = [p for p in (home / "store").rglob(".partial-*") if not p.name.endswith((".lock", ".parts"))]
    assert partials, list((home / "store").rglob("*"))
    kept = sum(p.stat().st_size for p in partials)
    assert 0 < kept < size

    # The same call again finishes from the partial download (the library's resume is
    # tested with Range requests in tests/it/faults.rs); the partial is gone afterwards.
    client = modelark.Client(home=home, plain_http=True, connections=1)
    pulled = client.pull(ref, dest=out)
    assert pulled.files == 1
    with open(out / "weights.bin", "rb") as got, open(model / "weights.bin", "rb") as want:
        digest = hashlib.sha256()
        while chunk := got.read(1 << 20):
            assert chunk == want.read(len(chunk))
            digest.update(chunk)
    weights = next(f for f in client.inspect(ref).files if f.path == "weights.bin")
    assert weights.digest == "sha256:" + digest.hexdigest()
    assert not [p for p in (home / "store").rglob(".partial-*") if not p.name.endswith(".lock")]

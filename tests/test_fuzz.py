"""The API fuzzer (tests/fuzz_api.py) in a subprocess: a crash fails this test, not pytest."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("hypothesis")

# 150 examples for each of the three checks: 450 calls in CI, about a minute on two cores
EXAMPLES = int(os.environ.get("FASTCONV_FUZZ_EXAMPLES", "150"))


def test_fuzz_public_api():
    script = os.path.join(os.path.dirname(__file__), "fuzz_api.py")
    proc = subprocess.run([sys.executable, script, "--examples", str(EXAMPLES)],
                          capture_output=True, text=True, timeout=900)
    report = proc.stdout[-4000:] + proc.stderr[-8000:]
    assert proc.returncode == 0, f"fuzzer exited with {proc.returncode}:\n{report}"
    assert report.count("examples passed") == 3, report

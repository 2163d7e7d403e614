"""The README's front door: `portanet demo` reaches >= 0.95 test accuracy in under a minute."""

import re
import subprocess
import sys
import time


def test_demo_reaches_the_accuracy_bar():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "portanet", "demo", "--verbose", "0"],
                         capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"test accuracy: (0\.\d{3}|1\.000)", last)
    assert m, last
    assert float(m.group(1)) >= 0.95
    assert elapsed < 60


def test_demo_flags_are_validated():
    out = subprocess.run([sys.executable, "-m", "portanet", "demo", "--epochs", "0"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "expected a positive integer" in out.stderr
    out = subprocess.run([sys.executable, "-m", "portanet", "demo", "--backend", "torch"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_demo_on_strict_backend():
    out = subprocess.run([sys.executable, "-m", "portanet", "demo", "--verbose", "0", "--epochs", "3",
                          "--backend", "array_api_strict", "--batch-size", "64"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "backend array_api_strict" in out.stdout
    assert float(out.stdout.strip().splitlines()[-1].split(": ")[1]) > 0.8

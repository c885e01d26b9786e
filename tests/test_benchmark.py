"""The throughput benchmark runs end to end (one tiny measurement) and reports a ratio per model."""

from __future__ import annotations

import re

from benchmarks import throughput


def test_benchmark_prints_reference_ours_and_ratio(capsys):
    throughput.main(["--device", "cpu", "--models", "mlp", "--steps", "1", "--repeats", "2", "--warmup", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device: cpu")
    reference = next(line for line in lines if line.startswith("mlp") and "reference" in line)
    ours = next(line for line in lines if line.startswith("mlp") and "ours" in line)
    rate_reference, rate_ours = (float(line.split()[2].replace(",", "")) for line in (reference, ours))
    ratio = float(re.search(r"([\d.]+)x$", ours).group(1))
    assert rate_reference > 0 and rate_ours > 0
    assert abs(ratio - rate_ours / rate_reference) < 0.01 * ratio + 0.01

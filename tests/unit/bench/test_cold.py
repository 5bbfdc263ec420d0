"""``imagevec bench cold``'s table: every model and kind it timed, CPU where measured."""

from __future__ import annotations

from imagevec.bench.cold import format_cold


def test_format_cold_lists_models_kinds_and_cpu() -> None:
    times = {"min": 1.0, "median": 1.5, "max": 2.0}
    result = {
        "rounds": 3,
        "load_average": 0.5,
        "load_average_after": 0.7,
        "models": {
            "default": {"text": {"wall_s": times, "cpu_s": times}, "mcp_ready": {"wall_s": times}},
            "/tmp/models/clip-b32-random": {"image": {"wall_s": times, "cpu_s": times}},
        },
    }
    lines = format_cold(result).splitlines()
    assert lines[0].startswith("cold start, 3 fresh processes each (load average 0.5 -> 0.7)")
    assert lines[2].split() == ["default", "text", "1.00s", "1.50s", "1.00s", "1.50s"]
    assert lines[3].split() == ["default", "mcp_ready", "1.00s", "1.50s"]
    assert lines[4].split()[:2] == ["clip-b32-random", "image"]

"""The function's log lines: one JSON object a line on stdout, at LOG_LEVEL and above,
and a failed write never fails the request."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from dmcode import logs


@pytest.fixture(autouse=True)
def level_restored() -> Iterator[None]:
    yield
    logs.setup("INFO")


def test_a_line_is_one_json_object_without_empty_fields(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO")

    logs.event("request", requestId="r-1", status=200, to=None, attempts=1)

    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert {k: v for k, v in record.items() if k != "time"} == {
        "level": "INFO",
        "event": "request",
        "requestId": "r-1",
        "status": 200,
        "attempts": 1,
    }
    assert len(record["time"]) == len("2026-11-30T12:00:00.000Z") and record["time"][-1] == "Z"


def test_lines_below_log_level_are_not_written(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("WARNING")

    logs.event("request", requestId="r-1")
    logs.event("pointer_not_saved", logs.WARNING, reason="store_unavailable")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["event"], r["level"]) for r in lines] == [("pointer_not_saved", "WARNING")]


def test_a_lone_surrogate_is_escaped_so_the_line_can_be_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.event("request", method="P\ud800ST")

    (line,) = capsys.readouterr().out.splitlines()
    assert line.isascii() and json.loads(line)["method"] == "P\ud800ST"


def test_a_closed_stdout_loses_the_line_on_stderr_and_raises_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed, stderr = io.StringIO(), io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    monkeypatch.setattr("sys.stderr", stderr)

    logs.event("request", requestId="r-1")

    assert stderr.getvalue() == "dmcode: a log line was lost: ValueError\n"

"""The benchmark runs end to end on this server, and its correctness checks catch what they
are there to catch."""

import json
import subprocess
import sys
from pathlib import Path

import orjson

from bench.workload import Figures, Read, check_read, following
from feed.envelope import page

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_runs_and_finds_this_server_correct(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench", "--servers", "sqlite", "--objects", "300",
        "--envelope", "100", "--page-size", "100", "--get-samples", "20", "--polls", "5",
        "--screen-lookups", "2000", "--screen-distinct", "500", "--screen-rows", "3000",
        "--scaling-seconds", "0.5",
        "--json", str(report),
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "feed (sqlite): all checks passed" in run.stdout
    figures = json.loads(report.read_text())
    (server,) = figures["servers"]
    assert server["problems"] == []
    assert server["ingest_per_s"] > 0
    assert server["read_raw_per_s"] > 0
    assert server["first_page_ms"] > 0
    assert server["last_page_ms"] > 0
    assert server["read_client_per_s"] > 0
    assert server["client_decoding_per_s"] > 0
    assert server["visible_at_once"] is True
    assert server["read_by_processes"].keys() == {"1", "2"}
    assert min(server["read_by_processes"].values()) > 0
    assert figures["screening"]["problems"] == []


def test_the_read_check_names_what_is_missing_repeated_changed_or_out_of_order() -> None:
    sent = [{"id": f"x--{n}", "value": n} for n in range(4)]
    served = [sent[0], sent[0], {**sent[1], "value": 9}, sent[2]]
    read = Read(served, [0.1], [4], ["2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"])
    figures = Figures("server")
    check_read(read, sent, figures)
    assert figures.problems == [
        "read: 1 ids served more than once: x--0",
        "read: 1 objects never served, e.g. x--3",
        "read: 1 objects served changed, e.g. x--1 in ['value']",
        "read: pages out of date_added order",
    ]


def test_a_reader_follows_pages_from_their_head_or_else_from_the_whole_page() -> None:
    objects = ['{"type":"indicator","more":false,"next":"inside"}']
    assert following(page(objects, key="objects", more=True, next_token="abc")) == (True, "abc")
    assert following(page(objects, key="objects", more=False, next_token=None)) == (False, None)
    assert following(page([], key="objects", more=False, next_token=None)) == (False, None)
    # Other servers' order and spacing: parsed whole, never misread from an object.
    tail_next = orjson.dumps({"more": True, "objects": [{"more": False}], "next": "n2"})
    assert following(tail_next) == (True, "n2")
    assert following(b'{ "objects": [{"next": "x"}], "more": false }') == (False, None)
    assert following(b'{"more":true, "next":"n3", "objects":[]}') == (True, "n3")

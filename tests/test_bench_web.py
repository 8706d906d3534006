"""bench/web.py reads wrk's report right: a misread would put wrong figures in the docs."""

from __future__ import annotations

from bench.web import parse_wrk

WRK_OUT = """Running 10s test @ http://127.0.0.1:8000/page/01/06970001001013/10/P-1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.10ms    3.02ms  47.38ms   80.00%
    Req/Sec     2.72k   310.11     3.40k    71.00%
  Latency Distribution
     50%    5.73ms
     75%    7.01ms
     90%    9.20ms
     99%   13.33ms
  54290 requests in 10.02s, 1.17GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   5418.11
Transfer/sec:    119.60MB
"""


def test_parse_wrk() -> None:
    res = parse_wrk(WRK_OUT)
    assert res["rps"] == 5418.11
    assert res["latency"] == {50: 5.73, 75: 7.01, 90: 9.2, 99: 13.33}
    assert res["requests"] == 54290
    assert res["socket_errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    assert res["non2xx"] == 7
    assert res["avg_ms"] == 6.1 and res["max_ms"] == 47.38


def test_parse_wrk_units() -> None:
    out = WRK_OUT.replace("5.73ms", "850.00us").replace("13.33ms", "1.20s")
    res = parse_wrk(out)
    assert res["latency"][50] == 0.85
    assert res["latency"][99] == 1200.0

#!/usr/bin/env python3
"""Load for `distilbert <command> --serve`: many clients POSTing JSONL rows at once.

Python's standard library only (http.client with one keep-alive connection per client thread), so
it runs wherever python3 does, the GPU machine included. It reads the rows of --input, deals them to
--clients threads in requests of --lines rows each, sends every request once, and reports requests/s,
rows/s, the latency of a request (p50, p90, p99, max) and the server's /health counts (how many
requests it ran per batch). The answers are written in input order to --output, so that they can be
compared with the command's own output for the same file. The server's /health before and after gives
this run's batches, so the report says how many requests shared a batch.

    python3 bench/serve-load.py --url http://127.0.0.1:8080/ --input rows.jsonl --clients 64 --lines 1 \\
        --output served.jsonl --json load.json

The client is Python: past a few thousand requests per second it is the bottleneck, not the server;
the report says how busy the client's threads were (wall time in requests / clients x elapsed).
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the server's address, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--input", required=True, help="JSONL rows in the command's input format")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (threads), default 16")
    ap.add_argument("--lines", type=int, default=1, help="rows per request, default 1")
    ap.add_argument("--max-requests", type=int, default=0, help="send at most this many requests (0: all the rows)")
    ap.add_argument("--output", help="write the answers here, in input order")
    ap.add_argument("--json", help="write the report here as JSON")
    a = ap.parse_args()
    if a.clients < 1 or a.lines < 1:
        sys.exit("serve-load: --clients and --lines must be at least 1")
    rows = [l for l in open(a.input, encoding="utf-8").read().split("\n") if l.strip()]
    requests = [rows[i:i + a.lines] for i in range(0, len(rows), a.lines)]
    if a.max_requests > 0:
        requests = requests[:a.max_requests]
    if not requests:
        sys.exit("serve-load: no rows in " + a.input)
    url = urllib.parse.urlsplit(a.url)
    path = url.path or "/"
    answers = [None] * len(requests)
    latency = [0.0] * len(requests)
    errors = []
    next_request = [0]
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
        while True:
            with lock:
                i = next_request[0]
                if i >= len(requests):
                    break
                next_request[0] += 1
            body = ("\n".join(requests[i]) + "\n").encode("utf-8")
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/x-ndjson"})
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
                errors.append(f"request {i}: {type(e).__name__}: {e}")
                continue
            latency[i] = time.perf_counter() - t0
            if r.status != 200:
                errors.append(f"request {i}: HTTP {r.status}: {data[:200]!r}")
                continue
            lines = data.decode("utf-8").split("\n")[:-1]
            if len(lines) != len(requests[i]):
                errors.append(f"request {i}: {len(lines)} lines for {len(requests[i])} rows")
                continue
            answers[i] = lines
        conn.close()

    def health_now():
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read())
        except (OSError, ValueError, http.client.HTTPException) as e:
            errors.append(f"/health: {e}")
            return None

    before = health_now()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(a.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    done = [x for x in latency if x > 0]
    done.sort()

    def pct(p):
        return done[min(len(done) - 1, int(p / 100 * len(done)))] * 1000 if done else float("nan")

    health = health_now()
    # this run's share of the server's counts (it may have served others before)
    run_batches = run_requests = None
    if before and health:
        run_batches = health["batches"] - before["batches"]
        run_requests = health["requests"] - before["requests"]
    report = {
        "url": a.url, "clients": a.clients, "lines_per_request": a.lines, "requests": len(requests),
        "rows": sum(len(r) for r in requests), "answered": sum(1 for x in answers if x is not None),
        "errors": len(errors), "seconds": elapsed, "requests_per_s": len(done) / elapsed,
        "rows_per_s": sum(len(requests[i]) for i, x in enumerate(answers) if x is not None) / elapsed,
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": done[-1] * 1000 if done else float("nan")},
        "client_busy": sum(done) / (a.clients * elapsed), "health": health,
        "server_batches": run_batches,
        "requests_per_batch": run_requests / run_batches if run_batches else None,
    }
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            for x in answers:
                for line in x or []:
                    f.write(line + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    lat = report["latency_ms"]
    per_batch = f"{report['requests_per_batch']:.1f}" if report["requests_per_batch"] else None
    print(f"{report['answered']}/{report['requests']} requests of {a.lines} row(s) from {a.clients} clients in {elapsed:.2f} s: "
          f"{report['requests_per_s']:.0f} requests/s, {report['rows_per_s']:.0f} rows/s; latency p50 {lat['p50']:.1f} ms, "
          f"p90 {lat['p90']:.1f}, p99 {lat['p99']:.1f}, max {lat['max']:.1f}; "
          f"{per_batch if per_batch is not None else '?'} requests per batch on the server (this run); {len(errors)} errors")
    for e in errors[:5]:
        print("  " + e, file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

"""A plain HTTP client in its own process: times POST /v1/rerank as any user's client would.

The cross-check of compare.py's API rows: the standard library only (http.client, json), one
keep-alive connection, requests back to back, the clock around send + full read + JSON parse.
Prints one JSON line: every request's seconds, their median and their mean.

    python benchmarks/plain_client.py URL KEY MODEL DOCUMENTS.json --reps 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from urllib.parse import urlsplit


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("model")
    parser.add_argument("documents", help='a JSON file: {"query": ..., "documents": [...]}')
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with open(args.documents, encoding="utf-8") as file:
        workload = json.load(file)
    body = json.dumps({"model": args.model, "query": workload["query"], "documents": workload["documents"]})
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    where = urlsplit(args.url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port or 80, timeout=600)
    seconds: list[float] = []
    for _ in range(args.reps + 1):  # the first is untimed, as in compare.py
        started = time.perf_counter()
        connection.request("POST", "/v1/rerank", body=body, headers=headers)
        response = connection.getresponse()
        results = json.loads(response.read())["results"]
        elapsed = time.perf_counter() - started
        if response.status != 200 or len(results) != len(workload["documents"]):
            raise SystemExit(f"plain client: HTTP {response.status}")
        seconds.append(elapsed)
    connection.close()
    timed = seconds[1:]
    print(json.dumps({"seconds": timed, "median": statistics.median(timed), "mean": statistics.fmean(timed)}))


if __name__ == "__main__":
    main()

"""The load generator of bench/web.py, in its own process (bench/load.py: locust's keep-alive
clients, alternating slices, and why): every client GETs the URL of the moment. Each URL gets a
warm-up, then its slices alternate with the ceiling URL's.

    python bench/web_load.py URL SECONDS ROUNDS WARMUP USERS CEILING_PATH PATH...
    # one JSON line a PATH on stdout: {"path": {...}, "ceiling": {...}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Load, Plan  # noqa: E402


def get(client, path: str) -> None:
    client.get(path, name=path)


def main() -> None:
    plan, (ceiling_path, *paths) = Plan.parse(sys.argv[1:])
    load = Load(plan, "/", get)
    for path in paths:
        target, ceiling = load.measure(path, 200, ceiling_path)
        print(json.dumps({"path": target.as_json(), "ceiling": ceiling.as_json()}), flush=True)
    load.quit()


if __name__ == "__main__":
    main()

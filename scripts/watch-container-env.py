#!/usr/bin/env python3
"""Watch the containers of one results folder while its sweep runs, and say whether any
container's environment (what `docker inspect` shows: Config.Env, and the command) held a
secret: the value of the variable named by --secret-env.

    python3 scripts/watch-container-env.py --results-key KEY --secret-env VAR [--out FILE]

Polls every 0.5 s until SIGTERM/SIGINT, then prints (and writes to --out) one JSON line:
containers seen, and those whose environment or command held the value.
"""

import argparse
import json
import os
import signal
import sys
import time

import docker


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-key", required=True, help="the mleray.sweep label value")
    parser.add_argument("--secret-env", required=True)
    parser.add_argument("--out")
    args = parser.parse_args()
    secret = os.environ.get(args.secret_env)
    if not secret:
        print(f"error: {args.secret_env} is not set", file=sys.stderr)
        return 2
    client = docker.from_env(timeout=30)
    seen, holding, stop = set(), set(), []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    label = f"mleray.sweep={args.results_key}"
    while not stop:
        try:
            for summary in client.api.containers(all=True, filters={"label": label}):
                if summary["Id"] in seen:
                    continue
                config = client.api.inspect_container(summary["Id"]).get("Config") or {}
                text = "\0".join([*(config.get("Env") or []), *(config.get("Cmd") or [])])
                seen.add(summary["Id"])
                if secret in text:
                    holding.add(summary["Id"][:12])
        except docker.errors.DockerException:
            pass  # a container removed while being read
        time.sleep(0.5)
    result = {"containers_seen": len(seen), "holding_the_secret": sorted(holding)}
    line = json.dumps(result)
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    return 1 if holding else 0


if __name__ == "__main__":
    raise SystemExit(main())

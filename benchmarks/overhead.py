"""Per-trial overhead of `mleray sweep` (Docker) against bare `docker run` and against a
runner built the way MLE-bench's is, on `noop` trials (the agent copies the sample
submission, so nearly all of a trial's time is overhead).

    python benchmarks/overhead.py [--trials 40] [--concurrency 2] [--rounds 3]

Sides, each running N trials at concurrency C (one CPU per trial):
  bare     `docker run --rm` of the noop agent's image, C at a time from a thread pool,
           the submission written to a bind-mounted folder (nothing graded).
  mlebench an asyncio queue of C workers, each driving the Docker SDK through a thread as
           MLE-bench's run_agent.py does: create, start, wait, copy the submission out
           (get_archive), remove, then grade it in process with `grade_submission`.
  ray_floor the bare `docker run`s, each from a fresh Ray actor of one CPU (a fresh Ray, its
           start counted): what one actor per attempt, mleray's design, costs by itself
           (`benchmarks/_ray_floor.py`); mleray can get no nearer to bare than this.
  mleray   `python -m mleray sweep spec.yaml --num-cpus C --json` in a fresh results folder:
           everything a user pays for (Ray start, preflight, actors, grading, Parquet).
Each round runs the four at N and at 2N (order rotated between rounds); ratios are taken
within a round and their medians reported. The marginal figure is (T(2N) - T(N)) / N, the
cost of one more trial once fixed costs (Ray start, image lookups) are paid.

One more mleray run at N, in process with the loop instrumented, gives the breakdown of a
trial's time by stage (see `benchmarks/_timeline.py`).

Needs the noop image (`bash scripts/build-images.sh`) and a prepared breast-cancer-auc
(prepared here if missing). Prints progress on stderr and the figures as JSON last.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, emit, machine, median, note  # noqa: E402

COMPETITION = "breast-cancer-auc"
AGENT = "noop"
CONTAINER_CPUS = 1.0
MEMORY = "512m"


def setup() -> dict:
    """The image tag, the prepared competition, and what the containers mount."""
    from mleray.agents import get_agent
    from mleray.data import ensure_prepared, is_prepared, prepare_competition
    from mleray.registry import get_competition
    from mleray.sandbox.images import image_tag

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    competition = get_competition(COMPETITION)
    if not is_prepared(competition):
        note(f"preparing {COMPETITION}")
        prepare_competition(competition)
    competition = ensure_prepared(competition)
    agent = get_agent(AGENT)
    tag = image_tag(agent)
    subprocess.run(["docker", "image", "inspect", tag], check=True, capture_output=True)
    return {"competition": competition, "agent": agent, "image": tag}


def agent_command(context: dict) -> list[str]:
    return context["agent"].command_for("/opt/agent")


def bare_command(context: dict, out: Path) -> list[str]:
    """`docker run --rm` of one noop trial writing its submission into `out` (made here,
    writable by the agent's user)."""
    out.mkdir(parents=True)
    out.chmod(0o777)
    public = str(Path(context["competition"].public_dir).resolve())
    return [
        "docker", "run", "--rm", "--network", "none",
        f"--cpus={CONTAINER_CPUS:g}", f"--memory={MEMORY}",
        "-v", f"{public}:/home/data:ro", "-v", f"{out}:/home/submission",
        "-e", "MLERAY_DATA=/home/data", "-e", "MLERAY_SUBMISSION_DIR=/home/submission",
        context["image"], *agent_command(context),
    ]  # fmt: skip


def check_bare_submissions(outs: list[Path], side: str) -> None:
    missing = [out for out in outs if not (out / "submission.csv").is_file()]
    if missing:
        raise RuntimeError(f"{side}: {len(missing)} run(s) wrote no submission ({missing[0]})")


def run_bare(context: dict, trials: int, concurrency: int, scratch: Path) -> float:
    """`docker run --rm` per trial, `concurrency` at a time; returns the wall seconds."""
    outs = [scratch / f"bare-{index}" for index in range(trials)]
    commands = [bare_command(context, out) for out in outs]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda c: subprocess.run(c, check=True, capture_output=True), commands))
    wall = time.perf_counter() - start
    check_bare_submissions(outs, "bare")
    return wall


def run_ray_floor(context: dict, trials: int, concurrency: int, scratch: Path) -> float:
    """The same `docker run`s, each from a fresh Ray actor (`_ray_floor.py`, in a fresh
    interpreter with a fresh Ray, as `mleray sweep` is): the floor of one actor per
    attempt. Returns the wall seconds, Ray's start included as mleray's is."""
    outs = [scratch / f"floor-{index}" for index in range(trials)]
    job = {"concurrency": concurrency, "commands": [bare_command(context, o) for o in outs]}
    script = Path(__file__).resolve().parent / "_ray_floor.py"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script)], input=json.dumps(job), capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ray floor failed ({done.returncode}): {done.stderr[-2000:]}")
    check_bare_submissions(outs, "ray_floor")
    return wall


def run_mlebench_like(context: dict, trials: int, concurrency: int, scratch: Path) -> float:
    """MLE-bench's way: an asyncio queue, a worker per slot, the SDK in a thread (create,
    start, wait, get_archive, remove), then grading in process."""
    import docker
    from docker.types import Mount

    from mleray.grading import grade_submission

    client = docker.from_env()
    public = str(Path(context["competition"].public_dir).resolve())

    def one(index: int) -> float | None:
        container = client.containers.create(
            image=context["image"],
            command=agent_command(context),
            environment={
                "MLERAY_DATA": "/home/data",
                "MLERAY_SUBMISSION_DIR": "/home/submission",
            },
            mounts=[Mount(target="/home/data", source=public, type="bind", read_only=True)],
            network_mode="none",
            nano_cpus=int(CONTAINER_CPUS * 1e9),
            mem_limit=MEMORY,
            detach=True,
        )
        try:
            container.start()
            container.wait()
            bits, _ = container.get_archive("/home/submission/submission.csv")
            with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
                data = tar.extractfile(tar.getmembers()[0]).read()
        finally:
            container.remove(force=True)
        path = scratch / f"mlebench-{index}.csv"
        path.write_bytes(data)
        return grade_submission(context["competition"], path).score

    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(trials):
            queue.put_nowait(index)

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                score = await asyncio.to_thread(one, index)
                if score is None:
                    raise RuntimeError(f"mlebench-like trial {index} was not graded")

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def sweep_spec(trials: int, name: str) -> str:
    return "\n".join(
        [
            f"name: {name}",
            f"competitions: [{COMPETITION}]",
            "agents:",
            f"  - name: {AGENT}",
            f"seeds: {trials}",
            "resources:",
            f"  cpus: {CONTAINER_CPUS:g}",
            f"  memory: {MEMORY}",
            "time_limit: 120",
            "sandbox: docker",
            "",
        ]
    )


def run_mleray(trials: int, concurrency: int, scratch: Path, tag: str) -> float:
    """`mleray sweep` as a user runs it; returns the wall seconds (all trials must
    complete, or the figure would flatter it)."""
    spec = scratch / f"{tag}.yaml"
    spec.write_text(sweep_spec(trials, f"overhead-{tag}"))
    results = scratch / f"results-{tag}"
    command = [sys.executable, "-m", "mleray", "sweep", str(spec), "--results", str(results)]
    command += ["--num-cpus", f"{concurrency:g}", "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"mleray sweep failed ({done.returncode}): {done.stderr[-2000:]}")
    check_completed(results, trials)
    return wall


def check_completed(results: Path, trials: int) -> None:
    from mleray.results import load

    frame = load(results)
    completed = int((frame["status"] == "completed").sum())
    graded = int(frame["valid_submission"].fillna(False).sum())
    if completed != trials or graded != trials:
        statuses = frame["status"].value_counts().to_dict()
        raise RuntimeError(
            f"{results}: {completed}/{trials} completed, {graded} graded: {statuses}"
        )


SIDES = {
    "bare": lambda ctx, n, c, scratch, tag: run_bare(ctx, n, c, scratch / tag),
    "mlebench": lambda ctx, n, c, scratch, tag: run_mlebench_like(ctx, n, c, scratch / tag),
    "ray_floor": lambda ctx, n, c, scratch, tag: run_ray_floor(ctx, n, c, scratch / tag),
    "mleray": lambda ctx, n, c, scratch, tag: run_mleray(n, c, scratch, tag),
}


def one_round(context: dict, trials: int, concurrency: int, scratch: Path, index: int) -> dict:
    order = list(SIDES)
    turn = index % len(order)
    order = order[turn:] + order[:turn]  # rotate who goes first
    walls: dict = {}
    for size in (trials, 2 * trials):
        for side in order:
            tag = f"r{index}-{side}-{size}"
            (scratch / tag).mkdir(parents=True, exist_ok=True)
            wall = SIDES[side](context, size, concurrency, scratch, tag)
            walls[(side, size)] = wall
            note(
                f"round {index}: {side:8s} N={size:3d}  {wall:7.2f} s  ({wall / size:.3f} s/trial)"
            )
    return walls


def summarize(rounds: list[dict], trials: int) -> dict:
    per_trial, marginal, ratios = {}, {}, {}
    for side in SIDES:
        per_trial[side] = median(r[(side, trials)] / trials for r in rounds)
        per_trial[f"{side}_2n"] = median(r[(side, 2 * trials)] / (2 * trials) for r in rounds)
        marginal[side] = median(
            (r[(side, 2 * trials)] - r[(side, trials)]) / trials for r in rounds
        )

    def ratio(a: str, b: str, size: int) -> float | None:
        return median(r[(a, size)] / r[(b, size)] for r in rounds)

    def marginal_ratio(a: str, b: str) -> float | None:
        values = []
        for r in rounds:
            top = r[(a, 2 * trials)] - r[(a, trials)]
            bottom = r[(b, 2 * trials)] - r[(b, trials)]
            values.append(top / bottom if bottom > 0 else None)
        return median(values)

    ratios = {
        "mleray_vs_bare": ratio("mleray", "bare", trials),
        "mleray_vs_bare_2n": ratio("mleray", "bare", 2 * trials),
        "mleray_vs_bare_marginal": marginal_ratio("mleray", "bare"),
        "mleray_vs_mlebench": ratio("mleray", "mlebench", trials),
        "mleray_vs_mlebench_2n": ratio("mleray", "mlebench", 2 * trials),
        "mlebench_vs_bare": ratio("mlebench", "bare", trials),
        # one Ray actor per attempt, and nothing else of mleray's, against bare docker:
        # the part of mleray's overhead that its design (an actor per attempt) sets
        "ray_floor_vs_bare": ratio("ray_floor", "bare", trials),
        "ray_floor_vs_bare_marginal": marginal_ratio("ray_floor", "bare"),
        "mleray_vs_ray_floor": ratio("mleray", "ray_floor", trials),
        "mleray_vs_ray_floor_marginal": marginal_ratio("mleray", "ray_floor"),
    }
    return {
        "seconds_per_trial": per_trial,
        "marginal_seconds_per_trial": marginal,
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-breakdown", action="store_true", help="skip the profiled run")
    args = parser.parse_args()
    before = machine()
    context = setup()
    scratch = Path(tempfile.mkdtemp(prefix="mleray-overhead-"))
    try:
        rounds = [
            one_round(context, args.trials, args.concurrency, scratch, i)
            for i in range(args.rounds)
        ]
        figures = summarize(rounds, args.trials)
        if not args.no_breakdown:
            from _timeline import profiled_sweep

            spec = scratch / "profiled.yaml"
            spec.write_text(sweep_spec(args.trials, "overhead-profiled"))
            figures["mleray_breakdown"] = profiled_sweep(
                spec, scratch / "results-profiled", args.concurrency
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    targets = {
        "mleray_vs_bare_at_n_max": 1.5,
        "mleray_vs_bare_marginal_max": 1.3,
        "mleray_vs_mlebench_max": 1.0,
    }
    ratios = figures["ratios"]
    met = {
        "mleray_vs_bare_at_n": _at_most(ratios["mleray_vs_bare"], 1.5),
        "mleray_vs_bare_marginal": _at_most(ratios["mleray_vs_bare_marginal"], 1.3),
        "faster_than_mlebench": _at_most(ratios["mleray_vs_mlebench"], 1.0),
    }
    emit(
        {
            "benchmark": "overhead",
            "trials": args.trials,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "machine": before,
            **figures,
            "targets": targets,
            "targets_met": met,
        }
    )


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


if __name__ == "__main__":
    main()

"""The driver of a Ray run: connects, starts the workers, hands out units, joins parts, reports.

Workers are Ray actors (vsr.cluster.worker.Worker) that load the model once. The driver keeps at
most two units queued per actor (one running, one waiting), so work spreads as actors finish.
Data moves as paths when a worker's node sees the driver's files (a marker file written into the
output directory and every input, same size and modification time): outputs are written there
directly. Otherwise the input goes to that worker as bytes through the object store (once per
file and worker) and the encoded result comes back as bytes, which the driver writes.
`--ray-data paths|bytes` forces one way.

A worker that dies is restarted by Ray and its unit retried (`max_restarts`, `max_task_retries`);
if its restarts are used up, its units go to the other workers. Progress is the driver's alone:
one tqdm bar, fed by finished units and by the workers' cheap `progress()` calls.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vsr.cluster.plan import FilePlan, plan_file, plan_units, weights_key
from vsr.cluster.worker import Identity, Unit, UnitResult, Worker
from vsr.config import UpscaleConfig
from vsr.errors import Interrupted, OptionError, VsrError
from vsr.io.segments import SegmentInfo
from vsr.io.writer import partial_path
from vsr.pipeline.segmented import join_parts

log = logging.getLogger(__name__)

RAY_DATA = ("auto", "paths", "bytes")
QUEUED_PER_WORKER = 2  # one running, one waiting: the next unit starts without a round trip


@dataclass(frozen=True)
class RayOptions:
    address: str  # local (an embedded Ray on this machine), auto (the running cluster) or HOST:PORT
    workers: int = 0  # actors; 0: as many as the cluster's CPUs (or GPUs, with gpus) hold
    cpus: float = 1.0  # per actor (also its torch threads)
    gpus: float = 0.0  # per actor; fractions share a GPU
    data: str = "auto"  # auto, paths or bytes (see the module docstring)
    part_frames: int = 3000  # files longer than this are cut into parts (without --segments)
    retries: int = 3  # actor restarts and unit retries

    def __post_init__(self) -> None:
        if not self.address:
            raise OptionError("--ray needs an address: local, auto or HOST:PORT")
        if self.data not in RAY_DATA:
            raise OptionError(f"--ray-data must be one of {', '.join(RAY_DATA)}, got {self.data!r}")
        if self.cpus <= 0 or self.gpus < 0 or self.workers < 0:
            raise OptionError("--ray-cpus must be > 0, --ray-gpus and --ray-workers >= 0")
        if self.part_frames < 1:
            raise OptionError(f"--part-frames must be at least 1, got {self.part_frames}")


@dataclass
class FileOutcome:
    plan: FilePlan
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    done: bool = False


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise OptionError(
            "--ray needs Ray: pip install 'vsr[ray]' (the same version on every node)"
        ) from None
    return ray


def connect(address: str) -> Any:
    """Start an embedded Ray (local, bound to this machine only) or join a cluster."""
    if address == "local":
        # Keep the embedded Ray on the loopback interface (by default Ray binds to the host's
        # routable address), and send no usage statistics from a Ray that vsr started.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "token")  # Ray's default for local clusters, said quietly
    ray = import_ray()
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **kwargs)  # new, even if one runs
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"--ray {address}: cannot connect to Ray ({first})") from None
    return ray


def actor_class(ray: Any) -> Any:
    class RayWorker(Worker):
        def __init__(self, options: UpscaleConfig, threads: int, frames_hint: int) -> None:
            super().__init__(options, threads, frames_hint)
            self.node = ray.get_runtime_context().get_node_id()[:8]

        @ray.method(concurrency_group="progress")
        def progress(self) -> tuple[int, int]:
            return super().progress()

    return ray.remote(concurrency_groups={"progress": 1})(RayWorker)


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


class RayRun:
    """One driver run over planned files; `run()` returns each file's outcome, in order."""

    def __init__(
        self,
        plans: list[FilePlan],
        options: UpscaleConfig,
        ropts: RayOptions,
        *,
        progress: bool,
        echo: Callable[[str], None],
    ) -> None:
        self.plans, self.options, self.ropts, self.echo = plans, options, ropts, echo
        self.outcomes = {id(p): FileOutcome(p, error=p.error) for p in plans}
        self.work = plan_units(plans)
        self.parts_left = {id(p): sum(1 for q, _, _ in self.work if q is p) for p in plans}
        self.started: dict[int, float] = {}
        self.bar = tqdm(
            total=sum(p.frames for p in plans if not p.error) or None,
            unit="frame",
            disable=not progress,
            dynamic_ncols=True,
            desc="batch",
        )
        for plan in plans:  # parts finished by an earlier run
            if plan.parts and not plan.error:
                done = [d for d in (plan.finished(n) for n in range(len(plan.parts))) if d is not None]
                if done:
                    echo(f"vsr: {plan.input.name}: {len(done)} of {len(plan.parts)} parts already finished")
                    self.bar.update(sum(d.frames for d in done))
        for plan in plans:
            if plan.error:
                self._report(self.outcomes[id(plan)])
        self._shown: dict[int, int] = {}  # frames of each unit counted in the bar
        self._inputs: dict[str, Any] = {}  # object refs of inputs sent as bytes

    def run(self, ray: Any) -> list[FileOutcome]:
        try:
            for plan in self.plans:
                if plan.parts and self.parts_left[id(plan)] == 0:
                    self._join(plan)  # every part was finished by an earlier run
            if self.work:
                self._dispatch(ray)
        finally:
            self.bar.close()
        return [self.outcomes[id(p)] for p in self.plans]

    # -- workers --------------------------------------------------------------------------

    def _start_workers(self, ray: Any) -> tuple[list[Any], list[bool]]:
        r = self.ropts
        resources = ray.cluster_resources()
        room = int(resources.get("GPU", 0) // r.gpus) if r.gpus else int(resources.get("CPU", 0) // r.cpus)
        count = min(r.workers or room, len(self.work))
        if count < 1:
            what = f"{r.gpus} GPU" if r.gpus else f"{r.cpus} CPU"
            raise OptionError(f"the Ray cluster has no room for one worker ({what} each; it has {resources})")
        frames = sum(p.frames for p in self.plans if not p.error)
        actor = actor_class(ray).options(
            num_cpus=r.cpus, num_gpus=r.gpus, max_restarts=r.retries, max_task_retries=r.retries
        )
        threads = max(1, int(r.cpus))
        actors = [actor.remote(self.options, threads, frames // count) for _ in range(count)]
        log.info("%d unit(s) on %d Ray worker(s)", len(self.work), count)
        if r.data != "auto":
            return actors, [r.data == "paths"] * count
        out_dir = self.plans[0].output.parent
        marker = out_dir / f".vsr-ray-probe-{secrets.token_hex(4)}"
        token = secrets.token_hex(16)
        marker.write_text(token)
        try:
            inputs = list({Identity.of(p.input) for p in self.plans if not p.error})
            answers = ray.get([a.probe.remote(str(marker), token, inputs) for a in actors])
        finally:
            marker.unlink(missing_ok=True)
        for node, shared in sorted(set(answers)):
            log.info("worker node %s: %s", node, "shared files" if shared else "bytes through Ray")
        return actors, [shared for _, shared in answers]

    def _input_bytes(self, ray: Any, unit: Unit) -> Any:
        ref = self._inputs.get(unit.input.path)
        if ref is None:
            ref = self._inputs[unit.input.path] = ray.put(Path(unit.input.path).read_bytes())
        return ref

    def _dispatch(self, ray: Any) -> None:
        actors, shared = self._start_workers(ray)
        alive = [True] * len(actors)
        load = [0] * len(actors)
        queue = deque(self.work)
        inflight: dict[Any, tuple[int, tuple[FilePlan, int | None, Unit]]] = {}
        attempts: dict[int, int] = {}
        polls: dict[Any, int] = {}
        try:
            while queue or inflight:
                while queue:  # to the least loaded live worker, up to QUEUED_PER_WORKER each
                    free = [i for i in range(len(actors)) if alive[i] and load[i] < QUEUED_PER_WORKER]
                    if not free:
                        break
                    i = min(free, key=lambda k: load[k])
                    item = queue.popleft()
                    plan, _, unit = item
                    self.started.setdefault(id(plan), time.perf_counter())
                    data = None if shared[i] else self._input_bytes(ray, unit)
                    inflight[actors[i].run.remote(unit, data)] = (i, item)
                    load[i] += 1
                if not inflight:  # work left and no worker alive
                    for plan, n, unit in queue:
                        self._finish(plan, n, UnitResult(unit.id, "", error="every Ray worker died"))
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
                for ref in ready:
                    i, item = inflight.pop(ref)
                    load[i] -= 1
                    plan, n, unit = item
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayActorError as exc:  # restarts used up: lost for good
                        alive[i] = False
                        attempts[unit.id] = attempts.get(unit.id, 0) + 1
                        if attempts[unit.id] <= self.ropts.retries and any(alive):
                            queue.appendleft(item)
                            continue
                        result = UnitResult(unit.id, "", error=f"its Ray worker died ({_one_line(exc)})")
                    except ray.exceptions.RayTaskError as exc:  # a bug in the worker, not a bad file
                        result = UnitResult(unit.id, "", error=f"unexpected {_one_line(exc)}")
                    self._finish(plan, n, result)
                self._poll(ray, actors, alive, polls)
        except KeyboardInterrupt:  # the actors end with this driver's job (ray.shutdown)
            for _, (_, (plan, n, _)) in inflight.items():
                if n is None:
                    partial_path(plan.output).unlink(missing_ok=True)
            raise
        finally:
            self._inputs.clear()

    def _poll(self, ray: Any, actors: list[Any], alive: list[bool], polls: dict[Any, int]) -> None:
        """Ask each live worker (one call in flight each) how far its unit is; count it in the bar."""
        if polls:
            ready, _ = ray.wait(list(polls), num_returns=len(polls), timeout=0)
            for ref in ready:
                polls.pop(ref)
                try:
                    unit, frames = ray.get(ref)
                except ray.exceptions.RayError:
                    continue
                self._count(unit, frames)
        asked = set(polls.values())
        for i, actor in enumerate(actors):
            if alive[i] and i not in asked:
                polls[actor.progress.remote()] = i

    def _count(self, unit: int, frames: int) -> None:
        shown = self._shown.get(unit, 0)
        if unit >= 0 and frames > shown:
            self.bar.update(frames - shown)
            self._shown[unit] = frames

    # -- results ---------------------------------------------------------------------------

    def _finish(self, plan: FilePlan, n: int | None, result: UnitResult) -> None:
        outcome = self.outcomes[id(plan)]
        if not result.error:
            self._count(result.id, result.frames)
            try:
                if n is None:
                    if result.data is not None:
                        tmp = partial_path(plan.output)
                        tmp.write_bytes(result.data)
                        os.replace(tmp, plan.output)
                else:
                    assert result.segment is not None
                    plan.commit(n, result.segment, result.data)
            except OSError as exc:
                result.error = f"writing {str(plan.output)!r} failed: {exc}"
        if result.error:
            if n is None:
                partial_path(plan.output).unlink(missing_ok=True)
            outcome.error = outcome.error or result.error
        outcome.frames += result.frames
        outcome.seconds += result.seconds
        self.parts_left[id(plan)] -= 1
        if self.parts_left[id(plan)] > 0:
            return
        if outcome.error:
            self._report(outcome)
        elif n is None:
            outcome.done = True
            self._report(outcome, f"node {result.node}")
        else:
            self._join(plan)

    def _join(self, plan: FilePlan) -> None:
        outcome = self.outcomes[id(plan)]
        infos: list[SegmentInfo] = []
        for n in range(len(plan.parts)):
            info = plan.finished(n)
            if info is None:
                outcome.error = f"part {n} is missing from {str(plan.work)!r}"
                self._report(outcome)
                return
            infos.append(info)
        frames = sum(i.frames for i in infos)
        options = replace(self.options, input=plan.input, output=plan.output)
        try:
            join_parts(options, [(plan.segment(n), i.headers) for n, i in enumerate(infos)], frames)
        except (VsrError, OSError) as exc:  # this file's failure; the others go on
            outcome.error = str(exc)
            self._report(outcome)
            return
        assert plan.work is not None
        shutil.rmtree(plan.work, ignore_errors=True)
        outcome.frames, outcome.done = frames, True
        if id(plan) in self.started:
            outcome.seconds = time.perf_counter() - self.started[id(plan)]
        self._report(outcome, f"{len(plan.parts)} parts")

    def _report(self, outcome: FileOutcome, where: str = "") -> None:
        name = outcome.plan.input.name
        if outcome.error:
            self.echo(f"vsr: {name}: failed: {outcome.error}")
            return
        fps = outcome.frames / outcome.seconds if outcome.seconds > 0 else 0.0
        note = f" ({where})" if where else ""
        self.echo(f"vsr: {name}: {outcome.frames} frames, {fps:.1f} fps{note} -> {outcome.plan.output}")


def run_on_ray(
    pairs: list[tuple[Path, Path]],
    options: UpscaleConfig,
    ropts: RayOptions,
    *,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> list[FileOutcome]:
    """Upscale each (input, output) pair on a Ray cluster; one outcome per pair, in order."""
    if options.resume:
        raise OptionError("--resume and --ray cannot be combined: with --ray, finished parts are kept anyway")
    weights = weights_key(options)  # a bad --model fails here, before Ray starts
    if options.model is not None and Path(options.model).is_file():  # a weights file, not a name
        options = replace(options, model=str(Path(options.model).resolve()))
    # Absolute paths: workers run in directories of their own, on this machine or others.
    pairs = [(src.resolve(), out.resolve()) for src, out in pairs]
    plans = [plan_file(src, out, options, ropts.part_frames, weights) for src, out in pairs]
    try:
        ray = connect(ropts.address)
        try:
            return RayRun(plans, options, ropts, progress=progress, echo=echo).run(ray)
        finally:
            ray.shutdown()
    except KeyboardInterrupt:
        kept = _tidy_parts(plans)
        raise Interrupted(
            "interrupted; finished outputs are kept"
            + (f", and {kept} finished part(s) of long files" if kept else "")
            + ": run the same command again to go on"
        ) from None


def _tidy_parts(plans: list[FilePlan]) -> int:
    """After an interruption: remove half-written parts, and parts directories with nothing
    finished; return how many finished parts are kept for the next run."""
    kept = 0
    for plan in plans:
        if plan.work is None or not plan.work.exists():
            continue
        for partial in plan.work.glob(".*.partial"):
            partial.unlink(missing_ok=True)
        done = sum(plan.finished(n) is not None for n in range(len(plan.parts)))
        if done:
            kept += done
        else:
            shutil.rmtree(plan.work, ignore_errors=True)
    return kept

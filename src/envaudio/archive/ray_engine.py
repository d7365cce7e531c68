"""`analyze --engine ray`: the files sharded over Ray actors, each loading the model once.

The driver (the `envaudio analyze` process) reads each audio file and ships its bytes to
an actor, which sends back the outputs as bytes; the driver writes them, with the same
records and order as a local run (state.py): nodes need neither IN nor OUT, only
envaudio installed (`pip install 'envaudio[ray]'`), and the results, the resumability and
the errors table are those of a local run. A custom --model is shipped to the actors too;
so are the driver's settings (ENVAUDIO_* of this process), so every node analyses alike.

    ray start --head --port 6379 --num-cpus 8        # on each node: ray start --address HEAD:6379
    envaudio analyze IN --out OUT --engine ray --address auto
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections import deque

from .errors import EngineError

IN_FLIGHT_PER_ACTOR = 2  # one analysing, one queued: the actor never waits for the driver


def check_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise EngineError("--engine ray needs Ray: pip install 'envaudio[ray]'")


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """HOST:PORT must accept a connection: Ray itself retries a dead address for minutes."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except ValueError:
        raise EngineError(f"--address {address!r}: use auto or HOST:PORT") from None
    except OSError as e:
        raise EngineError(f"could not connect to Ray at {address}: nothing answers there "
                          f"({e.strerror or e}); start it with `ray start --head --port {port}`") from None


class _AnalyzerActor:
    """Lives in a Ray worker process: the model loaded once, then file after file."""

    def __init__(self, model_bytes, model_name, per_file, embeddings, threads, top_k, settings):
        from .worker import Analyzer

        path = None
        if model_bytes is not None:
            self._dir = tempfile.TemporaryDirectory(prefix="envaudio-model-")
            path = os.path.join(self._dir.name, model_name)
            with open(path, "wb") as f:
                f.write(model_bytes)
        self.analyzer = Analyzer(path, per_file, embeddings, threads, top_k, settings)

    def analyze(self, rel: str, data: bytes) -> dict:
        return self.analyzer.analyze(rel, data)

    def ready(self) -> bool:
        return True


def run_ray(jobs, workers, address, model_path, per_file, embeddings: bool, top_k: int, settings):
    """Yield each job's result as an actor finishes it (see the module's docstring)."""
    check_ray()
    import ray
    from ray.exceptions import RayActorError, RayError

    if address and address != "auto" and "://" not in address:
        check_reachable(address)
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise EngineError(f"could not connect to Ray at {address or 'a new local instance'}: "
                              f"{' '.join(str(e).split())[:300]}") from None
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = min(n, len(jobs))
        model_bytes = model_name = None
        if model_path is not None:
            with open(model_path, "rb") as f:
                model_bytes = ray.put(f.read())
            model_name = os.path.basename(model_path)
        Actor = ray.remote(num_cpus=1, max_restarts=0)(_AnalyzerActor)

        def spawn():
            return Actor.remote(model_bytes, model_name, per_file, embeddings, 1, top_k, settings)

        actors = [spawn() for _ in range(n)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except RayError as e:
            raise EngineError(f"the Ray actors could not load the model: {' '.join(str(e).split())[:300]}") from None
        todo = deque(jobs)
        load = {i: 0 for i in range(n)}
        pending: dict = {}
        while todo or pending:
            for i in range(n):
                while todo and load[i] < IN_FLIGHT_PER_ACTOR:
                    j = todo.popleft()
                    try:
                        with open(j.path, "rb") as f:
                            data = f.read()
                    except OSError as e:
                        yield {"rel": j.rel, "status": "error", "reason": str(e)}
                        continue
                    if not data:
                        yield {"rel": j.rel, "status": "error", "reason": "the file is empty"}
                        continue
                    pending[actors[i].analyze.remote(j.rel, data)] = (j, i)
                    load[i] += 1
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                j, i = pending.pop(ref)
                load[i] -= 1
                try:
                    r = ray.get(ref)
                except RayActorError:
                    r = {"rel": j.rel, "status": "error", "reason": "the Ray actor analysing it died (out of "
                         "memory? a node lost?); run again with --retry-errors to try it again"}
                    if load[i] == 0:  # its queued calls have failed too by now: a fresh actor
                        actors[i] = spawn()
                except RayError as e:
                    r = {"rel": j.rel, "status": "error", "reason": " ".join(str(e).split())[:500]}
                yield r
    finally:
        ray.shutdown()

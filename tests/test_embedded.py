"""The embedded models for real: `autan serve` as a newcomer runs it, the official SDK, restarts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psutil
import pytest
from openai.types.chat import ChatCompletionMessageParam

from autan.llm.embedded.supervisor import EmbeddedModelError, EmbeddedModels, default_chat_model
from autan.llm.settings import EmbeddedSettings
from tests.conftest import free_port

pytestmark = pytest.mark.slow


def autan(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "autan", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def wait_healthy(url: str, timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                health: dict[str, object] = response.json()
                return health
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not become healthy")


class Served:
    def __init__(self, url: str, key: str, process: subprocess.Popen[bytes]) -> None:
        self.url, self.key, self.process = url, key, process


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("embedded")
    # The suite keeps SmolLM2-135M (40 times smaller than the default Qwen2.5 1.5B, loads in
    # a second): these tests check the protocol and the supervision, not answer quality.
    env = {
        **os.environ,
        "AUTAN_DATA_DIR": str(data),
        "AUTAN_GATEWAY__HEALTH_INTERVAL": "0.5",
        "AUTAN_EMBEDDED__CHAT_MODEL": "smollm2-135m",
    }
    env.pop("AUTAN_MODELS_FILE", None)
    autan(env, "migrate")
    autan(env, "users", "create", "agent@exemple.gouv.fr")
    key = autan(env, "keys", "create", "agent@exemple.gouv.fr").strip()
    port = free_port()
    log = (data / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "autan", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield Served(url, key, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_keys_create_prints_only_the_secret(served: Served) -> None:
    assert served.key.startswith("sk-autan-") and "\n" not in served.key and " " not in served.key


def test_openai_sdk_non_streamed_and_streamed(served: Served) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key)
    models = {m.id for m in client.models.list()}
    assert models == {"smollm2-135m", "multilingual-e5-small"}
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Quelle est la capitale de la France ?"}
    ]
    answer = client.chat.completions.create(
        model="smollm2-135m",
        messages=messages,
        max_tokens=24,
        seed=1,
    )
    assert answer.choices[0].message.content and answer.model == "smollm2-135m"
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 24
    stream = client.chat.completions.create(
        model="smollm2-135m",
        messages=messages,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_openai_sdk_embeddings(served: Served) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key)
    result = client.embeddings.create(
        model="multilingual-e5-small", input=["Bonjour", "Renouveler son passeport"]
    )
    assert [len(d.embedding) for d in result.data] == [384, 384]
    norm = sum(x * x for x in result.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3


def test_openai_sdk_wrong_key(served: Served) -> None:
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="sk-autan-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        client.models.list()
    assert error.value.status_code == 401
    assert error.value.body["code"] == "invalid_api_key"  # type: ignore[index]


def test_a_killed_model_server_is_restarted(served: Served) -> None:
    server = psutil.Process(served.process.pid)
    (chat,) = [p for p in server.children() if "chat" in p.cmdline()]
    chat.kill()
    chat.wait(10)
    deadline = time.monotonic() + 60
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0)
    while True:
        try:
            answer = client.chat.completions.create(
                model="smollm2-135m",
                messages=[{"role": "user", "content": "Bonjour"}],
                max_tokens=4,
            )
            break
        except (openai.APIStatusError, openai.APIConnectionError):
            assert time.monotonic() < deadline, "the chat server was not restarted"
            time.sleep(0.5)
    assert answer.choices[0].message.content is not None
    (new_chat,) = [p for p in server.children() if "chat" in p.cmdline()]
    assert new_chat.pid != chat.pid


def test_any_gguf_file_can_be_served(tmp_path: Path) -> None:
    model = tmp_path / "mon-modele.gguf"
    shutil.copy(default_chat_model(), model)
    settings = EmbeddedSettings(
        chat_model_path=model, chat_model_id="mon-modele", embedding_enabled=False, parallel=1
    )
    embedded = EmbeddedModels(settings, tmp_path)
    config = embedded.start()
    try:
        (chat,) = config.models
        assert chat.id == "mon-modele" and chat.max_concurrent == 1
        response = httpx.post(
            f"{chat.replicas[0].url}/chat/completions",
            json={"messages": [{"role": "user", "content": "Salut"}], "max_tokens": 3},
            timeout=30,
        )
        assert response.status_code == 200
    finally:
        embedded.stop()
    assert all(
        pid is not None and not psutil.pid_exists(pid) or _zombie(pid)
        for pid in embedded.pids().values()
    )


def _zombie(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    settings = EmbeddedSettings(chat_model_path=tmp_path / "absent.gguf")
    with pytest.raises(EmbeddedModelError, match="absent.gguf"):
        EmbeddedModels(settings, tmp_path).start()

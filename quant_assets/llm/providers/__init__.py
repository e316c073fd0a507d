"""Providers chosen by settings: offline (default), openai (any compatible URL), anthropic."""

from __future__ import annotations

from typing import Any

from quant_assets.llm.providers.base import Provider, ProviderError, Reply, ToolCall

__all__ = ["Provider", "ProviderError", "Reply", "ToolCall", "make_provider"]


def make_provider(settings: Any) -> Provider:
    """The provider `QUANT_LLM_PROVIDER` names, configured from the other QUANT_LLM_* settings."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if settings.llm_provider == "openai":
        from quant_assets.llm.providers.openai_compat import OpenAICompatible

        return OpenAICompatible(settings.llm_base_url, settings.llm_model, key)
    if settings.llm_provider == "anthropic":
        from quant_assets.llm.providers.anthropic import AnthropicProvider

        return AnthropicProvider(settings.llm_base_url, settings.llm_model, key)
    from quant_assets.llm.providers.offline import OfflineProvider

    return OfflineProvider()

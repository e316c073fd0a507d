"""LLM inquiry over the platform's own data: a tool-calling conversation engine.

The model never sees raw database access. It calls typed tools (`tools.py`) that read the
warehouse through a read-only connection; SQL from the model is parsed and refused unless
it is one SELECT on allow-listed schemas (`sql_guard.py`). Providers (`providers/`) are an
OpenAI-compatible HTTP endpoint, Anthropic's Messages API, or the offline default: a small
GGUF model shipped in a PyPI package, run in-process. Conversations are stored per user
and session (`store.py`) and can be resumed. No Dagster here.
"""

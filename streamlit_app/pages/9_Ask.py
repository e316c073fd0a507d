"""Ask: a conversation with the LLM engine over the platform's own data.

Each question goes to `quant_assets.llm` (provider from QUANT_LLM_*; the offline SmolLM2
by default), which answers through typed read-only tools; the page shows every message,
every tool call with its arguments, status and result, and the sources cited. Past
conversations of this app's user are listed and can be resumed.
"""

from __future__ import annotations

import json
import uuid

import streamlit as st

from streamlit_app import ui

APP_USER = "app"

ctx = ui.setup(
    "Ask",
    ":material/forum:",
    caption="Questions about the platform's data, answered with tools that read the warehouse "
    "read-only; every answer cites its tables, asset keys and partitions.",
)
settings = ctx.settings

from quant_assets.llm.store import ConversationStore, default_conversations_url  # noqa: E402

store = ConversationStore(default_conversations_url(settings))
provider = settings.llm_provider
model = settings.llm_model or ("SmolLM2-135M-Instruct (offline)" if provider == "offline" else "?")
st.caption(
    f"Provider: **{provider}** · model: **{model}** · tool mode: {settings.llm_tool_mode} · "
    f"budget per conversation: {settings.llm_max_tokens:,} tokens, {settings.llm_max_seconds:g} s"
)

if "ask_session" not in st.session_state:
    st.session_state["ask_session"] = uuid.uuid4().hex[:12]

try:
    past = store.sessions(APP_USER)
except Exception as exc:  # the conversation store cannot be opened: say so, keep the page
    past = None
    st.warning(f"Stored conversations cannot be read: {exc}", icon=":material/warning:")

with st.sidebar:
    st.header("Conversations")
    if st.button("New conversation", icon=":material/add:"):
        st.session_state["ask_session"] = uuid.uuid4().hex[:12]
    if past is not None and len(past):
        labels = {
            r.session_id: f"{str(r.first_question)[:40]} ({r.session_id})"
            for r in past.itertuples()
        }
        chosen = st.selectbox(
            "Resume",
            ["(current)", *labels],
            format_func=lambda s: s if s == "(current)" else labels[s],
        )
        if chosen != "(current)":
            st.session_state["ask_session"] = chosen

session = st.session_state["ask_session"]
st.caption(f"Session `{session}`")


def show_history() -> None:
    rows = store.load(APP_USER, session)
    for r in rows.itertuples():
        if r.role == "user":
            with st.chat_message("user"):
                st.markdown(r.content)
        elif r.role == "tool":
            label = f"Tool call: {r.tool_name} {r.tool_args or ''} → {r.status}"
            with st.expander(label, icon=":material/build:"):
                try:
                    st.json(json.loads(r.content))
                except ValueError:
                    st.code(r.content)
        else:
            with st.chat_message("assistant"):
                if r.status != "ok":
                    st.warning(f"status: {r.status}", icon=":material/warning:")
                st.markdown(r.content)


question = st.chat_input("Ask about prices, recommendations, scenarios, backtests, models…")
if question:
    from quant_assets.llm.engine import engine_from_settings

    try:
        engine = engine_from_settings(settings)
    except Exception as exc:
        st.error(f"The LLM engine cannot start: {exc}", icon=":material/error:")
        st.stop()
    try:
        with st.spinner("Thinking…"):
            engine.ask(question, user_id=APP_USER, session_id=session)
    finally:
        engine.ctx.wh.close()

show_history()

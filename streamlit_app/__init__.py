"""The Streamlit analytics app: reads the warehouse read-only, never writes.

`Home.py` is the Overview page and the entry point (`bash scripts/app.sh`); `pages/` holds
the other pages; `data` is the only module that talks to the warehouse.
"""

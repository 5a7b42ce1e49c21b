"""The dashboard's pages: one script per page, each registered by `st.navigation` in app.py, and
nothing else: what several pages share (cached loaders, the selection, widgets, views) lives in explorer/views/.

Each page file defines `render()` and runs it when Streamlit executes the file; importing a page
module (e.g. from tests) runs nothing. Pages import streamlit, pandas and plotly.graph_objects only,
never torch: the dashboard must start fast and work without a GPU stack.
"""

"""Streamlit views the pages share: cached loaders, the selected model, common widgets, the model card, and the
larger views of evaluations and runs (eval_views, tide_views, keypoint_views, confusion_view, run_resources).

Pages live in explorer/pages/ (one file per page, registered by app.py's st.navigation); what several pages draw or
cache lives here, in modules that import streamlit but never torch at import time.
"""

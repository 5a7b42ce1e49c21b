"""Detectron Zoo Explorer: the Streamlit entry point. It declares the pages and runs the chosen one.

Run with `streamlit run app.py` (or `streamlit run /path/to/app.py` from any folder: the pages are found beside
this file, not in the current directory). Page logic lives in `explorer/pages/`. Each page's URL path is its file
name (`/speed_accuracy`, `/model_card?model=35861858`), so links and `AppTest.switch_page` agree.
"""

from pathlib import Path

import streamlit as st

from explorer.engine.openmp import prefer_sleeping_threads

prefer_sleeping_threads()  # before any page imports torch: the model run shares the cores with the server
PAGES_DIR = Path(__file__).resolve().parent / "explorer" / "pages"

st.set_page_config(page_title="Detectron Zoo Explorer", page_icon=":material/view_in_ar:", layout="wide")

PAGES = [
    st.Page(PAGES_DIR / "zoo_tables.py", title="Zoo tables", icon=":material/table_view:", default=True),
    st.Page(PAGES_DIR / "speed_accuracy.py", title="Speed vs accuracy", icon=":material/scatter_plot:"),
    st.Page(PAGES_DIR / "pick_model.py", title="Pick a model", icon=":material/recommend:"),
    st.Page(PAGES_DIR / "schedules.py", title="Schedules & backbones", icon=":material/schedule:"),
    st.Page(PAGES_DIR / "model_card.py", title="Model card", icon=":material/badge:"),
    st.Page(PAGES_DIR / "detections.py", title="Detections", icon=":material/center_focus_strong:"),
    st.Page(PAGES_DIR / "time_here.py", title="Time on this machine", icon=":material/timer:"),
    st.Page(PAGES_DIR / "evaluation.py", title="Evaluation", icon=":material/analytics:"),
    st.Page(PAGES_DIR / "sweeps.py", title="Sweeps", icon=":material/dynamic_feed:"),
]

st.navigation(PAGES).run()

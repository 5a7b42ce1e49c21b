"""Detectron Zoo Explorer: the Streamlit entry point. It declares the pages and runs the chosen one.

Run with `streamlit run app.py`. Page logic lives in `explorer/pages/`. Each page's URL path is its file
name (`/speed_accuracy`, `/model_card?model=35861858`), so links and `AppTest.switch_page` agree.
"""

import streamlit as st

st.set_page_config(page_title="Detectron Zoo Explorer", page_icon=":material/view_in_ar:", layout="wide")

PAGES = [
    st.Page("explorer/pages/zoo_tables.py", title="Zoo tables", icon=":material/table_view:", default=True),
    st.Page("explorer/pages/speed_accuracy.py", title="Speed vs accuracy", icon=":material/scatter_plot:"),
    st.Page("explorer/pages/pick_model.py", title="Pick a model", icon=":material/recommend:"),
    st.Page("explorer/pages/schedules.py", title="Schedules & backbones", icon=":material/schedule:"),
    st.Page("explorer/pages/model_card.py", title="Model card", icon=":material/badge:"),
    st.Page("explorer/pages/detections.py", title="Detections", icon=":material/center_focus_strong:"),
    st.Page("explorer/pages/time_here.py", title="Time on this machine", icon=":material/timer:"),
    st.Page("explorer/pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
    st.Page("explorer/pages/sweeps.py", title="Sweeps", icon=":material/dynamic_feed:"),
]

st.navigation(PAGES).run()

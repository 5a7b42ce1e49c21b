"""Figures: pure functions from a DataFrame or a result object to a `plotly.graph_objects.Figure`, one module per
subject (zoo, evaluation, TIDE, keypoints, sweep). No Streamlit, no torch."""

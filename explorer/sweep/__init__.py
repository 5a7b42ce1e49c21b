"""`explorer sweep`: run many zoo models over an image folder on Ray Data, then evaluate and summarise.

Only `run.py` imports Ray (and `stages.py` runs inside it), and only when a sweep runs: Ray is an optional
extra (`requirements-sweep.txt`), so the app, the Sweeps page, `summary.py` and `figures.py` work without it.
"""

"""`explorer sweep`: run many zoo models over an image folder on a Ray cluster, then evaluate and summarise.

Only `run.py` and `actors.py` import Ray, and only when a sweep runs: Ray is an optional extra
(`requirements-sweep.txt`), so the app, the Sweeps page and `summary.py` work without it.
"""

"""How the server's OpenMP threads wait between parallel regions: asleep, not spinning.

torch's CPU kernels run on libgomp's threads, which by default spin for a while after each parallel region
before they sleep. A command-line run has the cores to itself and gains a little from that. In the Streamlit
server the model run shares two cores with script threads, the event loop and the browsers' sessions: an
idle OpenMP thread spinning on one core leaves the Python threads (including the model run's own glue
between ops, which needs the GIL) one core to fight over. On the shared machine, a FasterRCNN MobileNetV3 320
forward beside one busy Python thread took 1.70 s spinning and 0.47 s with OMP_WAIT_POLICY=PASSIVE, and
burned 0.59 s of CPU against 0.18 s alone (bench/bench_omp_wait.py; bench/README.md, "Six real browser
sessions").

libgomp reads its environment once, when torch loads it, so the policy must be set before the first
`import torch` of the process; app.py does so. A value the user set is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

WAIT_POLICY = "OMP_WAIT_POLICY"


def prefer_sleeping_threads(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Ask OpenMP to let idle threads sleep (unless the user chose a policy); True when it will take effect,
    False once torch is loaded (libgomp has read its environment then)."""
    if "torch" in sys.modules:
        return False
    environ.setdefault(WAIT_POLICY, "PASSIVE")
    return True

"""An evaluation worker process (started by parallel.WorkerPool; `python -m explorer.evaluation.coco.worker` works too).

Reads one pickled Block on stdin (written by its parent, which built it from input it had checked), evaluates it
and writes the arrays back on stdout as .npz, or `ER` and a JSON error. Its file descriptor 1 is pointed at
/dev/null first, so nothing an evaluator prints (pycocotools' print(), C code's printf) can corrupt the reply.
"""

from __future__ import annotations

import json
import os
import pickle
import sys


def main() -> None:
    from explorer.evaluation.coco import parallel
    parallel.warm_up()  # imports while the parent still checks the input
    reply = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    block = pickle.load(sys.stdin.buffer)  # from our parent process only; read as it streams in
    try:
        arrays = parallel.evaluate_block(block)
    except Exception as error:  # every failure goes back to the parent, which raises it
        reply.write(b"ER" + json.dumps({"type": type(error).__name__, "message": str(error)}).encode())
        reply.close()
        sys.exit(1)
    parallel.write_reply(reply, arrays)
    reply.close()


if __name__ == "__main__":
    main()

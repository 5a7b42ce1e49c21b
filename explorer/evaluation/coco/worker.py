"""An evaluation worker process (started by parallel.WorkerPool as `python -m explorer.evaluation.coco.worker`).

Reads one Block on stdin as it arrives (written by its parent, which built it from input it had checked; read
with `parallel.BlockUnpickler`, which refuses every global but numpy's scalar rebuilders, so reading cannot run
code), does its task and writes the arrays back on stdout as .npz, or `ER` and a JSON error.
Its file descriptor 1 is pointed at /dev/null first, so nothing an evaluator prints (pycocotools'
print(), C code's printf) can corrupt the reply or reach anyone's terminal.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    from explorer.evaluation.coco import parallel
    parallel.warm_up()  # imports while the parent still checks the input
    reply = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        fields = parallel.evaluate_block(parallel.decode_block(sys.stdin.buffer))
    except Exception as error:  # every failure goes back to the parent, which raises it
        reply.write(b"ER" + json.dumps({"type": type(error).__name__, "message": str(error)}).encode())
        reply.close()
        sys.exit(1)
    parallel.write_reply(reply, fields)
    reply.close()


if __name__ == "__main__":
    main()

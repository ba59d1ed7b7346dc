"""A child process that writes one planned build and can be killed while it does.

argv: ROOT FILES_JSON KILL_AFTER. FILES_JSON holds the generated files and the
.gitattributes patterns. With KILL_AFTER >= 0 the process SIGKILLs itself once
KILL_AFTER renames are done, at the next one (the journal's commit is the
first: 0 dies before it); with `ready` it prints `ready` before writing, for
the parent to kill it at a random instant.
"""

import json
import os
import signal
import sys
from pathlib import Path

from meshgen.build import pipeline, swap, writer
from meshgen.targets.files import GeneratedFile

root, files_json = Path(sys.argv[1]), Path(sys.argv[2])
kill_after = -1 if sys.argv[3] == "ready" else int(sys.argv[3])
given = json.loads(files_json.read_text(encoding="utf-8"))
files = [GeneratedFile(path, text) for path, text in given["files"]]
real_replace = os.replace
renames = 0


def replace_then_maybe_die(source, target):
    global renames
    if renames == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)
    renames += 1


os.replace = replace_then_maybe_die
with swap.locked(root):
    swap.recover(root)
    plan = writer.plan(root, files, given["patterns"])
    if kill_after < 0:
        print("ready", flush=True)
    writer.apply(plan)
print(f"renames {renames}", flush=True)

"""Stands in for targets.nvidia.precompile_child where loading an AOTInductor package crashes the process (as on
the lent H200, docs/nvidia.md): it dies by SIGSEGV (or the signal CRASH_SIGNAL names) when asked for a package,
and compiles as the real child otherwise."""
import json
import os
import signal
import sys

from targets.nvidia import precompile_child

if __name__ == "__main__":
    if json.loads(sys.argv[1]).get("saved_graph") == "aoti":
        os.kill(os.getpid(), getattr(signal, os.environ.get("CRASH_SIGNAL", "SIGSEGV")))
    sys.exit(precompile_child.main(sys.argv[1:]))

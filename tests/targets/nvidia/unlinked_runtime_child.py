"""Stands in for targets.nvidia.precompile_child under a torch that cannot name libraries for a package to link
(no aot_inductor.custom_op_libs): the real child, with the shared libstdc++ left out of the link."""
import sys

from targets.nvidia import cxx_runtime, precompile_child

if __name__ == "__main__":
    cxx_runtime.link_settings = lambda torch, settings: {}
    sys.exit(precompile_child.main(sys.argv[1:]))

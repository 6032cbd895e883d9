import sys

from harness.cli import main_wrapper
from postprocess.cli import parse_args
from postprocess.run import run

sys.exit(main_wrapper(parse_args, run))

import sys

from harness.cli import main_wrapper
from infer.cli import parse_args
from infer.run import run

sys.exit(main_wrapper(parse_args, run))

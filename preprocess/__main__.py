import sys

from harness.cli import main_wrapper
from preprocess.cli import parse_args
from preprocess.run import run

sys.exit(main_wrapper(parse_args, run))

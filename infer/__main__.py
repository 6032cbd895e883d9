import sys

from harness.cli import main_wrapper
from infer.cli import parse_args
from infer.guard import guarded_run

sys.exit(main_wrapper(parse_args, guarded_run))

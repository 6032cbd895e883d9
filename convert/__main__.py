import sys

from convert.cli import parse_args
from convert.run import run
from harness.cli import main_wrapper


def main(argv=None) -> int:
    return main_wrapper(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())

import sys

from harness.bytecode import keep_bytecode


def main(argv=None) -> int:
    keep_bytecode()  # first: where the image keeps no bytecode, the imports below read it from the stages' cache
    from convert.cli import parse_args
    from convert.run import run
    from harness.cli import main_wrapper

    return main_wrapper(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())

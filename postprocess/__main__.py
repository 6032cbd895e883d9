import sys

from harness.bytecode import keep_bytecode


def main(argv=None) -> int:
    keep_bytecode()  # first: where the image keeps no bytecode, the imports below read it from the stages' cache
    from harness.cli import main_wrapper
    from postprocess.cli import parse_args
    from postprocess.run import run

    return main_wrapper(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())

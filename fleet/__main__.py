import sys

from harness.bytecode import keep_bytecode


def main(argv=None) -> int:
    keep_bytecode()  # first: where the image keeps no bytecode, the imports below read it from the stages' cache
    from fleet.cli import main as fleet_main

    return fleet_main(argv)


if __name__ == "__main__":
    sys.exit(main())

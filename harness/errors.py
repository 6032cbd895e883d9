"""One error hierarchy. Every CLI turns these into one line on stderr and a non-zero exit."""


class HarnessError(Exception):
    """A failure the user can act on; the message says what failed and what to do."""

    exit_code = 2


class InputError(HarnessError):
    """Bad input: a file, directory or argument that cannot be used as given."""

    exit_code = 3


class ContractError(HarnessError):
    """What a stage reads does not match what it expects (shape, dtype, layout, format)."""

    exit_code = 4


class MissingDependencyError(HarnessError):
    """An optional package or tool is not installed."""

    exit_code = 5

    def __init__(self, package: str, how: str, why: str = ""):
        detail = f" ({why})" if why else ""
        super().__init__(f"{package} is not available{detail}; install it: {how}")
        self.package = package


class ToolError(HarnessError):
    """An external tool (atc, npu-smi, trtexec) failed."""

    exit_code = 6


class TargetError(HarnessError):
    """A target could not build or run an artifact."""

    exit_code = 7


class DiskFullError(HarnessError):
    """The file system ran out of space (or quota) while a file was written."""

    exit_code = 9


class BusyError(HarnessError):
    """Another live run holds the output directory."""

    exit_code = 10

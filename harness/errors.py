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


class WorkerLost(TargetError):
    """A worker process of this run ended without answering (killed, crashed, or interrupted with the run)."""


class DeviceOutOfMemory(TargetError):
    """A batch's buffers do not fit in the device's memory; a sweep records the row and goes on."""

    exit_code = 8
    MIB = 1 << 20

    def __init__(self, batch: int, needed_bytes: int | None = None, available_bytes: int | None = None,
                 detail: str = ""):
        self.batch, self.needed_bytes, self.available_bytes = batch, needed_bytes, available_bytes
        known = [f"{label} {value / self.MIB:,.1f} MiB" for label, value in
                 (("needs", needed_bytes), ("available", available_bytes)) if value is not None]
        facts = f" ({', '.join(known)})" if known else ""
        more = f"; {detail}" if detail else ""
        super().__init__(f"batch {batch} does not fit in device memory{facts}{more}; use a smaller --batchsize")

    def record(self) -> dict:
        return {"batch_size": self.batch, "needed_bytes": self.needed_bytes, "available_bytes": self.available_bytes,
                "message": str(self)}


class DiskFullError(HarnessError):
    """The file system ran out of space (or quota) while a file was written."""

    exit_code = 9


class BusyError(HarnessError):
    """Another live run holds the output directory."""

    exit_code = 10


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a batch scheduler) as Ctrl-C: the same clean-up on the way out, its own line."""

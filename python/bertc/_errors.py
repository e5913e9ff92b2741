"""The exceptions bertc raises: one class per runtime status code."""

from __future__ import annotations


class Error(Exception):
    """A bertc call failed; the message is the runtime's (it names the file or input)."""

    code: int = 0
    code_name: str = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(Error, ValueError):
    """A caller passed a bad value (an input, an option)."""

    code, code_name = 1, "INVALID_ARGUMENT"


class NotFoundError(Error, LookupError):
    """A file, tensor, output or key is missing."""

    code, code_name = 2, "NOT_FOUND"


class IOError_(Error, OSError):
    """Opening, reading, writing or mapping a file failed."""

    code, code_name = 3, "IO"


class DataError(Error):
    """A file's contents are malformed."""

    code, code_name = 4, "DATA"


class UnsupportedError(Error):
    """Valid, but bertc does not support it (an architecture, a task, an option)."""

    code, code_name = 5, "UNSUPPORTED"


class OutOfMemoryError(Error, MemoryError):
    code, code_name = 6, "OUT_OF_MEMORY"


class InternalError(Error):
    """A bug in bertc."""

    code, code_name = 7, "INTERNAL"


class IncompatibleError(Error):
    """A model .so that this runtime or this CPU cannot run (ABI version, CPU features,
    weights hash)."""

    code, code_name = 8, "INCOMPATIBLE"


class CompilerUnavailableError(Error):
    """bertc.compile was called where the compiler library (and LLVM) cannot be loaded."""

    code_name = "COMPILER_UNAVAILABLE"


_BY_CODE: dict[int, type[Error]] = {
    c.code: c
    for c in (InvalidArgumentError, NotFoundError, IOError_, DataError, UnsupportedError,
              OutOfMemoryError, InternalError, IncompatibleError)
}


def error_for(code: int, message: str) -> Error:
    """The exception of a runtime status code."""
    return _BY_CODE.get(code, Error)(message)

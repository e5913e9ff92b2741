"""bertc from Python: run compiled BERT-family models (and compile them).

    import bertc
    bertc.compile("all-MiniLM-L6-v2/", "minilm.so")        # needs LLVM 19
    model = bertc.Model("minilm.so")
    emb = model.encode(["A man is eating food.", "A man rides a horse."])

Model.encode follows SentenceTransformer.encode, Model(...) answers like the
HuggingFace pipelines, Model.predict / Model.rerank like a CrossEncoder. Errors
are bertc.Error subclasses carrying the runtime's message.
"""

from ._compile import compile
from ._errors import (
    CompilerUnavailableError,
    DataError,
    Error,
    IncompatibleError,
    InternalError,
    InvalidArgumentError,
    IOError_,
    NotFoundError,
    OutOfMemoryError,
    UnsupportedError,
)
from ._model import Model

__version__ = "0.1.0"

__all__ = [
    "compile",
    "Model",
    "Error",
    "InvalidArgumentError",
    "NotFoundError",
    "IOError_",
    "DataError",
    "UnsupportedError",
    "OutOfMemoryError",
    "InternalError",
    "IncompatibleError",
    "CompilerUnavailableError",
    "__version__",
]

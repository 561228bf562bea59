"""The one exception tree of storehouse; every class carries its HTTP ``status`` and its ``code``.

::

    StorehouseError          500 internal              the root; library users catch this
    ├── InvalidRequest       400 invalid_request       a request that cannot be carried out as written
    │   ├── InvalidId        400 invalid_id            an id that is not 1-128 of ``A-Za-z0-9._-``
    │   ├── InvalidParameter 400 invalid_parameter     a query parameter out of range or malformed
    │   ├── InvalidBody      400 invalid_body          a body that is not JSON, or does not validate
    │   ├── MethodNotAllowed 405 method_not_allowed    the route exists, the method does not (see ``Allow``)
    │   └── UnsupportedMediaType 415 unsupported_media_type  a body that is not declared as JSON
    ├── Unauthorized         401 unauthorized          a token is configured and the request lacks it
    ├── Forbidden            403 forbidden             the ``Host`` header is not an allowed name
    ├── NotFound             404 not_found             the execution (or other resource) does not exist
    ├── Conflict             409 conflict              the write contradicts what is stored (creating an existing id)
    ├── PreconditionFailed   412 precondition_failed   ``If-Match`` names a version that is no longer current
    ├── PayloadTooLarge      413 payload_too_large     the body is over the configured limit
    ├── ServiceUnavailable   503 unavailable           a limit of the server is reached; retry after ``Retry-After``
    └── StorageError         500 storage_error         an I/O error; nothing was changed
        └── StorageFull      507 storage_full          ENOSPC or EDQUOT; nothing was changed

The HTTP layer maps the tree in one handler (``storehouse.http.app``), the CLI in one ``except``
(``storehouse.cli.main``), and the client maps ``code`` back to the class, so a caller catches the same
class whether it talks to the library or to a server.
"""

from __future__ import annotations


class StorehouseError(Exception):
    """Base of every error storehouse raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}  # more fields of the JSON error (a 409's "allowed" or "cycle")


class InvalidRequest(StorehouseError):
    """The request cannot be carried out as written; nothing was changed."""

    status = 400
    code = "invalid_request"


class InvalidId(InvalidRequest):
    """An id is not 1-128 characters of ``A-Z a-z 0-9 . _ -`` or starts with ``.`` or ``-``."""

    code = "invalid_id"


class InvalidParameter(InvalidRequest):
    """A query parameter is malformed or out of range; the message names it."""

    code = "invalid_parameter"


class InvalidBody(InvalidRequest):
    """The body is not JSON, is nested too deeply, or does not validate; the message names the field."""

    code = "invalid_body"


class MethodNotAllowed(InvalidRequest):
    """The path exists but does not take this method; the response's ``Allow`` header lists the ones it takes."""

    status = 405
    code = "method_not_allowed"


class UnsupportedMediaType(InvalidRequest):
    """A body was not sent as JSON (``Content-Type: application/json``).

    Refusing other types also refuses the "simple" cross-site requests a web page can send without a
    CORS preflight (``text/plain``, forms), so no page in a browser can write to a local server.
    """

    status = 415
    code = "unsupported_media_type"


class Unauthorized(StorehouseError):
    """A token is configured and the request did not carry it as ``Authorization: Bearer``."""

    status = 401
    code = "unauthorized"


class Forbidden(StorehouseError):
    """The ``Host`` header is not an allowed name (protection against DNS rebinding)."""

    status = 403
    code = "forbidden"


class NotFound(StorehouseError):
    """The resource does not exist (or its file cannot be read as one)."""

    status = 404
    code = "not_found"


class Conflict(StorehouseError):
    """The write contradicts what is stored, such as creating an id that exists."""

    status = 409
    code = "conflict"


class PreconditionFailed(StorehouseError):
    """``If-Match`` named a version that is not the stored one; nothing was changed."""

    status = 412
    code = "precondition_failed"


class PayloadTooLarge(StorehouseError):
    """The request body is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class ServiceUnavailable(StorehouseError):
    """A limit of the server is reached for now (connections, event streams, body bytes in flight); nothing was
    changed. The answer carries ``Retry-After: retry_after`` (seconds)."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, details: dict[str, object] | None = None, retry_after: int = 1) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class StorageError(StorehouseError):
    """The file system refused a read or write; the stored files are as they were before the call."""

    status = 500
    code = "storage_error"


class StorageFull(StorageError):
    """The disk or quota is full (ENOSPC, EDQUOT); the stored files are as they were before the call."""

    status = 507
    code = "storage_full"


ALL_ERRORS: tuple[type[StorehouseError], ...] = (
    StorehouseError,
    InvalidRequest,
    InvalidId,
    InvalidParameter,
    InvalidBody,
    MethodNotAllowed,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    ServiceUnavailable,
    StorageError,
    StorageFull,
)

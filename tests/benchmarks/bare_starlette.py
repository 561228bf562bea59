"""The HTTP ceiling of this stack: Starlette on uvicorn returning a pre-encoded body of a given size.

python tests/benchmarks/bare_starlette.py PORT BODY_BYTES
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"executions":[' + b"x" * max(0, int(sys.argv[2]) - 30) + b'],"total":1}'


async def page(_: Request) -> Response:
    return Response(BODY, media_type="application/json")


if __name__ == "__main__":
    app = Starlette(routes=[Route("/", page)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

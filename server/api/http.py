"""What every API module reads requests and writes answers with: the capped JSON body and downloads (paging
parameters are the models' Limit and Offset, server/api/fields.py).

Refusals are the domain errors of server/errors.py; the app's json_errors middleware turns them into JSON.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.errors import Invalid

# A request body is a few fields; anything bigger is refused before it is parsed.
MAX_JSON_BODY = 64 * 1024


async def json_body(request: web.Request, max_bytes: int = MAX_JSON_BODY) -> dict[str, Any]:
    """The request's JSON object, refused (400) when larger than `max_bytes`, not JSON, or not an object."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise Invalid(f"the body is {request.content_length} bytes, at most {max_bytes}")
    raw = await request.read()  # bounded by the app's client_max_size; cached (server/text.py read it already)
    if len(raw) > max_bytes:
        raise Invalid(f"the body is larger than {max_bytes} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Invalid(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def download(body: bytes, filename: str, content_type: str) -> web.Response:
    response = web.Response(body=body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.content_type = content_type.split(";")[0]
    if "charset" in content_type:
        response.charset = "utf-8"
    return response

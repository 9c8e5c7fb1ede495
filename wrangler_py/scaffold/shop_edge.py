"""An edge handler: runs at the edge before the cache, on the paths wrangler.toml gives it.

Return `Respond(...)`, `Redirect(...)`, `Rewrite(path=...)`, or None to let the request go on.
"""

from __future__ import annotations

import json

from edge import EdgeContext, EdgeRequest, Respond


async def handler(request: EdgeRequest, ctx: EdgeContext) -> Respond | None:
    if request.path != "/hello":
        return None
    visits = int(await ctx.kv.get("hello-visits") or 0) + 1
    await ctx.kv.put("hello-visits", str(visits))
    body = {
        "hello": "from the edge",
        "country": request.geo.country,
        "market": request.market,
        "segment": request.segment,
        "experiments": dict(request.variant),
        "visits": visits,
    }
    return Respond(200, json.dumps(body), content_type="application/json")

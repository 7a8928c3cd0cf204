"""Security headers on every response: the content security policy, nosniff, frame denial...

One pure-ASGI middleware, outermost of ours, so the guard's early refusals get them too.
A header the app already set (a route's own) is left as it is.
"""

from __future__ import annotations

from markovlens.api.asgi import ASGIApp, Message, Receive, Scope, Send

# Only our own origin: scripts, styles, fonts, fetches. Plotly's "download PNG" builds data:/blob:
# images; nothing else needs more. frame-ancestors 'none' forbids embedding (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# /docs and /redoc (api/apidocs.py) are Swagger UI and ReDoc served from packaged files, started
# by an inline script. They render the OpenAPI schema only (no stored user strings), so they alone
# get the inline script (and ReDoc's blob: worker); nothing is loaded from another origin.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the headers above to every HTTP response (the docs pages get their own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        common = [
            (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
        ]
        # Encoded once: every response gets one of these two lists (docs pages, or the rest).
        self.headers = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *common]
        self.docs_headers = [
            (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()),
            *common,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = self.docs_headers if path.startswith(DOCS_PATHS) else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

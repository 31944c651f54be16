"""The HTTP client of the services' public APIs, as the signed-in workspace (its API key).

The console's only I/O: every page is built from these calls."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from services.console.settings import ConsoleSettings

Service = Literal["ingest", "scoring", "nurture", "reporting"]


class ApiError(Exception):
    """A service answered 4xx/5xx: its status and `detail` (a string, or FastAPI's list of
    validation problems)."""

    def __init__(self, service: str, status: int, detail: Any) -> None:
        super().__init__(f"{service} answered {status}: {detail}")
        self.service = service
        self.status = status
        self.detail = detail

    @property
    def message(self) -> str:
        if isinstance(self.detail, str):
            return self.detail
        if isinstance(self.detail, list):
            return "; ".join(
                str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in self.detail
            )
        return str(self.detail)


class Unreachable(Exception):
    """A service did not answer at all (down, or a wrong CONSOLE_*_URL)."""

    def __init__(self, service: str, url: str, reason: str) -> None:
        super().__init__(f"{service} at {url} did not answer: {reason}")
        self.service = service
        self.url = url


class Api:
    """One request's view of the services, as the workspace whose key it holds."""

    def __init__(self, http: httpx.AsyncClient, settings: ConsoleSettings, key: str) -> None:
        self.http = http
        self.settings = settings
        self.key = key

    async def raw(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        base = self.settings.base_url(service)
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method,
                base + path,
                params=clean,
                json=json,
                headers={"Authorization": f"Bearer {self.key}"},
            )
        except httpx.TransportError as exc:
            raise Unreachable(service, base, repr(exc)) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(service, response.status_code, detail)
        return response

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self.raw(service, method, path, params=params, json=json)
        return response.json() if response.content else None

    async def get(self, service: Service, path: str, **params: Any) -> Any:
        return await self.call(service, "GET", path, params=params)

    def with_key(self, key: str) -> Api:
        """The same services, as the holder of another key (e.g. a key just rotated)."""
        return Api(self.http, self.settings, key)

    async def workspace_name(self) -> str:
        """The workspace's name if ingest takes the key as an API key (ApiError otherwise)."""
        found = await self.get("ingest", "/v1/workspace")
        return str(found["name"])

    async def preview_template(self, body: dict[str, Any]) -> Any:
        """A draft template rendered by nurture (its sandbox and context) for a lead's facts:
        {subject, html, text}; ApiError 422 lists the template's problems."""
        return await self.call("nurture", "POST", "/v1/templates/preview", json=body)

    async def sequence_names(self) -> dict[str, str]:
        """Sequence id -> name, from nurture (nothing when nurture cannot say: ids are shown)."""
        try:
            return {s["id"]: s["name"] for s in await self.get("nurture", "/v1/sequences")}
        except (ApiError, Unreachable):
            return {}


SERVICES: tuple[Service, ...] = ("ingest", "scoring", "nurture", "reporting")


async def health(http: httpx.AsyncClient, settings: ConsoleSettings, service: Service) -> str:
    """ "ok" when the service answers /healthz with 200; else its status or why not."""
    try:
        answer = await http.get(settings.base_url(service) + "/healthz", timeout=2)
    except httpx.TransportError as exc:
        return f"unavailable: {exc!r}"
    return "ok" if answer.status_code == 200 else f"{answer.status_code}"

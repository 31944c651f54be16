"""Calls to the other services' APIs with the signed-in workspace's API key."""

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

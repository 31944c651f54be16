"""Typed FastAPI dependencies for every service's routes: the runtime, a unit of work, a
read-only session and the calling workspace, instead of untyped `request.app.state` reads.

A route declares what it needs (`uow: Uow`, `workspace: Workspace`) and never opens a session
itself. `Uow` is entered around the route function and commits before the response is sent
(scope "function"), so a client never sees 2xx for a write that did not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import api_workspace
from shared.db import UnitOfWork
from shared.runtime import ServiceRuntime
from shared.web import get_runtime
from shared.workspaces import WorkspaceInfo

T = TypeVar("T")


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_uow(runtime: Runtime) -> AsyncIterator[UnitOfWork]:
    """One transaction for the request: committed when the route returns, rolled back if it
    raises (an HTTPException included)."""
    async with runtime.uow() as uow:
        yield uow


async def get_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A session for reads (nothing is committed)."""
    async with runtime.sessions() as session:
        yield session


Uow = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
Workspace = Annotated[WorkspaceInfo, Depends(api_workspace)]


def app_state(name: str, kind: type[T]) -> Callable[[Request], T]:
    """A dependency returning what the service's lifespan put on `app.state.<name>`, checked
    to be a `kind` (e.g. scoring's live models): typed for the route, one place to look."""

    def get(request: Request) -> T:
        value: Any = getattr(request.app.state, name)
        if not isinstance(value, kind):
            raise TypeError(f"app.state.{name} is {type(value).__name__}, not {kind.__name__}")
        return value

    get.__name__ = f"get_{name}"
    return get

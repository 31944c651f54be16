"""Typed dependencies of nurture's routes (besides shared.deps' Uow, Session, Workspace)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.nurture.settings import NurtureSettings
from shared.deps import Runtime, app_state

Settings = Annotated[NurtureSettings, Depends(app_state("settings", NurtureSettings))]


def get_email_topic(runtime: Runtime) -> str:
    return str(runtime.topics.email_events)


EmailTopic = Annotated[str, Depends(get_email_topic)]
"""The topic nurture's own events (email.*, enrollment.*) go to."""

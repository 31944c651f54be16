"""Nurture's HTTP API (secret API key), one module per resource; ``router`` has them all.

The recipients' unsubscribe pages (no key: the signed token is the proof) are
``unsubscribe.unsubscribe_router``, which main.py adds on its own.
"""

from fastapi import APIRouter

from services.nurture.api import config, enrollments, sequences, suppressions, templates

router = APIRouter()
for _module in (templates, sequences, enrollments, suppressions, config):
    router.include_router(_module.router)

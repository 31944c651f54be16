"""HTTP routes of the scoring service (secret API key), one module per resource: parse,
call, answer. The work is in store/ (reads and writes) and domain/ (the rules)."""

from fastapi import APIRouter

from services.scoring.api import config, leads, lifecycle, models

router = APIRouter(prefix="/v1")
router.include_router(leads.router)
router.include_router(lifecycle.router)
router.include_router(config.router)
router.include_router(models.router)
router.include_router(leads.conflicts_router)

__all__ = ["router"]

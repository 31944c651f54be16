"""The services this distribution contains, for the CLI and the launchers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.console.settings import ConsoleSettings
from services.ingest.settings import IngestSettings
from services.nurture.settings import NurtureSettings
from services.reporting.settings import ReportingSettings
from services.scoring.settings import ScoringSettings
from shared.settings import BaseServiceSettings

HERE = Path(__file__).parent


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    settings: type[BaseServiceSettings]
    uses_database: bool = True  # the console keeps no state: no schema, no migrations

    @property
    def migrations(self) -> Path:
        return HERE / self.name / "migrations"

    @property
    def app_factory(self) -> str:
        return f"services.{self.name}.main:create_app"


SERVICES: dict[str, ServiceInfo] = {
    info.name: info
    for info in (
        ServiceInfo("ingest", IngestSettings),
        ServiceInfo("scoring", ScoringSettings),
        ServiceInfo("nurture", NurtureSettings),
        ServiceInfo("reporting", ReportingSettings),
        ServiceInfo("console", ConsoleSettings, uses_database=False),
    )
}

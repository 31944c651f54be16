import pytest
from pydantic import ValidationError

from services.ingest.settings import IngestSettings
from services.nurture.settings import NurtureSettings


def test_defaults_work_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "INGEST_PORT", "LEADFLOW_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = IngestSettings()
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka_bootstrap_servers == "127.0.0.1:59092"
    assert settings.port == 8001
    assert settings.db_schema == "ingest"
    assert settings.consumer_group == "leadflow.ingest"


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@db:5432/x")
    monkeypatch.setenv("NURTURE_PORT", "9003")
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "12")
    settings = NurtureSettings()
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/x"
    assert settings.port == 9003
    assert settings.topic_partitions == 12


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="LEADFLOW_SECRET_KEY must be set"):
        IngestSettings(environment="production")
    assert IngestSettings(environment="production", secret_key="s3cret").port == 8001


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="topic_partitions"):
        IngestSettings(topic_partitions=0)

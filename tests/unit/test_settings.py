import pytest
from pydantic import ValidationError

from services.console.settings import ConsoleSettings
from services.ingest.settings import IngestSettings
from services.nurture.settings import NurtureSettings
from shared.settings import DEV_SECRET, is_loopback, secret_problem


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


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "192.168.1.2", "example.com"])
def test_addresses_others_can_reach(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("environment", ["development", "test"])
def test_the_development_secret_only_on_loopback_whatever_the_environment(
    environment: str,
) -> None:
    assert secret_problem(DEV_SECRET, hosts=["127.0.0.1"], environment=environment) is None
    problem = secret_problem(DEV_SECRET, hosts=["127.0.0.1", "0.0.0.0"], environment=environment)
    assert problem is not None
    assert "LEADFLOW_SECRET_KEY must be set" in problem
    assert "0.0.0.0" in problem
    assert secret_problem("s3cret", hosts=["0.0.0.0"], environment=environment) is None


def test_settings_listening_beyond_loopback_refuse_the_development_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEADFLOW_SECRET_KEY", raising=False)
    for cls in (IngestSettings, ConsoleSettings):
        with pytest.raises(ValidationError, match=r"LEADFLOW_SECRET_KEY must be set.*0\.0\.0\.0"):
            cls(host="0.0.0.0")
        assert cls(host="127.0.0.1").host == "127.0.0.1"
        assert cls(host="0.0.0.0", secret_key="s3cret").host == "0.0.0.0"
    monkeypatch.setenv("LEADFLOW_HOST", "0.0.0.0")
    with pytest.raises(ValidationError, match="LEADFLOW_SECRET_KEY must be set"):
        IngestSettings()


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="topic_partitions"):
        IngestSettings(topic_partitions=0)

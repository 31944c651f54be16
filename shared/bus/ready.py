"""Is Kafka answering metadata requests? Used by /readyz and by deploy/local/kafka.sh."""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaClient


async def kafka_ready(bootstrap_servers: str, within: float = 3.0) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(within * 1000)
    )
    try:
        async with asyncio.timeout(within):
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            return bool(metadata.brokers())
    except Exception:
        return False
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(kafka_ready(sys.argv[1])) else 1)

"""A real Apache Kafka broker (KRaft, broker and controller in one JVM) on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from tests.services import process

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where scripts/test copies the broker's jars (see tests/services/kafka-maven/pom.xml).
DEFAULT_LIBS = REPO_ROOT / ".cache" / "kafka" / "libs"
NODE_ID = 1
START_TIMEOUT = 90.0

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=1
auto.create.topics.enable=true
# One broker: every internal topic has one replica, and few partitions so it is created fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A test's consumer group should not wait 3 s for members that will never come.
group.initial.rebalance.delay.ms=0
"""

# Kafka 4 logs through log4j2; the broker's stdout goes to our log file.
_LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# The full configuration dump at every start is long and never the clue.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def find_libs() -> Path:
    """The broker's classpath directory: ``TSCHED_KAFKA_LIBS`` or ``.cache/kafka/libs``."""
    libs = Path(os.environ.get("TSCHED_KAFKA_LIBS", DEFAULT_LIBS))
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise process.ServiceStartError(
            f"no Kafka jars in {libs}; scripts/test resolves them with Maven"
        )
    return libs


def _cluster_id() -> str:
    """A Kafka cluster id: a random UUID in unpadded URL-safe base64, as Kafka writes them."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # a leading dash would be read as a CLI option
            return text


class KafkaBroker:
    """One-node Kafka cluster; ``stop`` then ``start`` restarts it on the same ports and data.

    The JVM gets a small heap, the serial collector and C1-only compilation: tests do not run
    long enough for C2 to pay off. Measured on the 2-core CI machine, 3 runs each: first
    start (format included) 2.3-3.0 s against 3.1-4.1 s with JVM defaults, restart
    1.8-2.0 s against 2.4-3.6 s.
    """

    def __init__(self, *, libs: Path | None = None, heap: str = "512m") -> None:
        self.libs = libs or find_libs()
        self.heap = heap
        self.broker_port = 0
        self.controller_port = 0
        self._dir: Path | None = None
        self._process: process.ServiceProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The ``bootstrap.servers`` value for clients."""
        return f"127.0.0.1:{self.broker_port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is up."""
        return self._process is not None and self._process.running

    def start(self) -> None:
        """Start the broker, formatting its storage on the first start; wait until it answers."""
        if self._process is None:
            self._process = self._prepare()
        # One client for the whole wait, reconnecting every 50-250 ms, so readiness is seen
        # soon after the listener opens; it is dropped afterwards so that it does not keep
        # reconnecting to a broker that a test has stopped.
        admin = AdminClient(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "reconnect.backoff.ms": 50,
                "reconnect.backoff.max.ms": 250,
            },
            logger=logger,
        )

        def answers_metadata() -> bool:
            return NODE_ID in admin.list_topics(timeout=1).brokers

        self._process.start(answers_metadata, timeout=START_TIMEOUT)

    def _java(self, main_class: str, *args: str) -> list[str]:
        assert self._dir is not None
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main_class,
            *args,
        ]

    def _prepare(self) -> process.ServiceProcess:
        run_dir = Path(tempfile.mkdtemp(prefix="tsched-kafka-"))
        self._dir = run_dir
        self.broker_port, self.controller_port = process.free_ports(2)
        config = run_dir / "server.properties"
        config.write_text(
            _SERVER_PROPERTIES.format(
                node_id=NODE_ID,
                broker_port=self.broker_port,
                controller_port=self.controller_port,
                log_dir=run_dir / "data",
            ),
            encoding="utf-8",
        )
        (run_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES, encoding="utf-8")
        process.run_step(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                _cluster_id(),
                "--config",
                str(config),
                "--standalone",
            ),
            log_path=run_dir / "format.log",
            cwd=run_dir,
        )
        return process.ServiceProcess(
            name="kafka",
            argv=self._java("kafka.Kafka", str(config)),
            log_path=run_dir / "kafka.log",
            cwd=run_dir,
            stop_signal=signal.SIGTERM,
            stop_timeout=30.0,
        )

    def stop(self) -> None:
        """Shut the broker down cleanly (SIGTERM), keeping ports and data for ``start``."""
        if self._process is not None:
            self._process.stop()

    def close(self) -> None:
        """Stop the broker and delete its data and logs."""
        self.stop()
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

"""Bicep and the Event Hubs adapter agree: the app is told to reach the provisioned
namespace's Kafka endpoint with its identity's tokens, and that identity may send to
the event hub named as the topic. Read as files: Azure cannot be reached here, nor is
the Bicep compiler installed."""

from __future__ import annotations

import re
from pathlib import Path

from scheduler.adapters import eventhubs

BICEP = Path(__file__).resolve().parents[3] / "bicep"
MAIN = (BICEP / "main.bicep").read_text(encoding="utf-8")
EVENT_HUBS = (BICEP / "app" / "eventhubs.bicep").read_text(encoding="utf-8")
FUNCTIONS = (BICEP / "app" / "functions.bicep").read_text(encoding="utf-8")
RBAC = (BICEP / "app" / "rbac.bicep").read_text(encoding="utf-8")

EVENT_HUBS_DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975"


def test_the_app_reaches_event_hubs_with_its_managed_identity() -> None:
    assert re.search(r"^  KAFKA_SECURITY: 'eventhubs'$", FUNCTIONS, re.M)
    assert re.search(r"^  AZURE_CLIENT_ID: identityClientId$", FUNCTIONS, re.M)
    assert re.search(r"^  KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrapServers$", FUNCTIONS, re.M)
    assert re.search(r"^  KAFKA_TOPIC: kafkaTopic$", FUNCTIONS, re.M)


def test_the_app_is_given_the_provisioned_namespaces_endpoint_and_event_hub() -> None:
    assert "kafkaBootstrapServers: eventHubs.outputs.kafkaBootstrapServers" in MAIN
    assert "kafkaTopic: eventHubs.outputs.eventHubName" in MAIN
    assert "eventHubName: kafkaTopic" in MAIN


def test_the_kafka_endpoint_is_the_namespace_host_on_the_kafka_port() -> None:
    output = re.search(r"^output kafkaBootstrapServers string = '(.*)'$", EVENT_HUBS, re.M)

    assert output is not None
    assert output[1].endswith(f":{eventhubs.KAFKA_PORT}")
    assert "namespace.properties.serviceBusEndpoint" in output[1]


def test_the_namespace_speaks_kafka_and_takes_entra_id_tokens_only() -> None:
    assert "name: 'Standard'" in EVENT_HUBS  # Kafka needs Standard or above
    assert "disableLocalAuth: true" in EVENT_HUBS
    assert "kafkaEnabled: true" in EVENT_HUBS
    namespace = re.search(r"namespaceName: '([^']*)\$\{resourceToken\}'", MAIN)
    assert namespace is not None
    # A namespace name is 6 to 50 letters, digits and hyphens; resourceToken is 13.
    assert re.fullmatch(r"[a-z][a-z0-9-]*", namespace[1])
    assert 6 <= len(namespace[1]) + 13 <= 50


def test_the_identity_may_send_to_the_event_hub_and_nothing_wider() -> None:
    assert (
        f"eventHubsDataSender: '{EVENT_HUBS_DATA_SENDER}' // Azure Event Hubs Data Sender" in RBAC
    )
    assignment = re.search(
        r"^resource eventsSender 'Microsoft.Authorization/roleAssignments@[^']*' = \{\n(.*?)^\}",
        RBAC,
        re.M | re.S,
    )
    assert assignment is not None
    assert "scope: eventHubs::events\n" in assignment[1]
    assert "roles.eventHubsDataSender" in assignment[1]
    assert "eventHubsNamespaceName: eventHubs.outputs.namespaceName" in MAIN
    assert "eventHubName: eventHubs.outputs.eventHubName" in MAIN


def test_an_outside_kafka_cannot_be_configured_by_mistake() -> None:
    declaration = re.search(
        r"((?:^@.*\n|^  .*\n|^\]\)\n)*)^param kafkaBootstrapServers ", MAIN, re.M
    )

    assert declaration is not None
    assert "@allowed([\n  ''\n])" in declaration[1]

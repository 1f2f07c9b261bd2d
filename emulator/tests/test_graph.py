"""Azure Resource Graph (providers/resourcegraph.py) through the real azure-mgmt-resourcegraph SDK."""
from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from azemu.seed import OPERATOR_OBJECT_ID, SUBSCRIPTION_ID, TENANT_ID
from conftest import RG_ID, admin

SUB2 = "5a0e0e5e-0000-4000-8000-000000000002"
SUB3 = "5a0e0e5e-0000-4000-8000-000000000003"
READER_OID = "0a11ce00-0000-4000-8000-00000000c0c0"
READER_CLIENT = "0a11ce00-0000-4000-8000-00000000c0c1"
UAI = "Microsoft.ManagedIdentity/userAssignedIdentities"


def _uai(subscription: str, group: str, name: str, **body) -> dict:
    return {"id": f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{UAI}/{name}",
            "body": {"location": "westeurope", **body}}


ESTATE = {
    "subscriptions": [{"id": SUB2, "display_name": "sub two"}, {"id": SUB3, "display_name": "sub three"}],
    "management_groups": [
        {"name": "mg-root", "display_name": "Root", "subscriptions": [SUBSCRIPTION_ID]},
        {"name": "mg-prod", "parent": "mg-root", "subscriptions": [SUB2]},
        {"name": "mg-other", "subscriptions": [SUB3]},
    ],
    "principals": [{"object_id": READER_OID, "client_id": READER_CLIENT, "secrets": ["reader-secret"],
                    "roles": [{"role": "Reader", "scope": f"/subscriptions/{SUBSCRIPTION_ID}"},
                              {"role": "Reader", "scope": f"/subscriptions/{SUB2}/resourceGroups/rg-b"}]}],
    "role_assignments": [{"principal_id": OPERATOR_OBJECT_ID, "role": "Owner", "scope": f"/subscriptions/{SUB2}"},
                         {"principal_id": OPERATOR_OBJECT_ID, "role": "Owner", "scope": f"/subscriptions/{SUB3}"}],
    "resources": [
        {"id": f"/subscriptions/{SUB2}/resourceGroups/RG-A", "body": {"location": "westeurope"}},
        {"id": f"/subscriptions/{SUB2}/resourceGroups/rg-b", "body": {"location": "westeurope"}},
        {"id": f"/subscriptions/{SUB3}/resourceGroups/rg-c", "body": {"location": "westeurope"}},
        _uai(SUBSCRIPTION_ID, "rg1", "id-one", tags={"environment": "prod", "classification": "pii"}),
        _uai(SUBSCRIPTION_ID, "rg1", "id-two", tags={"environment": "test"}),
        _uai(SUB2, "RG-A", "id-three", tags={"Environment": "Prod"}),
        _uai(SUB2, "rg-b", "id-four"),
        _uai(SUB3, "rg-c", "id-five"),
        {"id": f"/subscriptions/{SUB3}/resourceGroups/rg-c/providers/Microsoft.Web/sites/func1",
         "body": {"location": "westeurope", "kind": "functionapp,linux"}},
    ],
}


@pytest.fixture
def estate(emu):
    emu.load_seed(ESTATE)
    emu.services.log.clear()
    yield emu
    emu.state.settings.update({"graph_page_size": 1000, "graph_quota": None, "graph_quota_window": 5.0,
                               "graph_lag": 0.0, "graph_frozen": False})


def _client(client_id: str = "0a11ce00-0000-4000-8000-00000000a001", secret: str = "emulator-operator-secret",
            **kwargs) -> ResourceGraphClient:
    return ResourceGraphClient(ClientSecretCredential(TENANT_ID, client_id, secret), **kwargs)


def _query(client, query, subscriptions=None, management_groups=None, **options):
    request = QueryRequest(subscriptions=subscriptions, management_groups=management_groups, query=query,
                           options=QueryRequestOptions(**options) if options else None)
    return client.resources(request, cls=lambda response, result, _h: (result, response.http_response.headers))


def _names(result) -> list[str]:
    return sorted(row["name"] for row in result.data)


ALL = [SUBSCRIPTION_ID, SUB2, SUB3]
UAI_QUERY = "resources | where type =~ 'microsoft.managedidentity/userassignedidentities'"


def test_rows_have_resource_graph_shape(estate):
    result, headers = _query(_client(), UAI_QUERY + " and name == 'id-three'", ALL)
    assert result.total_records == 1 and result.count == 1 and result.result_truncated == "false"
    assert result.skip_token is None and result.facets == []
    row = result.data[0]
    assert row["type"] == "microsoft.managedidentity/userassignedidentities"
    assert row["resourceGroup"] == "rg-a" and row["subscriptionId"] == SUB2 and row["tenantId"] == TENANT_ID
    assert row["id"] == f"/subscriptions/{SUB2}/resourceGroups/RG-A/providers/{UAI}/id-three"
    assert row["tags"] == {"Environment": "Prod"} and row["properties"]["principalId"]
    assert set(row) >= {"kind", "location", "managedBy", "sku", "plan", "identity", "zones"}
    assert int(headers["x-ms-user-quota-remaining"]) > 0
    assert headers["x-ms-user-quota-resets-after"].startswith("00:00:0")
    log = [e for e in estate.services.log.entries() if "ResourceGraph" in e["path"]]
    assert log and not any(e["write"] for e in log)


def test_paging_with_skip_token(estate):
    estate.state.settings.graph_page_size = 2
    client = _client()
    seen, token, pages = [], None, 0
    while True:
        result, _h = _query(client, UAI_QUERY + " | order by name asc", ALL, skip_token=token)
        pages += 1
        assert result.total_records == 5 and result.count == len(result.data) <= 2
        seen += [row["name"] for row in result.data]
        token = result.skip_token
        if not token:
            break
    assert pages == 3 and seen == ["id-five", "id-four", "id-one", "id-three", "id-two"]
    top, _h = _query(client, UAI_QUERY, ALL, top=1)
    assert top.count == 1 and top.skip_token


def test_management_group_scope_includes_descendants(estate):
    client = _client()
    root, _h = _query(client, UAI_QUERY, management_groups=["mg-root"])
    assert _names(root) == ["id-four", "id-one", "id-three", "id-two"]
    child, _h = _query(client, UAI_QUERY, management_groups=["mg-prod"])
    assert _names(child) == ["id-four", "id-three"]
    with pytest.raises(HttpResponseError) as info:
        _query(client, UAI_QUERY, management_groups=["mg-nope"])
    assert info.value.status_code == 400


def test_where_project_order_limit(estate):
    client = _client()
    result, _h = _query(client, "Resources | where (type in~ ('Microsoft.Web/sites') and kind contains 'functionapp')"
                                " or tags.environment == 'prod' | project name, env = tags.environment, rg = resourceGroup"
                                " | order by name desc | take 5", ALL)
    assert result.data == [{"name": "id-one", "env": "prod", "rg": "rg1"},
                           {"name": "func1", "env": None, "rg": "rg-c"}]
    empty, _h = _query(client, UAI_QUERY + " and isempty(tags) | project name", ALL)
    assert _names(empty) == ["id-five", "id-four"]
    not_in, _h = _query(client, UAI_QUERY + " and name !in ('id-one', 'id-two') and resourceGroup != 'rg-c'", ALL)
    assert _names(not_in) == ["id-four", "id-three"]


def test_unsupported_query_gets_parser_failure(estate):
    with pytest.raises(HttpResponseError) as info:
        _query(_client(), "resources | summarize count() by type", ALL)
    error = info.value.response.json()["error"]
    assert info.value.status_code == 400 and error["code"] == "BadRequest"
    assert error["message"].startswith("Please provide below info when asking for support:")
    assert error["details"][0]["code"] == "InvalidQuery"
    assert error["details"][1] == {"code": "ParserFailure", "message": "ParserFailure", "line": 1,
                                   "characterPositionInLine": 12, "token": "summarize"}
    with pytest.raises(HttpResponseError) as info:
        _query(_client(), "resources", ALL, result_format="table")
    assert info.value.status_code == 400


def test_api_version_2022_10_01_and_other_tables(estate):
    client = _client(api_version="2022-10-01")
    result, _h = _query(client, "authorizationresources | where type == 'microsoft.authorization/roleassignments'"
                                f" and properties.principalId =~ '{READER_OID}'", ALL)
    scopes = sorted(row["properties"]["scope"] for row in result.data)
    assert scopes == [f"/subscriptions/{SUBSCRIPTION_ID}", f"/subscriptions/{SUB2}/resourceGroups/rg-b"]
    assert all(row["properties"]["roleDefinitionId"].endswith("acdd72a7-3385-48ef-bd42-f606fba81ae7")
               for row in result.data)
    containers, _h = _query(client, "resourcecontainers | project name, type", [SUB2])
    assert sorted((row["type"], row["name"]) for row in containers.data) == [
        ("microsoft.resources/subscriptions", "sub two"),
        ("microsoft.resources/subscriptions/resourcegroups", "RG-A"),
        ("microsoft.resources/subscriptions/resourcegroups", "rg-b")]
    assert "api-version=2022-10-01" in [e for e in estate.services.log.entries()
                                        if "ResourceGraph" in e["path"]][-1]["query"]


def test_rows_are_filtered_by_read_access(estate):
    reader = _client(READER_CLIENT, "reader-secret")
    result, _h = _query(reader, UAI_QUERY, ALL)
    # Reader on the default subscription, and on rg-b of SUB2 only; nothing on SUB3
    assert _names(result) == ["id-four", "id-one", "id-two"]
    unscoped, _h = _query(reader, UAI_QUERY)
    assert _names(unscoped) == ["id-four", "id-one", "id-two"]


def test_quota_headers_and_429(estate):
    estate.state.settings.update({"graph_quota": 2, "graph_quota_window": 60})
    client = _client(retry_total=0)
    _r, first = _query(client, UAI_QUERY, ALL)
    _r, second = _query(client, UAI_QUERY, ALL)
    assert (first["x-ms-user-quota-remaining"], second["x-ms-user-quota-remaining"]) == ("1", "0")
    with pytest.raises(HttpResponseError) as info:
        _query(client, UAI_QUERY, ALL)
    response = info.value.response
    assert info.value.status_code == 429 and response.json()["error"]["code"] == "RateLimiting"
    assert response.headers["x-ms-user-quota-remaining"] == "0"
    assert response.headers["x-ms-user-quota-resets-after"].startswith("00:0")
    assert int(response.headers["Retry-After"]) >= 1
    # a tiny window: the next request starts a new one (no dependence on how long the requests above took)
    estate.state.settings.graph_quota_window = 0.001
    time.sleep(0.002)
    _r, again = _query(client, UAI_QUERY, ALL)
    assert again["x-ms-user-quota-remaining"] == "1"


def test_frozen_graph_serves_the_snapshot(estate):
    client = _client()
    estate.state.settings.graph_frozen = True
    estate.load_seed({"resources": [_uai(SUBSCRIPTION_ID, "rg1", "id-new")]})
    estate.state.resources.delete_tree(f"/subscriptions/{SUB3}/resourceGroups/rg-c/providers/{UAI}/id-five")
    result, _h = _query(client, UAI_QUERY, ALL)
    assert _names(result) == ["id-five", "id-four", "id-one", "id-three", "id-two"]
    admin(estate, "POST", "/_emulator/settings", {"graph_frozen": False})
    result, _h = _query(client, UAI_QUERY, ALL)
    assert _names(result) == ["id-four", "id-new", "id-one", "id-three", "id-two"]


def test_lag_behind_resource_manager(estate):
    client = _client()
    estate.state.settings.graph_lag = 3600
    estate.load_seed({"resources": [_uai(SUBSCRIPTION_ID, "rg1", "id-one", tags={"environment": "dev"})]})
    result, _h = _query(client, UAI_QUERY + " and name == 'id-one' | project env = tags.environment", ALL)
    assert result.data == [{"env": "prod"}]                      # Resource Manager already says dev
    estate.state.settings.graph_lag = 0
    result, _h = _query(client, UAI_QUERY + " and name == 'id-one' | project env = tags.environment", ALL)
    assert result.data == [{"env": "dev"}]


def test_ten_thousand_resources_page_fast(estate):
    store = estate.state.resources
    for index in range(10_000):
        rid = f"{RG_ID}/providers/{UAI}/bulk{index:05d}"
        store.put({"id": rid, "name": f"bulk{index:05d}", "type": UAI, "location": "westeurope",
                   "tags": {"environment": "prod" if index % 2 else "test"}, "properties": {"principalId": str(index)}})
    client = _client()
    _query(client, "resources | take 1", ALL)  # token and connection
    started = time.perf_counter()
    result, _h = _query(client, "resources | where type in~ ('microsoft.managedidentity/userassignedidentities') "
                                "and tags.environment =~ 'prod'", ALL)
    elapsed = time.perf_counter() - started
    assert result.total_records == 5_000 + 1 and result.count == 1000 and result.skip_token
    assert elapsed < 1.0, elapsed

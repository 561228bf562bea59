"""/openapi.json: an OpenAPI 3.1 document of every route, built from the models that validate requests,
that documents exactly the query parameters the server accepts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storehouse.http.app import API_ROUTES
from storehouse.models import Execution

EXECUTIONS = "/api/projects/{projectId}/executions"
HISTORY = "/api/projects/{projectId}/tasks/{taskId}/history"
TASKS = "/api/projects/{projectId}/tasks"
DOCUMENTED = {
    ("/api/projects", "get"),
    ("/api/projects/{projectId}", "delete"),
    (EXECUTIONS, "get"),
    (EXECUTIONS, "post"),
    (EXECUTIONS, "delete"),
    (f"{EXECUTIONS}/stats", "get"),
    (f"{EXECUTIONS}/stats/daily", "get"),
    (f"{EXECUTIONS}/export", "get"),
    ("/api/projects/{projectId}/export", "get"),
    ("/api/projects/{projectId}/tasks/export", "get"),
    ("/api/projects/{projectId}/history/export", "get"),
    (f"{EXECUTIONS}/{{executionId}}", "get"),
    (f"{EXECUTIONS}/{{executionId}}", "put"),
    (f"{EXECUTIONS}/{{executionId}}", "patch"),
    (f"{EXECUTIONS}/{{executionId}}", "delete"),
    (HISTORY, "get"),
    (HISTORY, "post"),
    (HISTORY, "delete"),
    (f"{HISTORY}/count", "get"),
    (f"{HISTORY}/oldest", "get"),
    ("/api/projects/{projectId}/history", "get"),
    ("/api/projects/{projectId}/history/cleanup", "post"),
    ("/api/projects/{projectId}/settings", "get"),
    ("/api/projects/{projectId}/settings", "put"),
    ("/api/projects/{projectId}/events", "get"),
    (TASKS, "get"),
    (TASKS, "post"),
    (f"{TASKS}/order", "get"),
    (f"{TASKS}/{{taskId}}", "get"),
    (f"{TASKS}/{{taskId}}", "put"),
    (f"{TASKS}/{{taskId}}", "patch"),
    (f"{TASKS}/{{taskId}}", "delete"),
    (f"{TASKS}/{{taskId}}/transitions", "get"),
    (f"{TASKS}/{{taskId}}/transitions", "post"),
    (f"{TASKS}/{{taskId}}/dependencies", "get"),
    (f"{TASKS}/{{taskId}}/dependents", "get"),
    (f"{TASKS}/{{taskId}}/dependencies/{{dependsOnId}}", "put"),
    (f"{TASKS}/{{taskId}}/dependencies/{{dependsOnId}}", "delete"),
    (f"{TASKS}/{{taskId}}/context", "get"),
    ("/api/projects/{projectId}/metrics", "get"),
}
LIST_PARAMETERS = {"status", "taskId", "tag", "startedAfter", "startedBefore", "sort", "limit", "offset", "cursor", "q"}
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture
async def openapi(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = answer.json()
    return document


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref links into components/schemas."""
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix)
        schema = document["components"]["schemas"][schema["$ref"][len(prefix) :]]
    return schema


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}


def list_operation(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][EXECUTIONS]["get"]
    return operation


async def test_openapi_is_version_3_1(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1")
    assert openapi["info"]["title"]
    assert openapi["info"]["version"]


async def test_openapi_documents_every_api_route(openapi: dict[str, Any]) -> None:
    assert operations(openapi) == DOCUMENTED


async def test_openapi_documents_every_route_the_app_serves(openapi: dict[str, Any]) -> None:
    served = {
        (route.path, method.lower()) for route in API_ROUTES for method in route.methods or () if method != "HEAD"
    }
    assert served == operations(openapi)


async def test_openapi_operations_have_unique_ids_and_responses(openapi: dict[str, Any]) -> None:
    ids = [openapi["paths"][path][method]["operationId"] for path, method in operations(openapi)]
    assert len(ids) == len(set(ids)) == len(DOCUMENTED)
    for path, method in operations(openapi):
        assert openapi["paths"][path][method]["responses"], (path, method)


async def test_openapi_documents_the_path_parameters(openapi: dict[str, Any]) -> None:
    for path, item in openapi["paths"].items():
        named = {parameter["name"] for parameter in item.get("parameters", []) if parameter["in"] == "path"}
        assert named == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path


async def test_post_body_schema_is_derived_from_the_execution_model(openapi: dict[str, Any]) -> None:
    body = openapi["paths"][EXECUTIONS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = resolve(openapi, body)
    assert {"status", "costUSD", "tokenUsage"} <= set(schema["properties"])
    assert set(schema["properties"]) == set(Execution.model_json_schema(by_alias=True)["properties"])


async def test_put_body_schema_is_the_execution_model(openapi: dict[str, Any]) -> None:
    post = openapi["paths"][EXECUTIONS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    put = openapi["paths"][f"{EXECUTIONS}/{{executionId}}"]["put"]["requestBody"]["content"]["application/json"]
    assert resolve(openapi, put["schema"]) == resolve(openapi, post)


async def test_status_schema_lists_the_five_statuses(openapi: dict[str, Any]) -> None:
    body = openapi["paths"][EXECUTIONS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    status = resolve(openapi, resolve(openapi, body)["properties"]["status"])
    assert set(status["enum"]) == {"pending", "running", "completed", "failed", "cancelled"}


async def test_token_usage_schema_has_input_output_and_total(openapi: dict[str, Any]) -> None:
    body = openapi["paths"][EXECUTIONS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    usage = resolve(openapi, resolve(openapi, body)["properties"]["tokenUsage"])
    assert {"input", "output", "total"} <= set(usage["properties"])


async def test_list_operation_documents_every_accepted_query_parameter(openapi: dict[str, Any]) -> None:
    parameters = list_operation(openapi)["parameters"]
    assert {parameter["name"] for parameter in parameters} == LIST_PARAMETERS
    for parameter in parameters:
        assert parameter["in"] == "query"
        assert parameter["description"]
        assert parameter["schema"]


async def test_every_documented_list_parameter_is_accepted(openapi: dict[str, Any], http: httpx.AsyncClient) -> None:
    base = "/api/projects/demo/executions"
    for item in ("a", "b"):
        await http.put(f"{base}/{item}", json={"taskId": "t1", "tags": ["x"]})
    cursor = (await http.get(base, params={"limit": 1})).json()["nextCursor"]
    samples = {
        "status": "failed,running",
        "taskId": "t1",
        "tag": "x",
        "startedAfter": "2026-01-01T00:00:00Z",
        "startedBefore": "2026-01-01T00:00:00Z",
        "sort": "costUSD",
        "limit": "5",
        "offset": "1",
        "cursor": cursor,
        "q": "a",
    }
    for parameter in list_operation(openapi)["parameters"]:
        answer = await http.get(base, params={parameter["name"]: samples[parameter["name"]]})
        assert answer.status_code == 200, (parameter["name"], answer.text)


async def test_every_documented_sort_is_accepted(openapi: dict[str, Any], http: httpx.AsyncClient) -> None:
    [sort] = [p for p in list_operation(openapi)["parameters"] if p["name"] == "sort"]
    assert set(sort["schema"]["enum"]) == {"startedAt", "-startedAt", "costUSD", "-costUSD", "duration", "-duration"}
    for value in sort["schema"]["enum"]:
        assert (await http.get("/api/projects/demo/executions", params={"sort": value})).status_code == 200


async def test_documented_limit_bounds_are_the_enforced_ones(openapi: dict[str, Any], http: httpx.AsyncClient) -> None:
    [limit] = [p["schema"] for p in list_operation(openapi)["parameters"] if p["name"] == "limit"]
    base = "/api/projects/demo/executions"
    for value, status in ((limit["minimum"], 200), (limit["maximum"], 200), (limit["minimum"] - 1, 400)):
        assert (await http.get(base, params={"limit": value})).status_code == status, value
    assert (await http.get(base, params={"limit": limit["maximum"] + 1})).status_code == 400
    assert limit["default"] == 50


async def test_list_item_schema_has_exactly_the_summary_fields(
    openapi: dict[str, Any], http: httpx.AsyncClient
) -> None:
    listing = list_operation(openapi)["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(listing["properties"]) == {"executions", "total", "nextCursor"}
    item = resolve(openapi, listing["properties"]["executions"]["items"])
    await http.put("/api/projects/demo/executions/a", json={"name": "n"})
    await http.put("/api/projects/demo/executions/b", json={"name": "n" * 300})
    short, cut = (await http.get("/api/projects/demo/executions", params={"sort": "startedAt"})).json()["executions"]
    assert set(item["properties"]) == set(cut) == {*short, "truncated"}  # present only when a field was cut
    assert set(item["required"]) == set(short)


async def test_stats_schema_has_every_field_the_server_answers(
    openapi: dict[str, Any], http: httpx.AsyncClient
) -> None:
    response = openapi["paths"][f"{EXECUTIONS}/stats"]["get"]["responses"]["200"]
    schema = resolve(openapi, response["content"]["application/json"]["schema"])
    stats = (await http.get("/api/projects/demo/executions/stats")).json()
    assert set(schema["properties"]) == set(stats)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
async def test_conditional_writes_document_if_match_and_412(openapi: dict[str, Any], method: str) -> None:
    operation = openapi["paths"][f"{EXECUTIONS}/{{executionId}}"][method]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in operation["parameters"])
    assert "412" in operation["responses"]


async def test_error_responses_document_the_error_form(openapi: dict[str, Any]) -> None:
    response = openapi["paths"][f"{EXECUTIONS}/{{executionId}}"]["get"]["responses"]["404"]
    schema = resolve(openapi, response["content"]["application/json"]["schema"])
    detail = resolve(openapi, schema["properties"]["error"])
    assert set(detail["properties"]) == {"code", "message"}

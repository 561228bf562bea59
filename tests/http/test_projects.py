"""``GET /api/projects`` pages (issue #13 item 11): limit and offset as the executions list, total, and a default
that keeps a caller who does not page (the web page, a client of an earlier release) seeing every project."""

from __future__ import annotations

import httpx
import pytest

from storehouse import Storehouse
from storehouse.errors import InvalidParameter
from storehouse.store import DEFAULT_PROJECT_LIMIT


def seed(store: Storehouse, count: int) -> list[str]:
    names = [f"p{n:03d}" for n in range(count)]
    for name in names:
        store.create_execution(name, {"name": "run", "status": "completed"})
    return names


async def test_projects_page_by_limit_and_offset_in_id_order(store: Storehouse, http: httpx.AsyncClient) -> None:
    names = seed(store, 7)
    seen: list[str] = []
    for offset in range(0, 9, 3):
        body = (await http.get(f"/api/projects?limit=3&offset={offset}")).json()
        assert body["total"] == 7
        assert len(body["projects"]) == min(3, 7 - offset)
        seen += [project["id"] for project in body["projects"]]
    assert seen == names
    assert (await http.get("/api/projects?offset=7")).json() == {"projects": [], "total": 7}


async def test_projects_without_parameters_keep_the_answer_shape(store: Storehouse, http: httpx.AsyncClient) -> None:
    seed(store, 3)
    body = (await http.get("/api/projects")).json()
    assert set(body) == {"projects", "total"}
    assert [p["id"] for p in body["projects"]] == ["p000", "p001", "p002"]
    assert set(body["projects"][0]) == {"id", "executionCount", "lastStartedAt", "costUSD", "taskCount"}
    assert DEFAULT_PROJECT_LIMIT == 1000


async def test_the_default_page_is_bounded(store: Storehouse, http: httpx.AsyncClient) -> None:
    seed(store, 3)
    page = store.list_projects(limit=2)
    assert ([p.id for p in page.items], page.total) == (["p000", "p001"], 3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be between 1 and 1000, got 0"),
        ("limit=1001", "limit must be between 1 and 1000, got 1001"),
        ("limit=x", "limit must be a whole number, got 'x'"),
        ("offset=-1", "offset must be 0 or more, got -1"),
        ("offset=1.5", "offset must be a whole number, got '1.5'"),
        (
            "offset=99999999999999999999",
            "offset must be at most 9223372036854775807 (2**63 - 1), got 99999999999999999999",
        ),
        ("limit=1&limit=2", "limit is given more than once"),
        ("cursor=abc", "unknown query parameter 'cursor'; this endpoint accepts: limit, offset"),
    ],
)
async def test_bad_paging_is_a_400_naming_the_parameter(http: httpx.AsyncClient, query: str, message: str) -> None:
    answer = await http.get(f"/api/projects?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"] == {"code": "invalid_parameter", "message": message}


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (True, 0), (1, -1), (1, False), ("1", 0)])
def test_the_library_checks_limit_and_offset(store: Storehouse, limit: object, offset: object) -> None:
    with pytest.raises(InvalidParameter, match=r"^(limit|offset) must be"):
        store.list_projects(limit=limit, offset=offset)  # type: ignore[arg-type]


async def test_the_openapi_document_lists_the_paging_parameters(http: httpx.AsyncClient) -> None:
    operation = (await http.get("/openapi.json")).json()["paths"]["/api/projects"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000}
    assert parameters["offset"]["minimum"] == 0
    assert "400" in operation["responses"]

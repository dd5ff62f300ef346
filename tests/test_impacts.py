"""Energy and CO2 per answer: EcoLogits' own figures, `usage.impacts`, usage rows, rollups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from ecologits.tracers.utils import PROVIDER_CONFIG_MAP, llm_impacts
from ecologits.utils.range_value import RangeValue
from sqlalchemy import func, select

from autan.core.db import create_engine, session_factory
from autan.llm.config import (
    ModelConfig,
    ModelFootprint,
    ModelsConfig,
    ParameterRange,
    ReplicaConfig,
)
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.errors import ModelsFileError
from autan.llm.impacts import Estimator
from autan.llm.settings import EmbeddedSettings
from autan.usage.models import UsageDay
from tests.conftest import RunningAutan, make_settings, serve_autan
from tests.support.processes import SimUpstream, start_sim
from tests.support.usage import usage_rows

CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "Bonjour"}]}
MISTRAL = PROVIDER_CONFIG_MAP["mistralai"]


def _mistral(total: float | ParameterRange, active: float | None = None) -> ModelFootprint:
    """A footprint declared as EcoLogits declares Mistral's own models (Swedish mix, PUE)."""
    return ModelFootprint(
        total_parameters=total,
        active_parameters=active,
        zone=MISTRAL.datacenter_location,
        datacenter_pue=float(MISTRAL.datacenter_pue),  # type: ignore[arg-type]
        datacenter_wue=float(MISTRAL.datacenter_wue),  # type: ignore[arg-type]
    )


def _bounds(value: float | RangeValue) -> tuple[float, float]:
    if isinstance(value, RangeValue):
        return float(value.min), float(value.max)
    return float(value), float(value)


@pytest.mark.parametrize(
    ("ecologits_name", "footprint"),
    [
        # A mixture of experts: 119 B parameters, 8 B active (EcoLogits' models.json).
        ("mistral-small-latest", _mistral(119, 8)),
        # Parameters known only within bounds: EcoLogits gives a range.
        ("magistral-medium-latest", _mistral(ParameterRange(min=70, max=120))),
    ],
)
@pytest.mark.parametrize(("tokens", "latency"), [(300, 4.0), (40, 0.5), (1200, 60.0)])
def test_figures_are_those_ecologits_gives_for_a_known_model(
    ecologits_name: str, footprint: ModelFootprint, tokens: int, latency: float
) -> None:
    theirs = llm_impacts("mistralai", ecologits_name, tokens, latency)
    ours = Estimator("m", footprint).estimate(tokens, latency)
    assert ours is not None and theirs.energy is not None and theirs.gwp is not None
    expected = (*_bounds(theirs.energy.value), *_bounds(theirs.gwp.value))
    got = (ours.energy_kwh_min, ours.energy_kwh_max, ours.gwp_kg_min, ours.gwp_kg_max)
    assert got == pytest.approx(expected, rel=1e-12)


def test_a_range_of_parameters_gives_a_range_of_impacts() -> None:
    impacts = Estimator("m", _mistral(ParameterRange(min=70, max=120))).estimate(500, 30.0)
    assert impacts is not None
    assert 0 < impacts.energy_kwh_min < impacts.energy_kwh_max
    assert 0 < impacts.gwp_kg_min < impacts.gwp_kg_max


def test_nothing_generated_has_no_estimate() -> None:
    assert Estimator("m", _mistral(7.2)).estimate(0, 1.0) is None


def test_an_unknown_zone_is_refused_with_the_model_named() -> None:
    with pytest.raises(ModelsFileError, match="'m'.*'ZZZ'"):
        Estimator("m", ModelFootprint(total_parameters=7.2, zone="ZZZ"))


def test_the_embedded_model_gets_its_known_counts(tmp_path: Path) -> None:
    settings = EmbeddedSettings(chat_model="smollm2-135m", hosting_zone="DEU")
    footprint = EmbeddedModels(settings, tmp_path)._chat_footprint()
    assert footprint is not None
    assert (footprint.total_parameters, footprint.zone) == (0.135, "DEU")


# -- through a real server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimUpstream]:
    upstream = start_sim("--ttft-ms", "0", "--tokens-per-s", "0", "--tokens", "7")
    yield upstream
    upstream.stop()


@pytest.fixture
async def autan(sim: SimUpstream, tmp_path: Path, database_url: str) -> AsyncIterator[RunningAutan]:
    models = ModelsConfig(
        models=[
            ModelConfig(
                id="sim-chat",
                upstream_model="sim-model",
                footprint=ModelFootprint(total_parameters=7.2, zone="FRA"),
                replicas=[ReplicaConfig(url=sim.api_url)],
            ),
            ModelConfig(id="undeclared", replicas=[ReplicaConfig(url=sim.api_url)]),
        ]
    )
    async with serve_autan(make_settings(tmp_path, database_url, models)) as running:
        yield running


def _check_shape(impacts: dict[str, object]) -> tuple[float, float, float, float]:
    energy, gwp = impacts["energy"], impacts["gwp"]
    assert isinstance(energy, dict) and isinstance(gwp, dict)
    assert energy["unit"] == "kWh" and gwp["unit"] == "kgCO2eq"
    assert 0 < energy["min"] <= energy["max"] and 0 < gwp["min"] <= gwp["max"]
    return energy["min"], energy["max"], gwp["min"], gwp["max"]


async def _day_totals(database_url: str) -> tuple[float, float]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            row = (
                await session.execute(
                    select(func.sum(UsageDay.energy_kwh_max), func.sum(UsageDay.gwp_g_max))
                )
            ).one()
    finally:
        await engine.dispose()
    return float(row[0] or 0), float(row[1] or 0)


async def test_a_completion_carries_its_impacts_and_stores_them(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    usage = response.json()["usage"]
    energy_min, energy_max, gwp_min, gwp_max = _check_shape(usage["impacts"])
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert (row.energy_kwh_min, row.energy_kwh_max) == pytest.approx((energy_min, energy_max))
    assert (row.gwp_g_min, row.gwp_g_max) == pytest.approx((gwp_min * 1000, gwp_max * 1000))
    # The figure is EcoLogits' for the tokens generated and the latency the row records
    # (within the time between the estimate and the row's own clock reading).
    low = Estimator("sim-chat", ModelFootprint(total_parameters=7.2)).estimate(7, 0.0001)
    assert low is not None and energy_min >= low.energy_kwh_min


async def test_a_stream_carries_impacts_in_its_usage_event(autan: RunningAutan) -> None:
    body = CHAT | {"stream": True, "stream_options": {"include_usage": True}}
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=body)
    events = [
        orjson.loads(e.removeprefix("data: "))
        for e in response.text.split("\n\n")
        if e.startswith("data: {")
    ]
    (last,) = [e for e in events if e.get("usage")]
    energy_min, *_ = _check_shape(last["usage"]["impacts"])
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.stream and row.energy_kwh_min == pytest.approx(energy_min)


async def test_a_stream_without_usage_still_stores_impacts(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=CHAT | {"stream": True})
    assert '"usage"' not in response.text
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.energy_kwh_min is not None and row.energy_kwh_min > 0


async def test_the_rollups_sum_the_impacts_of_the_rows(autan: RunningAutan) -> None:
    async with autan.client() as client:
        for _ in range(3):
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
    rows = await usage_rows(autan.settings.resolved_database_url, 3)
    energy, gwp = await _day_totals(autan.settings.resolved_database_url)
    assert energy == pytest.approx(sum(r.energy_kwh_max or 0 for r in rows))
    assert gwp == pytest.approx(sum(r.gwp_g_max or 0 for r in rows))


async def test_a_model_without_footprint_says_null(autan: RunningAutan) -> None:
    async with autan.client() as client:
        response = await client.post("/v1/chat/completions", json=CHAT | {"model": "undeclared"})
    assert response.status_code == 200
    assert response.json()["usage"]["impacts"] is None
    (row,) = await usage_rows(autan.settings.resolved_database_url, 1)
    assert row.energy_kwh_min is None and row.gwp_g_max is None

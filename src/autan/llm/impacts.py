"""Energy and CO2 of one answer, estimated with EcoLogits (GenAI Impact).

EcoLogits models a request from the model's parameter counts, the tokens it generated and
how long it took, and the electricity mix of the zone where it runs. We call its own
`compute_llm_impacts` with the counts and zone declared in the models file, exactly as its
tracers do for the providers it knows, so our figures are EcoLogits' figures
(methodology: https://ecologits.ai/latest/methodology/llm_inference/).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from autan.llm.config import ModelConfig, ModelFootprint, ModelType, ParameterRange
from autan.llm.errors import ModelsFileError


@dataclass(frozen=True, slots=True)
class Impacts:
    """The range EcoLogits gives for one answer: energy in kWh, GWP in kgCO2eq."""

    energy_kwh_min: float
    energy_kwh_max: float
    gwp_kg_min: float
    gwp_kg_max: float

    def as_usage(self) -> dict[str, Any]:
        """The `usage.impacts` object of the chat completions API."""
        return {
            "energy": {"min": self.energy_kwh_min, "max": self.energy_kwh_max, "unit": "kWh"},
            "gwp": {"min": self.gwp_kg_min, "max": self.gwp_kg_max, "unit": "kgCO2eq"},
        }

    def as_row(self) -> dict[str, float]:
        """The columns of a usage row (CO2 in grams, the unit the cockpit sums)."""
        return {
            "energy_kwh_min": self.energy_kwh_min,
            "energy_kwh_max": self.energy_kwh_max,
            "gwp_g_min": self.gwp_kg_min * 1000,
            "gwp_g_max": self.gwp_kg_max * 1000,
        }


# The columns of a usage row whose answer has no estimate (no footprint declared, no tokens).
NO_IMPACTS_ROW: dict[str, float | None] = dict.fromkeys(
    ("energy_kwh_min", "energy_kwh_max", "gwp_g_min", "gwp_g_max")
)


def _count(value: float | ParameterRange) -> Any:
    if isinstance(value, ParameterRange):
        from ecologits.utils.range_value import RangeValue

        return RangeValue(min=value.min, max=value.max)
    return value


def _bounds(value: Any) -> tuple[float, float]:
    # EcoLogits gives a plain number, or a RangeValue when an input was a range.
    if hasattr(value, "min"):
        return float(value.min), float(value.max)
    return float(value), float(value)


class Estimator:
    """Estimates the impacts of the answers of one model; the zone's mix is looked up once."""

    def __init__(self, model_id: str, footprint: ModelFootprint) -> None:
        from ecologits.electricity_mix_repository import electricity_mixes

        mix = electricity_mixes.find_electricity_mix(zone=footprint.zone)
        if mix is None:
            raise ModelsFileError(
                f"model {model_id!r}: EcoLogits knows no electricity mix for zone "
                f"{footprint.zone!r} (use an ISO 3166-1 alpha-3 code such as FRA, or WOR)"
            )
        active = footprint.active_parameters or footprint.total_parameters
        self._inputs: dict[str, Any] = {
            "model_active_parameter_count": _count(active),
            "model_total_parameter_count": _count(footprint.total_parameters),
            "if_electricity_mix_adpe": mix.adpe,
            "if_electricity_mix_pe": mix.pe,
            "if_electricity_mix_gwp": mix.gwp,
            "if_electricity_mix_wue": mix.wue,
            "datacenter_pue": footprint.datacenter_pue,
            "datacenter_wue": footprint.datacenter_wue,
        }

    def estimate(self, output_tokens: int, latency_s: float) -> Impacts | None:
        """The impacts of an answer of `output_tokens` tokens that took `latency_s` seconds."""
        if output_tokens <= 0:
            return None  # nothing was generated: EcoLogits has nothing to model
        from ecologits.impacts.llm import compute_llm_impacts

        result = compute_llm_impacts(
            output_token_count=output_tokens, request_latency=latency_s, **self._inputs
        )
        energy = _bounds(result.energy.value)
        gwp = _bounds(result.gwp.value)
        return Impacts(energy[0], energy[1], gwp[0], gwp[1])


def estimators(models: Iterable[ModelConfig]) -> dict[str, Estimator]:
    """One estimator per chat model that declares its footprint (checked at start-up)."""
    return {
        model.id: Estimator(model.id, model.footprint)
        for model in models
        if model.footprint is not None and model.type is ModelType.CHAT
    }

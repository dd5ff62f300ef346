"""Figures of energy and CO2 in words a person understands.

Factors of the comparisons (kept here with their source, so that they can be checked):
- a petrol or diesel car emits 218 g CO2eq per km, manufacture included: ADEME, Base
  Empreinte, as published by impactco2.fr ("voiture thermique", 0.218 kgCO2e/km);
- one full charge of a smartphone takes 0.019 kWh: US EPA, Greenhouse Gas Equivalencies
  Calculator, "Calculations and References", "number of smartphones charged".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

CAR_G_PER_KM = 218.0
PHONE_CHARGE_KWH = 0.019


def _mean(bounds: Any) -> float:
    return (float(bounds["min"]) + float(bounds["max"])) / 2


def _short(value: float, locale: str) -> str:
    """Two significant digits, in the reader's number format (0,12 in French)."""
    if value == 0:
        return format_decimal(0, locale=locale)
    return format_decimal(float(f"{value:.2g}"), format="#,##0.################", locale=locale)


@dataclass(frozen=True, slots=True)
class AnswerFigures:
    """The middle of EcoLogits' range for one answer, in Wh and g CO2eq, formatted."""

    energy_wh: str
    gwp_g: str


def answer_figures(impacts: dict[str, Any] | None, locale: str) -> AnswerFigures | None:
    """The figures shown under an answer, from its `usage.impacts`; None without any."""
    if not impacts:
        return None
    energy_wh = _mean(impacts["energy"]) * 1000
    gwp_g = _mean(impacts["gwp"]) * 1000
    return AnswerFigures(_short(energy_wh, locale), _short(gwp_g, locale))


@dataclass(frozen=True, slots=True)
class Totals:
    """An organisation's energy and CO2 over a period, and what they compare to."""

    energy_kwh: float
    gwp_kg: float
    car_km: float
    phone_charges: float

    def formatted(self, locale: str) -> dict[str, str]:
        """Each figure in the reader's number format."""
        return {
            "energy_kwh": _short(self.energy_kwh, locale),
            "gwp_kg": _short(self.gwp_kg, locale),
            "car_km": _short(self.car_km, locale),
            "phone_charges": format_decimal(round(self.phone_charges), locale=locale),
        }


def totals(
    energy_kwh_min: float, energy_kwh_max: float, gwp_g_min: float, gwp_g_max: float
) -> Totals:
    """Totals from the summed ranges of the rollups (the middle of each range)."""
    energy = (energy_kwh_min + energy_kwh_max) / 2
    gwp_g = (gwp_g_min + gwp_g_max) / 2
    return Totals(
        energy_kwh=energy,
        gwp_kg=gwp_g / 1000,
        car_km=gwp_g / CAR_G_PER_KM,
        phone_charges=energy / PHONE_CHARGE_KWH,
    )

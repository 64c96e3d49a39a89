"""Catalogue of questionnaires the app can deliver, keyed by instrument id."""

from api.domain.instruments import cssrs_screener, daily, gad2, gad7, pcl5, phq2, phq9, who5
from api.domain.instruments.model import Band, Instrument, Item, Option, instrument_to_dict

CATALOGUE: dict[str, Instrument] = {
    module.DEFINITION.id: module.DEFINITION
    for module in (daily, phq9, phq2, gad7, gad2, pcl5, who5, cssrs_screener)
}


def get_instrument(instrument_id: str) -> Instrument | None:
    return CATALOGUE.get(instrument_id)


__all__ = ["CATALOGUE", "Band", "Instrument", "Item", "Option", "get_instrument", "instrument_to_dict"]

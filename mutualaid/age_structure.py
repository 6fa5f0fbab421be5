"""The members' age structure on joining: one assumption, used by the population generator
and by the cost projection, so a synthetic population and a projected one age alike.

Weights by 5-year band 0-4 ... 55-59 (the plan takes members from 30 days to 59 years old and
they leave at 60). An assumption, not a fitted model, made of three rounded factors per band:
- China's population by age, 2020 census (7th national census, millions);
- a rough share of people living with a diagnosed chronic disease, rising from about 1% in
  children to about 40% in the late fifties (the shape China's National Health Services
  Surveys report for chronic-disease prevalence by age): this plan is for them;
- the platform's reach, an online mutual-aid plan joined from a phone: high up to 40, then
  falling with internet use (about half in the late fifties); children join through parents.
The result skews older than the country: median age about 47, about seven members in ten
aged 40 or over, every 10-year band present. Birth days are uniform within a band.

>>> len(AGE_WEIGHTS) == len(AGE_BAND_YEARS) - 1
True
"""

from __future__ import annotations

AGE_BAND_YEARS: tuple[int, ...] = (0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60)
CENSUS_2020_MILLIONS: tuple[float, ...] = (
    77.9, 90.2, 85.3, 72.7, 74.9, 91.9, 124.1, 99.0, 93.0, 114.2, 121.2, 101.4,
)  # fmt: skip
CHRONIC_SHARE: tuple[float, ...] = (
    0.01, 0.01, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25, 0.33, 0.42,
)  # fmt: skip
REACH: tuple[float, ...] = (0.9, 0.9, 0.9, 0.95, 0.95, 0.95, 0.95, 0.9, 0.85, 0.75, 0.6, 0.5)
AGE_WEIGHTS: tuple[float, ...] = tuple(
    census * chronic * reach
    for census, chronic, reach in zip(CENSUS_2020_MILLIONS, CHRONIC_SHARE, REACH, strict=True)
)

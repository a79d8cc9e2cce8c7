"""Incident locations: swapped axes only when the swap lands in the served area."""

import numpy as np
import pandas as pd

from gridpatrol.geo.incidents import prepare_incidents
from gridpatrol.services.project import default_taxonomy

HELSINKI = (24.90, 60.15, 25.00, 60.20)


def _reasons(points, *, bounds=HELSINKI):
    rows = pd.DataFrame(
        {
            "incident_id": [f"r{i}" for i in range(len(points))],
            "reported_at": ["2026-01-01T10:00:00+02:00"] * len(points),
            "category": ["traffic"] * len(points),
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
        }
    )
    out = prepare_incidents(
        rows,
        taxonomy=default_taxonomy(),
        now=pd.Timestamp("2026-02-01", tz="UTC"),
        served_bounds=bounds,
    )
    return dict(zip(out.rejected["incident_id"], out.rejected["reason"], strict=True)), out.accepted


def test_impossible_latitude_whose_swap_is_elsewhere_is_out_of_range():
    reasons, accepted = _reasons(
        [(24.945, 160.168), (60.168, 24.945), (24.945, 60.168), (200.0, 60.1)]
    )
    assert "latitude 160.168 is out of range (-90..90)" in reasons["r0"]
    assert "swapped" not in reasons["r0"]
    assert "swapped" in reasons["r1"]  # the swap lies in Helsinki
    assert "longitude 200 is out of range (-180..180)" in reasons["r3"]
    assert accepted["incident_id"].tolist() == ["r2"]


def test_impossible_latitude_without_a_served_area_is_swapped_only_if_the_swap_is_valid():
    reasons, _ = _reasons([(24.945, 160.168), (24.945, 260.0)], bounds=None)
    assert "swapped" in reasons["r0"]  # (160.168, 24.945) is a valid lon/lat pair
    assert "latitude 260 is out of range (-90..90)" in reasons["r1"]


def test_non_finite_coordinates_are_named():
    reasons, accepted = _reasons(
        [(np.nan, 60.17), (24.94, np.inf), (-np.inf, 60.17), (24.94, 60.17)]
    )
    assert reasons["r0"] == "lon is not a finite number"
    assert reasons["r1"] == "lat is not a finite number"
    assert reasons["r2"] == "lon is not a finite number"
    assert accepted["incident_id"].tolist() == ["r3"]

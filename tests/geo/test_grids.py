"""The one code allocator (geo/grids.child_codes) and the codes it gives."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.grids import assign_codes, child_codes

P = "110101001001"  # a community code


def test_fresh_codes_count_up_with_the_level_digits():
    assert child_codes(P, 3, level="grid") == [P + "001", P + "002", P + "003"]
    assert child_codes("110101", 2, level="street") == ["110101001", "110101002"]
    assert child_codes(P, 0, level="grid") == []


def test_taken_codes_are_skipped_and_gaps_filled_first():
    taken = {P + "001", P + "003", P + "004", "elsewhere001"}
    assert child_codes(P, 3, level="grid", taken=taken) == [P + "002", P + "005", P + "006"]


def test_a_full_parent_and_unknown_levels_are_refused():
    assert len(child_codes(P, 999, level="grid")) == 999
    with pytest.raises(SchemaError, match="at most 999 grids"):
        child_codes(P, 1000, level="grid")
    with pytest.raises(SchemaError, match="at most 999 grids"):
        child_codes(P, 2, level="grid", taken={f"{P}{i:03d}" for i in range(1, 999)})
    with pytest.raises(SchemaError, match="level must be one of"):
        child_codes(P, 1, level="block")


def test_assign_codes_follows_the_reading_order():
    # two rows of two: north-west first, then east, then the southern row
    cells = gpd.GeoDataFrame(
        geometry=[
            box(100, 0, 200, 100),
            box(0, 100, 100, 200),
            box(0, 0, 100, 100),
            box(100, 100, 200, 200),
        ],
        crs="EPSG:32650",
    )
    out = assign_codes(cells, parent_code=P)
    assert list(out["code"]) == [P + "001", P + "002", P + "003", P + "004"]
    assert [g.bounds[:2] for g in out.geometry] == [(0, 100), (100, 100), (0, 0), (100, 0)]

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridpatrol.geo.errors import CRSError, InvalidGeometryError, SchemaError
from gridpatrol.geo.model import LAYERS, validate_layer


def grid(geom, **cols):
    data = {"code": ["091001001001001"], **{k: [v] for k, v in cols.items()}}
    return gpd.GeoDataFrame(data, geometry=[geom], crs=4326)


def test_every_layer_declares_its_key_among_its_columns():
    for layer in LAYERS.values():
        assert set(layer.key) <= set(layer.column_names), layer.name


def test_valid_layer_gets_model_columns_and_defaults():
    out = validate_layer(grid(shapely.box(24.9, 60.1, 25.0, 60.2), extra="x"), "grids")
    assert list(out.columns) == LAYERS["grids"].column_names + ["geometry"]
    assert out["version"].iloc[0] == 1 and out["level"].iloc[0] == "grid"
    assert out.crs.to_epsg() == 4326


def test_projected_input_comes_out_in_wgs84():
    g = grid(shapely.box(385000, 6671000, 386000, 6672000)).set_crs(32635, allow_override=True)
    out = validate_layer(g, "grids")
    assert 24 < out.geometry.iloc[0].centroid.x < 26


def test_self_intersecting_polygon_names_feature_and_reason():
    bowtie = shapely.Polygon([(24.9, 60.1), (25.0, 60.2), (25.0, 60.1), (24.9, 60.2)])
    with pytest.raises(
        InvalidGeometryError, match=r"grids.geojson: feature 0 \(code=.*Self-intersection"
    ):
        validate_layer(grid(bowtie), "grids", source="grids.geojson")


def test_wrong_geometry_type():
    with pytest.raises(InvalidGeometryError, match="is a Point, but layer 'grids' must be Polygon"):
        validate_layer(grid(shapely.Point(24.9, 60.1)), "grids")


def test_empty_geometry():
    with pytest.raises(InvalidGeometryError, match="has an empty geometry"):
        validate_layer(grid(shapely.Polygon()), "grids")


def test_missing_required_column():
    g = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(SchemaError, match="needs column"):
        validate_layer(g, "grids")


def test_wrong_type_in_column():
    g = grid(shapely.box(24.9, 60.1, 25.0, 60.2), households="many")
    with pytest.raises(SchemaError, match="'households' is not a number"):
        validate_layer(g, "grids")


def test_missing_crs():
    g = grid(shapely.box(24.9, 60.1, 25.0, 60.2)).set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="--crs"):
        validate_layer(g, "grids")


def test_non_spatial_layer():
    df = pd.DataFrame({"team_id": ["T1"], "station_id": ["S1"]})
    out = validate_layer(df, "teams")
    assert out["speed_kmh"].iloc[0] == 4.0

"""Input and output shapes. Spatial output is RFC 7946 GeoJSON in WGS84."""

from __future__ import annotations

import json
from typing import Any, Literal

import geopandas as gpd
from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    store: str
    schema_version: int


class LayerInfo(BaseModel):
    name: str
    description: str
    geometry_types: list[str]
    count: int
    columns: dict[str, str]


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A page of features; ``numberMatched`` counts all, ``links`` has the next page."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
    numberMatched: int | None = None
    numberReturned: int = 0
    links: list[dict[str, str]] = Field(default_factory=list)


def to_feature_collection(gdf: gpd.GeoDataFrame, *, id_column: str | None = None) -> dict:
    """A WGS84 GeoDataFrame as an RFC 7946 FeatureCollection dict (datetimes as ISO text)."""
    data = json.loads(gdf.to_json(na="null", show_bbox=False, drop_id=True, to_wgs84=True))
    if id_column is not None:
        for feature, value in zip(data["features"], gdf[id_column], strict=True):
            feature["id"] = value
    data["numberReturned"] = len(data["features"])
    return data

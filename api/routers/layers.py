"""Read-only GeoJSON endpoints, one per spatial layer, with bbox filtering and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gridpatrol.api.deps import PageDep, StoreDep
from gridpatrol.api.schemas import FeatureCollection, LayerInfo, to_feature_collection
from gridpatrol.geo.errors import SchemaError
from gridpatrol.geo.model import LAYERS, get_layer
from gridpatrol.services.project import project_settings

router = APIRouter(prefix="/api", tags=["layers"])

#: Layers served as GeoJSON, and the filters each accepts.
PUBLISHED = {
    "areas": ("level", "parent_code"),
    "grids": ("version", "parent_code", "level"),
    "buildings": (),
    "addresses": (),
    "cameras": ("camera_type",),
    "streets": ("network",),
    "stations": (),
}


@router.get("/layers", response_model=list[LayerInfo])
def list_layers(store: StoreDep) -> list[LayerInfo]:
    """The layers this service publishes, with their columns and feature counts."""
    return [
        LayerInfo(
            name=name,
            description=LAYERS[name].doc,
            geometry_types=list(LAYERS[name].geometry_types),
            count=store.count(name),
            columns={c.name: c.dtype for c in LAYERS[name].columns},
        )
        for name in PUBLISHED
    ]


def _make_endpoint(name: str, filters: tuple[str, ...]):
    spec = get_layer(name)

    def endpoint(
        request: Request,
        store: StoreDep,
        page: PageDep,
        version: Annotated[int | None, Query()] = None,
        parent_code: Annotated[str | None, Query()] = None,
        level: Annotated[str | None, Query()] = None,
        camera_type: Annotated[str | None, Query()] = None,
        network: Annotated[str | None, Query()] = None,
    ) -> dict:
        given = {
            "version": version,
            "parent_code": parent_code,
            "level": level,
            "camera_type": camera_type,
            "network": network,
        }
        stray = [k for k, v in given.items() if v is not None and k not in filters]
        if stray:
            raise SchemaError(
                f"filter {stray[0]!r} does not apply to {name}; "
                f"its filters are: {', '.join(filters) or 'bbox only'}"
            )
        where = {k: v for k, v in given.items() if k in filters and v is not None}
        if name == "grids" and "version" not in where:
            where["version"] = project_settings(store).active_grid_version
        gdf = store.read(name, bbox=page.bbox, where=where, limit=page.limit, offset=page.offset)
        matched = store.count(name, bbox=page.bbox, where=where)
        key = spec.key[-1] if len(spec.key) else None
        body = to_feature_collection(gdf, id_column=key)
        body["numberMatched"] = matched
        if page.offset + len(gdf) < matched:
            nxt = request.url.include_query_params(offset=page.offset + len(gdf), limit=page.limit)
            body["links"] = [{"rel": "next", "href": str(nxt), "type": "application/geo+json"}]
        return body

    endpoint.__name__ = f"get_{name}"
    endpoint.__doc__ = f"{spec.doc} GeoJSON (WGS84), filtered by bbox, paged by limit/offset."
    return endpoint


for _name, _filters in PUBLISHED.items():
    router.add_api_route(
        f"/{_name}",
        _make_endpoint(_name, _filters),
        methods=["GET"],
        response_model=FeatureCollection,
        response_model_exclude_none=True,
        name=f"get_{_name}",
        summary=f"{_name.capitalize()} as GeoJSON",
    )

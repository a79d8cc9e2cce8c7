"""The service's one settings class (environment prefix ``GRIDPATROL_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Settings read from the environment, e.g. ``GRIDPATROL_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="GRIDPATROL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///gridpatrol.db",
        description="sqlite:///path for the embedded store, postgresql://... for PostGIS",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    basemap: str = Field(
        "none",
        description="none (our own layers only), osm, amap, tencent, tianditu, local "
        "(basemap_file), or a tile URL template",
    )
    basemap_key: str = Field("", description="API key for basemaps that need one (Tianditu)")
    basemap_file: str = Field(
        "", description="MBTiles file served at /basemap/{z}/{x}/{y} (basemap=local)"
    )
    max_page_size: int = Field(10_000, description="largest page a layer endpoint returns")
    max_body_mb: float = Field(20.0, description="largest request body accepted")
    escalation_interval_s: float = Field(
        60.0, description="how often overdue incidents are escalated; 0 turns the timer off"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        ["localhost", "127.0.0.1", "::1"],
        description="Host header values served (comma-separated; '*.example.org' matches "
        "subdomains); any other Host is answered 421 (DNS rebinding)",
    )
    max_upload_mb: float = Field(100.0, description="largest file upload accepted")
    production: bool = Field(
        False,
        description="refuse to start with unsafe defaults (no admin token, '*' hosts, "
        "http public_url)",
    )
    embed_min_count: int = Field(
        5, ge=1, description="embeds show incident counts below this as '<k'"
    )
    public_url: str = Field(
        "", description="https://host embed codes point at; empty: the request's URL"
    )
    frame_ancestors: str = Field("'self'", description="origins allowed to embed our pages")
    cpu_processes: int = Field(
        1,
        ge=0,
        description="helper processes for CPU-heavy work (storing queued reports, map "
        "pages), so it does not stall other requests; 0 runs it in the server's threads",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value):
        return (
            [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()

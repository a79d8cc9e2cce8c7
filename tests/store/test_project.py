"""ProjectSettings: one typed read of every project setting, and checked updates."""

import pytest

from gridpatrol.geo.errors import SchemaError
from gridpatrol.services.project import (
    ProjectSettings,
    default_taxonomy,
    project_settings,
    update_project,
)


def test_a_new_project_reads_the_defaults(store):
    got = project_settings(store)
    assert got == ProjectSettings()
    assert got.timezone is None and got.tz == "UTC"
    assert got.active_grid_version == 1
    assert got.taxonomy.categories.keys() == default_taxonomy().categories.keys()


def test_settings_round_trip_in_one_read(store):
    store.set_setting("bounds", [24.9, 60.1, 25.0, 60.2])
    store.set_setting("active_grid_version", 3)
    got = update_project(store, timezone="Asia/Shanghai", name="东城")
    assert got.timezone == "Asia/Shanghai" and got.tz == "Asia/Shanghai"
    assert got.name == "东城"
    assert got.bounds == (24.9, 60.1, 25.0, 60.2)
    assert got.active_grid_version == 3
    assert project_settings(store) == got


def test_a_bad_update_changes_nothing(store):
    update_project(store, timezone="Europe/Helsinki")
    with pytest.raises(SchemaError, match="unknown time zone"):
        update_project(store, timezone="Mars/Olympus", name="x")
    with pytest.raises(SchemaError, match="no categories"):
        update_project(store, taxonomy={"_comment": "empty"}, name="x")
    got = project_settings(store)
    assert got.timezone == "Europe/Helsinki" and got.name == ""


def test_a_custom_taxonomy_is_used(store):
    full = default_taxonomy().to_dict()
    first = next(iter(full))
    got = update_project(store, taxonomy={first: full[first]})
    assert list(got.taxonomy.categories) == [first]

"""Page drawing run in a helper process (:mod:`gridpatrol.services.offload`).

Kept out of the routers: a helper process opens the store itself from its URL, which
routers never do (they get a store through ``StoreDep``).
"""

from __future__ import annotations

from gridpatrol.store.base import open_store


def grids_page_html(url: str, page, *, measure: str, details: bool, min_count: int) -> str:
    """The grids page (run in the pages helper process: folium holds the GIL)."""
    from gridpatrol.api.routers.maps import (
        analysis,
        nav_targets,
        offline_html,
        render_grids,
        with_nav,
    )

    with open_store(url) as store:
        grids = analysis.grid_measures(store)
        if not details and len(grids):
            grids = analysis.suppress_small_counts(grids, column="incidents", min_count=min_count)
        grids = page.shift({"grids": grids})["grids"]
        html = offline_html(render_grids(grids, **page.render(measure=measure)))
        return with_nav(html, page.lang, nav_targets(store), current="grids")

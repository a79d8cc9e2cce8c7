"""The navigation bar, and the maps package's import graph."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from gridpatrol.maps.nav import NavTargets, nav_links, with_nav

MAPS = Path(__file__).resolve().parents[2] / "maps"


def test_links_are_root_relative_and_keep_the_language():
    links = nav_links("zh", NavTargets(editor_version=3, plan_id="abc"))
    hrefs = {key: href for key, _, href in links}
    assert hrefs["editor"] == "/editor/3?lang=zh" and hrefs["patrols"] == "/patrols/abc?lang=zh"
    assert hrefs["docs"] == "/docs?lang=zh" and hrefs["overview"] == "/?lang=zh"
    assert nav_links("en", NavTargets())[4][2] == "/patrols?lang=en"  # no plan yet: the index


def test_bar_goes_right_after_body():
    page = with_nav('<html><body class="x"><div id="map"></div></body></html>', "en", NavTargets())
    after_body = page.split('<body class="x">', 1)[1]
    assert after_body.startswith("<style>")
    assert after_body.index('<nav id="gp-nav"') < after_body.index('<div id="map">')
    assert 'aria-current="page"' not in page
    marked = with_nav("<body></body>", "en", NavTargets(), current="grids")
    assert '<a href="/maps/grids?lang=en" aria-current="page">Grids</a>' in marked


def test_maps_modules_import_no_cycle():
    """Module-level imports between maps modules form no cycle (issue 11)."""
    graph = nx.DiGraph()
    for path in MAPS.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: a function-local import is deliberate
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                graph.add_edge(path.stem, node.module.split(".")[0])
    assert list(nx.simple_cycles(graph)) == []

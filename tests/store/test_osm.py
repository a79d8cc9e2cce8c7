import bz2

import pytest

from gridpatrol.geo.errors import InputFileError
from gridpatrol.store.osm import read_osm

OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1700" lon="24.9420"/>
  <node id="3" lat="60.1710" lon="24.9420"/>
  <node id="4" lat="60.1710" lon="24.9400"/>
  <node id="5" lat="60.1690" lon="24.9400"/>
  <node id="6" lat="60.1690" lon="24.9420"/>
  <node id="10" lat="60.17020" lon="24.94050"/>
  <node id="11" lat="60.17020" lon="24.94100"/>
  <node id="12" lat="60.17060" lon="24.94100"/>
  <node id="13" lat="60.17060" lon="24.94050"/>
  <node id="20" lat="60.17040" lon="24.94150">
    <tag k="man_made" v="surveillance"/>
    <tag k="surveillance:type" v="camera"/>
    <tag k="camera:direction" v="SW"/>
    <tag k="camera:type" v="fixed"/>
  </node>
  <way id="100"><nd ref="5"/><nd ref="1"/><nd ref="4"/><tag k="highway" v="residential"/><tag k="name" v="Testikatu"/></way>
  <way id="101"><nd ref="6"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/><tag k="name" v="Yksisuuntainen"/></way>
  <way id="102"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>
  <way id="103"><nd ref="4"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="200"><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="10"/>
    <tag k="building" v="apartments"/><tag k="building:levels" v="6"/>
    <tag k="addr:street" v="Testikatu"/><tag k="addr:housenumber" v="3"/></way>
</osm>
"""


def test_helsinki_pbf_has_real_buildings_cameras_and_streets(helsinki):
    assert len(helsinki.cameras) == 221
    assert 450 <= len(helsinki.buildings) <= 486
    assert helsinki.buildings["households"].sum() > 0
    walk_nodes, walk_edges = helsinki.networks["walk"]
    drive_nodes, drive_edges = helsinki.networks["drive"]
    assert len(walk_edges) > 1000 and walk_edges["length_m"].gt(0).all()
    assert drive_edges["oneway"].any()
    assert (helsinki.addresses["housenumber"] != "").all()
    # defaults are flagged
    assert helsinki.cameras["defaulted"].str.contains("range_m").all()


@pytest.mark.parametrize("compress", [False, True])
def test_osm_xml_and_bz2(tmp_path, compress):
    path = tmp_path / ("small.osm.bz2" if compress else "small.osm")
    data = OSM_XML.encode()
    path.write_bytes(bz2.compress(data) if compress else data)
    osm = read_osm(path)
    b = osm.buildings.iloc[0]
    assert b["use"] == "apartments" and b["levels"] == 6 and b["addr_street"] == "Testikatu"
    assert b["households"] >= 1 and b["households_estimated"]
    cam = osm.cameras.iloc[0]
    assert cam["direction"] == 225.0 and cam["camera_type"] == "fixed"
    assert "direction" not in cam["defaulted"].split(",")
    walk = osm.networks["walk"][1]
    drive = osm.networks["drive"][1]
    assert "footway" in set(walk["highway"]) and "footway" not in set(drive["highway"])
    oneway = drive[drive["name"] == "Yksisuuntainen"]
    assert len(oneway) >= 1 and oneway["oneway"].all()
    # a one-way street is one directed edge for cars, but walkable both ways
    pairs = set(zip(walk["u"], walk["v"], strict=False))
    assert (6, 2) in pairs and (2, 6) in pairs
    assert (2, 6) not in set(zip(drive["u"], drive["v"], strict=False))


def test_broken_bz2_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.osm.bz2"
    path.write_bytes(b"BZh9 definitely not bzip2")
    with pytest.raises(InputFileError, match="broken.osm.bz2: cannot read it"):
        read_osm(path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello")
    with pytest.raises(InputFileError, match="not an OSM file"):
        read_osm(path)


def _without(xml: str, *needles: str) -> str:
    return "\n".join(line for line in xml.splitlines() if not any(n in line for n in needles))


def test_extract_without_cameras_imports_with_a_note(tmp_path):
    path = tmp_path / "nocams.osm"
    path.write_text(_without(OSM_XML, 'k="man_made"', 'k="surveillance:type"', 'k="camera:'))
    osm = read_osm(path)
    assert len(osm.cameras) == 0 and len(osm.buildings) == 1
    assert any(n.startswith("no cameras") for n in osm.notes)
    layers = osm.layers()
    assert list(layers["cameras"].columns)  # the model's columns, ready for Store.write


def test_streets_only_extract_imports_with_notes(tmp_path):
    xml = OSM_XML.split('  <way id="200">')[0] + "</osm>\n"
    path = tmp_path / "streets.osm"
    path.write_text(xml)
    osm = read_osm(path)
    assert len(osm.buildings) == 0 and len(osm.addresses) == 0
    assert len(osm.networks["walk"][1]) > 0
    assert any(n.startswith("no buildings") for n in osm.notes)
    assert any(n.startswith("no addresses") for n in osm.notes)
    minx, miny, maxx, maxy = osm.bounds
    assert 24.93 < minx < maxx < 24.95 and 60.16 < miny < maxy < 60.18  # from the streets


def test_extract_with_nothing_usable_is_an_error(tmp_path):
    path = tmp_path / "empty.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6"><node id="1" lat="60" lon="24"/></osm>'
    )
    with pytest.raises(InputFileError, match="no buildings, streets or cameras"):
        read_osm(path)

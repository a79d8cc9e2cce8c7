/* gridpatrol grid editor: edit a draft grid version, validate it as you go, save it.
 *
 * Started by gridpatrol.maps.editor.GridEditor:  window.gridEditor.init(map, config)
 * (config: version, revision, status, editable, grids (FeatureCollection), parents,
 * labels, styles (per problem kind), urls {version, versions, report, editor}).
 *
 * Geometry operations use the polygon clipping bundled in Leaflet-Geoman 2.20 (the
 * difference behind its Cut tool); union and intersection are built from differences.
 *
 * Public API (also for tests): window.gridEditor.{map, features, codes, layer, select,
 * setGeometry, addGrid, remove, merge, splitByLine, save, reload, refreshReport,
 * whenIdle, state}.
 */
(function () {
  "use strict";

  var GRID_STYLE = { color: "#d9480f", weight: 2.5, fillColor: "#ffa94d", fillOpacity: 0.15 };
  var OUT_OF_BAND_FILL = "#ff8787";
  var SELECTED_STYLE = { color: "#1971c2", weight: 4, fillColor: "#74c0fc", fillOpacity: 0.35 };
  var REPORT_DELAY_MS = 700;
  var M_PER_DEG = 111320;

  var ed = null;  // the one editor of the page

  // ---------------------------------------------------------------- small helpers

  function $(id) { return document.getElementById(id); }

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function t(key) { return (ed && ed.labels[key]) || key; }

  function clone(obj) { return JSON.parse(JSON.stringify(obj)); }

  function number(value, digits) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    return Number(value).toLocaleString(ed.lang === "zh" ? "zh-CN" : "en",
      { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 });
  }

  // ---------------------------------------------------------------- geometry

  function polygonsOf(geom) {
    if (!geom) return [];
    if (geom.type === "Polygon") return [geom.coordinates];
    if (geom.type === "MultiPolygon") return geom.coordinates;
    return [];
  }

  function bboxOf(geoms) {
    var b = [Infinity, Infinity, -Infinity, -Infinity];
    geoms.forEach(function (g) {
      var rings = g.type === "LineString" ? [g.coordinates] : [].concat.apply([], polygonsOf(g));
      rings.forEach(function (ring) {
        ring.forEach(function (p) {
          b[0] = Math.min(b[0], p[0]); b[1] = Math.min(b[1], p[1]);
          b[2] = Math.max(b[2], p[0]); b[3] = Math.max(b[3], p[1]);
        });
      });
    });
    return b;
  }

  /** Area in square metres (planar, good enough to tell a piece from a sliver). */
  function areaM2(geom) {
    var total = 0;
    polygonsOf(geom).forEach(function (poly) {
      poly.forEach(function (ring, i) {
        var a = 0, lat = 0;
        for (var k = 0; k < ring.length - 1; k++) {
          a += ring[k][0] * ring[k + 1][1] - ring[k + 1][0] * ring[k][1];
          lat += ring[k][1];
        }
        var cos = Math.cos((lat / Math.max(ring.length - 1, 1)) * Math.PI / 180);
        a = Math.abs(a / 2) * M_PER_DEG * M_PER_DEG * cos;
        total += i === 0 ? a : -a;
      });
    });
    return total;
  }

  function boxPolygon(b) {
    return { type: "Polygon", coordinates: [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]] };
  }

  function grow(b, f) {
    var dx = (b[2] - b[0]) * f + 1e-4, dy = (b[3] - b[1]) * f + 1e-4;
    return [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy];
  }

  /** a - b (GeoJSON geometries) -> geometry or null, with Geoman's bundled clipping. */
  function difference(a, b) {
    var cut = ed.map.pm && ed.map.pm.Draw && ed.map.pm.Draw.Cut;
    if (!cut || typeof cut._cutLayer !== "function") {
      throw new Error("Leaflet-Geoman's Cut._cutLayer is missing (Geoman 2.20 expected)");
    }
    var target = L.geoJSON({ type: "Feature", properties: {}, geometry: a }).getLayers()[0];
    var cutter = { toGeoJSON: function () { return { type: "Feature", properties: {}, geometry: b }; } };
    var out = cut._cutLayer(cutter, target);
    return out && out.geometry ? clean(out.geometry) : null;
  }

  /** Drop repeated points and zero-width spikes from clipped rings: in degrees they are
   *  valid, but reprojected to metres a spike a few centimetres long can cross itself. */
  function cleanRing(ring) {
    var pts = ring.slice(0, -1), changed = true;
    while (changed && pts.length > 3) {
      changed = false;
      for (var i = 0; i < pts.length && pts.length > 3; i++) {
        var a = pts[(i + pts.length - 1) % pts.length], b = pts[i], c = pts[(i + 1) % pts.length];
        var ux = b[0] - a[0], uy = b[1] - a[1], vx = c[0] - b[0], vy = c[1] - b[1];
        var lu = Math.hypot(ux, uy), lv = Math.hypot(vx, vy);
        var spike = lu > 0 && lv > 0 && (ux * vx + uy * vy) < 0 && Math.abs(ux * vy - uy * vx) < 0.02 * lu * lv;
        if (lu < 1e-8 || spike) { pts.splice(i, 1); changed = true; i--; }
      }
    }
    return pts.length > 2 ? pts.concat([pts[0].slice()]) : null;
  }

  function clean(geom) {
    var polys = polygonsOf(geom).map(function (poly) {
      var rings = poly.map(cleanRing);
      return rings[0] ? [rings[0]].concat(rings.slice(1).filter(Boolean)) : null;
    }).filter(Boolean);
    if (!polys.length) return null;
    return polys.length === 1 ? { type: "Polygon", coordinates: polys[0] } : { type: "MultiPolygon", coordinates: polys };
  }

  function union(a, b) {
    var box = boxPolygon(grow(bboxOf([a, b]), 0.1));
    var outsideA = difference(box, a);
    if (!outsideA) return box;
    var outsideBoth = difference(outsideA, b);
    return outsideBoth ? difference(box, outsideBoth) : box;
  }

  /** The part of box b left of the directed polyline pts (extended to the box edges). */
  function leftOfLine(pts, b) {
    function exit(p, d) {  // where the ray p + s*d (s > 0) leaves the box
      var s = Infinity;
      if (d[0] > 0) s = Math.min(s, (b[2] - p[0]) / d[0]);
      if (d[0] < 0) s = Math.min(s, (b[0] - p[0]) / d[0]);
      if (d[1] > 0) s = Math.min(s, (b[3] - p[1]) / d[1]);
      if (d[1] < 0) s = Math.min(s, (b[1] - p[1]) / d[1]);
      return [p[0] + s * d[0], p[1] + s * d[1]];
    }
    function perimeter(p) {  // 0..4 counter-clockwise from the lower left corner
      var eps = 1e-12 * Math.max(1, Math.abs(b[2]), Math.abs(b[3]));
      if (Math.abs(p[1] - b[1]) < eps) return (p[0] - b[0]) / (b[2] - b[0]);
      if (Math.abs(p[0] - b[2]) < eps) return 1 + (p[1] - b[1]) / (b[3] - b[1]);
      if (Math.abs(p[1] - b[3]) < eps) return 2 + (b[2] - p[0]) / (b[2] - b[0]);
      return 3 + (b[3] - p[1]) / (b[3] - b[1]);
    }
    var n = pts.length - 1;
    var start = exit(pts[0], [pts[0][0] - pts[1][0], pts[0][1] - pts[1][1]]);
    var end = exit(pts[n], [pts[n][0] - pts[n - 1][0], pts[n][1] - pts[n - 1][1]]);
    var corners = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]];
    var ring = [start].concat(pts, [end]);
    var s = perimeter(end), e = perimeter(start);
    if (e <= s) e += 4;
    for (var k = Math.floor(s) + 1; k < e; k++) ring.push(corners[k % 4]);
    ring.push(start);
    return { type: "Polygon", coordinates: [ring] };
  }

  // ---------------------------------------------------------------- grid layers

  function gridLayers() { return ed.grids.getLayers(); }

  function findLayer(code) {
    var found = null;
    ed.grids.eachLayer(function (l) { if (l.feature && l.feature.properties.code === code) found = l; });
    return found;
  }

  function codes() { return gridLayers().map(function (l) { return l.feature.properties.code; }).sort(); }

  function geometryOf(layer) { return layer.toGeoJSON(15).geometry; }

  function styleFor(layer) {
    var code = layer.feature && layer.feature.properties.code;
    if (ed.selected.indexOf(code) >= 0) return SELECTED_STYLE;
    var style = L.extend({}, GRID_STYLE);
    var m = ed.metrics[code];
    var band = ed.summary && ed.summary.band;
    if (m && band && m.households !== null && (m.households < band[0] || m.households > band[1])) {
      style.fillColor = OUT_OF_BAND_FILL;
      style.fillOpacity = 0.3;
    }
    return style;
  }

  function restyle() { ed.grids.eachLayer(function (l) { l.setStyle(styleFor(l)); }); }

  function tooltipFor(layer) {
    var p = layer.feature.properties, m = ed.metrics[p.code] || {};
    var hh = m.households !== undefined ? m.households : p.households;
    return "<b>" + esc(p.code) + "</b> " + esc(p.name || "") + "<br>" + esc(t("households")) + ": " +
      esc(number(hh)) + (m.polsby_popper !== undefined ? "<br>" + esc(t("pp")) + ": " + esc(number(m.polsby_popper, 2)) : "");
  }

  /** Make a Leaflet layer one of the editable grids (feature properties kept). */
  function adopt(layer, properties) {
    var geom = geometryOf(layer);
    layer.feature = { type: "Feature", id: properties.code, properties: properties, geometry: geom };
    layer.options.pmIgnore = false;
    if (!layer._gpBound) {
      layer._gpBound = true;
      layer.on("click", function (e) { onGridClick(layer, e); });
      // Geoman 2.20 fires pm:markerdragend per vertex drag, pm:update when edit mode ends
      layer.on("pm:edit pm:markerdragend pm:vertexremoved pm:update pm:dragend", function () {
        if (ed.grids.hasLayer(layer)) changed("edit");
      });
      layer.bindTooltip(function () { return tooltipFor(layer); }, { sticky: true });
    }
    if (!ed.grids.hasLayer(layer)) ed.grids.addLayer(layer);
    layer.setStyle(styleFor(layer));
    return layer;
  }

  function addFeature(feature) {
    var layer = L.geoJSON(feature, { renderer: ed.renderer, pmIgnore: false }).getLayers()[0];
    layer.options.renderer = ed.renderer;
    return adopt(layer, clone(feature.properties || {}));
  }

  function setGrids(fc) {
    ed.grids.clearLayers();
    ed.selected = [];
    (fc.features || []).forEach(function (f) {
      if (f.properties && f.properties.code === undefined && f.id !== undefined) f.properties.code = f.id;
      addFeature(f);
    });
  }

  function parentFor(geom) {
    var b = bboxOf([geom]), votes = {};
    gridLayers().forEach(function (l) {
      var g = l.getBounds();
      if (g.getWest() <= b[2] && g.getEast() >= b[0] && g.getSouth() <= b[3] && g.getNorth() >= b[1]) {
        var p = l.feature.properties.parent_code || "";
        votes[p] = (votes[p] || 0) + 1;
      }
    });
    var best = Object.keys(votes).sort(function (x, y) { return votes[y] - votes[x]; })[0];
    if (best !== undefined) return best;
    if (ed.parents.length) return ed.parents[0];
    var any = gridLayers()[0];
    return any ? any.feature.properties.parent_code || "" : "";
  }

  function nextCode(parent) {
    var top = 0;
    codes().forEach(function (c) {
      if (c.indexOf(parent) === 0 && c.length === parent.length + 3) {
        var n = parseInt(c.slice(parent.length), 10);
        if (!isNaN(n)) top = Math.max(top, n);
      }
    });
    for (var i = 0; i < ed.retired.length; i++) {  // don't reuse a code deleted in this session
      var c = ed.retired[i];
      if (c.indexOf(parent) === 0 && c.length === parent.length + 3) top = Math.max(top, parseInt(c.slice(parent.length), 10) || 0);
    }
    return parent + String(top + 1).padStart(3, "0");
  }

  function newProperties(geom, like) {
    var parent = like ? like.parent_code : parentFor(geom);
    var code = nextCode(parent);
    return {
      code: code, name: t("new_grid") + " " + code.slice(-3), level: like ? like.level : "grid",
      parent_code: parent, kind: like ? like.kind : "comprehensive", households: 0,
    };
  }

  // ---------------------------------------------------------------- edits

  function changed(what) {
    ed.dirty = true;
    ed.edits += 1;
    ed.lastEdit = what;
    restyle();
    updatePanel();
    scheduleReport();
  }

  function onGridClick(layer, e) {
    var pm = ed.map.pm;
    if (pm && (pm.globalEditModeEnabled() || pm.globalRemovalModeEnabled() || pm.globalDrawModeEnabled() ||
      pm.globalCutModeEnabled && pm.globalCutModeEnabled())) return;
    if (e && e.originalEvent) L.DomEvent.stopPropagation(e);
    select(layer.feature.properties.code, true);
  }

  function select(code, toggle) {
    var i = ed.selected.indexOf(code);
    if (code === null || code === undefined) ed.selected = [];
    else if (i >= 0 && toggle) ed.selected.splice(i, 1);
    else if (i < 0) {
      ed.selected.push(code);
      if (ed.selected.length > 2) ed.selected.shift();
    }
    restyle();
    updatePanel();
    return ed.selected.slice();
  }

  function setGeometry(code, geometry) {
    var layer = findLayer(code);
    if (!layer) throw new Error("no grid " + code);
    var props = layer.feature.properties;
    ed.grids.removeLayer(layer);
    addFeature({ type: "Feature", properties: props, geometry: geometry });
    changed("edit");
    return code;
  }

  function addGrid(geometry, properties) {
    var props = L.extend(newProperties(geometry), properties || {});
    addFeature({ type: "Feature", properties: props, geometry: geometry });
    changed("draw");
    return props.code;
  }

  function remove(code) {
    var layer = findLayer(code);
    if (!layer) throw new Error("no grid " + code);
    ed.grids.removeLayer(layer);
    ed.retired.push(code);
    ed.selected = ed.selected.filter(function (c) { return c !== code; });
    changed("delete");
    return codes();
  }

  function merge(a, b) {
    var la = findLayer(a), lb = findLayer(b);
    if (!la || !lb || a === b) { message("info", esc(t("merge_need_two"))); return null; }
    message(null);
    var geom = union(geometryOf(la), geometryOf(lb));
    var props = clone(la.feature.properties);
    props.households = (Number(props.households) || 0) + (Number(lb.feature.properties.households) || 0);
    ed.grids.removeLayer(la);
    ed.grids.removeLayer(lb);
    ed.retired.push(b);
    addFeature({ type: "Feature", properties: props, geometry: geom });
    ed.selected = [a];
    changed("merge");
    return a;
  }

  /** Split grids along a polyline ([[lon, lat], ...] or a GeoJSON LineString).
   *  Only the given code (or the selected grid, or else every grid the line crosses). */
  function splitByLine(line, code) {
    var pts = line.type === "LineString" ? line.coordinates : line;
    pts = pts.filter(function (p, i) { return i === 0 || p[0] !== pts[i - 1][0] || p[1] !== pts[i - 1][1]; });
    if (pts.length < 2) { message("info", esc(t("split_none"))); return []; }
    var targets = code ? [code] : ed.selected.length === 1 ? ed.selected.slice() : codes();
    var made = [];
    targets.forEach(function (c) {
      var layer = findLayer(c);
      if (!layer) return;
      var geom = geometryOf(layer);
      var box = grow(bboxOf([geom, { type: "LineString", coordinates: pts }]), 0.5);
      var right = difference(geom, leftOfLine(pts, box));
      var left = right ? difference(geom, right) : null;
      if (!right || !left || areaM2(right) < 1 || areaM2(left) < 1) return;
      var props = clone(layer.feature.properties);
      ed.grids.removeLayer(layer);
      addFeature({ type: "Feature", properties: props, geometry: right });
      var other = newProperties(left, props);
      addFeature({ type: "Feature", properties: other, geometry: left });
      made.push(other.code);
    });
    if (!made.length) { message("info", esc(t("split_none"))); return []; }
    message(null);
    ed.selected = [];
    changed("split");
    return made;
  }

  // ---------------------------------------------------------------- Geoman events

  function wireGeoman() {
    var map = ed.map, pm = map.pm;
    if (ed.lang === "zh") pm.setLang("zh");
    pm.setGlobalOptions({
      layerGroup: ed.grids, snappable: true, snapDistance: 12,
      pathOptions: L.extend({ renderer: ed.renderer, pmIgnore: false }, GRID_STYLE),
      allowSelfIntersection: false,
    });
    map.on("pm:create", function (e) {
      var layer = e.layer;
      if (ed.splitting && e.shape === "Line") {
        ed.splitting = false;
        var pts = layer.getLatLngs().map(function (ll) { return [ll.lng, ll.lat]; });
        ed.grids.removeLayer(layer);
        map.removeLayer(layer);
        splitByLine(pts);
        return;
      }
      if (e.shape === "Line") { ed.grids.removeLayer(layer); map.removeLayer(layer); return; }
      var geom = geometryOf(layer);
      ed.grids.removeLayer(layer);
      map.removeLayer(layer);
      addGrid(geom);
    });
    map.on("pm:drawend", function () {
      if (ed.splitting) { ed.splitting = false; message(null); }  // cancelled (Esc)
      updatePanel();
    });
    map.on("pm:remove", function (e) {
      var code = e.layer && e.layer.feature && e.layer.feature.properties.code;
      if (!code) return;
      ed.grids.removeLayer(e.layer);
      ed.retired.push(code);
      ed.selected = ed.selected.filter(function (c) { return c !== code; });
      changed("delete");
    });
    // Geoman's Cut leaves "grid minus drawn shape"; the cut-out piece becomes a new grid.
    map.on("pm:cut", function (e) {
      var original = e.originalLayer, result = e.layer;
      if (!original || !original.feature) return;
      var before = geometryOf(original);
      var props = clone(original.feature.properties);
      var after = null;
      (result.getLayers ? result.getLayers() : [result]).forEach(function (l) {
        var g = geometryOf(l);
        after = after ? union(after, g) : g;
      });
      ed.grids.removeLayer(result);
      map.removeLayer(result);
      var piece = after ? difference(before, after) : before;
      if (after) addFeature({ type: "Feature", properties: props, geometry: after });
      if (piece && areaM2(piece) >= 1) {
        addFeature({ type: "Feature", properties: after ? newProperties(piece, props) : props, geometry: piece });
      }
      changed("cut");
    });
  }

  // ---------------------------------------------------------------- report

  function featureCollection(forSave) {
    var fresh = forSave && ed.report && ed.report.edits === ed.edits;
    return {
      type: "FeatureCollection",
      features: gridLayers().map(function (l) {
        var f = l.toGeoJSON(15), p = clone(l.feature.properties), m = ed.metrics[p.code];
        if (fresh && m && m.households !== null && m.households !== undefined) p.households = Math.round(m.households);
        return { type: "Feature", id: p.code, properties: p, geometry: f.geometry };
      }),
    };
  }

  function scheduleReport(delay) {
    if (!ed.loggedIn) return;  // checking needs a session: the panel offers the login link
    clearTimeout(ed.reportTimer);
    ed.reportPending = true;
    setStatus();
    ed.reportTimer = setTimeout(runReport, delay === undefined ? REPORT_DELAY_MS : delay);
  }

  function runReport() {
    ed.reportTimer = null;
    if (ed.reportAbort) ed.reportAbort.abort();
    var edits = ed.edits, ctrl = new AbortController();
    ed.reportAbort = ctrl;
    ed.reportInFlight = true;
    return fetch(ed.urls.report, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(featureCollection(false)), signal: ctrl.signal,
    }).then(function (r) {
      if (r.status === 401) {  // no (or an expired) session: offer to log in, not an error
        ed.loggedIn = false;
        showLogin();
        var e = new Error("login"); e.name = "AbortError"; throw e;
      }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.detail || r.statusText);
        return body;
      });
    }).then(function (body) {
      if (edits !== ed.edits) return;  // an edit came in meanwhile: its own report follows
      ed.report = { edits: edits, body: body };
      ed.reportError = null;
      showReport(body);
    }, function (err) {
      if (err && err.name === "AbortError") return;
      if (edits !== ed.edits) return;
      ed.report = null;
      ed.reportError = String(err && err.message || err);
    }).then(function () {
      if (ed.reportAbort === ctrl) { ed.reportAbort = null; ed.reportInFlight = false; }
      if (!ed.reportTimer && !ed.reportInFlight) {
        ed.reportPending = false;
        var waiters = ed.idleWaiters;
        ed.idleWaiters = [];
        waiters.forEach(function (w) { w(); });
      }
      setStatus();
    });
  }

  function showReport(body) {
    ed.summary = body.summary || {};
    ed.metrics = {};
    (body.metrics || []).forEach(function (m) { ed.metrics[m.code] = m; });
    ed.problems.clearLayers();
    var fc = body.problems || { type: "FeatureCollection", features: [] };
    L.geoJSON(fc, {
      pane: "gpProblems", renderer: ed.problemRenderer, pmIgnore: true, snapIgnore: true,
      style: function (f) { return ed.styles[f.properties.kind] || {}; },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, L.extend({ radius: 7, pane: "gpProblems", renderer: ed.problemRenderer, pmIgnore: true, snapIgnore: true },
          ed.styles[f.properties.kind] || {}));
      },
      onEachFeature: function (f, layer) {
        var p = f.properties, codes = p.grid_codes ? String(p.grid_codes).split(",") : [];
        if (codes.length && String(p.message).indexOf(codes[0]) >= 0) codes = [];  // named already
        layer.options.pmIgnore = true;
        layer.bindTooltip("<b>" + esc(t("kind_" + p.kind)) + "</b>" +
          (codes.length ? " · " + esc(codes.join(", ")) : "") + "<br>" + esc(p.message),
          { sticky: true, className: "gp-problem-tip" });
        layer.feature = f;
      },
    }).eachLayer(function (l) { ed.problems.addLayer(l); });
    restyle();
    renderSummary();
  }

  function renderSummary() {
    var s = ed.summary || {};
    var band = s.band || [];
    var rows = [
      [t("grids"), number(s.n_grids)],
      [t("share_in_band") + (band.length ? " (" + band[0] + "–" + band[1] + ")" : ""),
        s.share_in_band === null || s.share_in_band === undefined ? "–" : number(100 * s.share_in_band) + " %"],
      [t("gap_area"), number(s.gap_area_m2) + " m²"],
      [t("overlap_area"), number(s.overlap_area_m2) + " m²"],
      [t("outside_area"), number(s.outside_area_m2) + " m²"],
      [t("mean_pp"), number(s.mean_polsby_popper, 2)],
    ];
    $("gp-summary").innerHTML = rows.map(function (r) {
      return "<dt>" + esc(r[0]) + "</dt><dd>" + esc(r[1]) + "</dd>";
    }).join("");
    var byKind = s.problems_by_kind || {};
    var kinds = Object.keys(byKind).filter(function (k) { return byKind[k] > 0; });
    $("gp-kinds").innerHTML = kinds.length ? kinds.map(function (k) {
      var st = ed.styles[k] || {};
      return '<li data-kind="' + esc(k) + '"><span class="gp-swatch" style="background:' + esc(st.fillColor || "transparent") +
        ";border-color:" + esc(st.color || "#000") + '"></span>' + esc(t("kind_" + k)) + ": " + esc(byKind[k]) + "</li>";
    }).join("") : "<li>" + esc(t("problems")) + ": " + esc(t("none")) + "</li>";
    var tbody = $("gp-grids").tBodies[0];
    tbody.innerHTML = Object.keys(ed.metrics).sort().map(function (code) {
      var m = ed.metrics[code];
      var out = band.length && m.households !== null && (m.households < band[0] || m.households > band[1]);
      return '<tr data-code="' + esc(code) + '"' + (out ? ' class="gp-out"' : "") + "><td>" + esc(code) +
        "</td><td>" + esc(number(m.households)) + "</td><td>" + esc(number(m.polsby_popper, 2)) + "</td></tr>";
    }).join("");
  }

  // ---------------------------------------------------------------- save / reload / copy

  function message(kind, html) {
    var box = $("gp-message");
    if (!kind) { box.hidden = true; box.innerHTML = ""; box.className = ""; return; }
    box.hidden = false;
    box.className = "gp-" + kind;
    box.innerHTML = html;
  }

  function detailOf(r) {
    return r.json().then(function (b) { return b.detail || b.error || r.statusText; },
      function () { return r.status + " " + r.statusText; });
  }

  function save() {
    if (!ed.editable) return Promise.resolve({ status: 0 });
    if (ed.saving) return ed.saving;
    message("info", esc(t("saving")));
    ed.saving = fetch(ed.urls.version, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Accept: "application/json", "If-Match": '"' + ed.revision + '"' },
      body: JSON.stringify(featureCollection(true)),
    }).then(function (r) {
      if (r.ok) {
        return r.json().then(function (body) {
          ed.revision = body.revision;
          ed.dirty = false;
          message("ok", esc(fmt(t("saved"), { revision: body.revision })));
          updatePanel();
          return { status: r.status, revision: body.revision };
        });
      }
      return detailOf(r).then(function (detail) {
        if (r.status === 409) {
          message("conflict", "<p><b>" + esc(t("conflict")) + "</b></p><p class='gp-detail'>" + esc(detail) + "</p>" +
            '<button type="button" id="gp-conflict-reload">' + esc(t("reload_latest")) + "</button> " +
            '<button type="button" id="gp-conflict-new">' + esc(t("save_as_new")) + "</button>");
          $("gp-conflict-reload").onclick = function () { reload(); };
          $("gp-conflict-new").onclick = function () { saveAsNewDraft(); };
        } else {
          message("error", "<b>" + esc(t("save_failed")) + "</b>: " + esc(detail));
        }
        return { status: r.status, detail: detail };
      });
    }, function (err) {
      message("error", "<b>" + esc(t("save_failed")) + "</b>: " + esc(err.message || err));
      return { status: 0, detail: String(err) };
    }).then(function (out) { ed.saving = null; return out; });
    return ed.saving;
  }

  function reload() {
    return fetch(ed.urls.version, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) return detailOf(r).then(function (d) { throw new Error(d); });
        return r.json();
      })
      .then(function (body) {
        ed.revision = body.revision;
        ed.status = body.status;
        setGrids(body);
        ed.dirty = false;
        ed.edits += 1;
        message(null);
        updatePanel();
        scheduleReport(0);
        return { revision: ed.revision, grids: codes().length };
      }, function (err) {
        message("error", esc(err.message || err));
        return { error: String(err.message || err) };
      });
  }

  function goToEditor(version) {
    var lang = new URLSearchParams(window.location.search).get("lang");
    ed.dirty = false;
    window.location.assign(ed.urls.editor + version + (lang ? "?lang=" + encodeURIComponent(lang) : ""));
  }

  function createDraft(body) {
    return fetch(ed.urls.versions, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (!r.ok) return detailOf(r).then(function (d) { throw new Error(d); });
      return r.json();
    }).then(function (created) {
      goToEditor(created.version);
      return created;
    }, function (err) {
      message("error", esc(err.message || err));
      return { error: String(err.message || err) };
    });
  }

  function copyToDraft() {
    message("info", esc(t("copying")));
    return createDraft({ copy_of: ed.version, name: "copy of version " + ed.version });
  }

  function saveAsNewDraft() {
    message("info", esc(t("copying")));
    return createDraft({ grids: featureCollection(true), name: "edits of version " + ed.version + " rev " + ed.revision });
  }

  // ---------------------------------------------------------------- panel

  function showLogin() {
    var box = $("gp-login");
    if (box) box.hidden = false;
  }

  function setStatus() {
    var parts = [ed.dirty ? t("unsaved") : t("no_changes")];
    if (ed.reportPending) parts.push(t("checking"));
    else if (ed.reportError) parts.push(t("report_failed") + ": " + ed.reportError);
    else if (ed.report) parts.push(t("report_ok"));
    var el = $("gp-status");
    el.textContent = parts.join(" · ");
    el.className = ed.reportError ? "gp-bad" : "";
    document.body.classList.toggle("gp-dirty", ed.dirty);
  }

  function updatePanel() {
    $("gp-heading").textContent = t("editor_title") + " · " + t("version") + " " + ed.version +
      " (" + t("status_" + ed.status) + ", " + t("revision") + " " + ed.revision + ")";
    $("gp-readonly").hidden = ed.editable;
    $("gp-tools").hidden = !ed.editable;
    if (!ed.editable) {
      $("gp-readonly-text").textContent = fmt(t("readonly"), { version: ed.version, status: t("status_" + ed.status) });
    }
    $("gp-merge").disabled = ed.selected.length !== 2;
    $("gp-delete").disabled = ed.selected.length === 0;
    $("gp-split").classList.toggle("gp-on", !!ed.splitting);
    setStatus();
  }

  function wirePanel() {
    $("gp-save").onclick = function () { save(); };
    $("gp-reload").onclick = function () { reload(); };
    $("gp-copy").onclick = function () { copyToDraft(); };
    $("gp-merge").onclick = function () {
      if (ed.selected.length !== 2) { message("info", esc(t("merge_need_two"))); return; }
      merge(ed.selected[0], ed.selected[1]);
    };
    $("gp-delete").onclick = function () {
      if (!ed.selected.length) { message("info", esc(t("select_first"))); return; }
      ed.selected.slice().forEach(function (c) { remove(c); });
    };
    $("gp-split").onclick = function () {
      if (ed.splitting) { ed.map.pm.disableDraw(); ed.splitting = false; updatePanel(); return; }
      ed.splitting = true;
      message("info", esc(t("split_help")));
      ed.map.pm.enableDraw("Line", { snappable: true });
      updatePanel();
    };
    $("gp-grids").addEventListener("click", function (e) {
      var row = e.target.closest("tr[data-code]");
      var layer = row && findLayer(row.getAttribute("data-code"));
      if (!layer) return;
      ed.map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [30, 30] });
      select(layer.feature.properties.code, false);
    });
    window.addEventListener("beforeunload", function (e) {
      if (ed.dirty) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  // ---------------------------------------------------------------- start

  function init(map, config) {
    ed = {
      map: map, version: config.version, revision: config.revision, status: config.status,
      editable: !!config.editable, lang: config.lang || "en", labels: config.labels || {},
      loggedIn: config.logged_in !== false,
      styles: config.styles || {}, urls: config.urls, parents: config.parents || [],
      selected: [], retired: [], metrics: {}, summary: null, report: null, reportError: null,
      edits: 0, dirty: false, splitting: false, saving: null,
      reportTimer: null, reportAbort: null, reportInFlight: false, reportPending: false, idleWaiters: [],
    };
    document.body.classList.add("gp-editor-page");
    map.invalidateSize();
    ed.renderer = L.svg({ padding: 0.5 });
    map.createPane("gpProblems").style.zIndex = 450;
    ed.problemRenderer = L.svg({ pane: "gpProblems", padding: 0.5 });
    ed.grids = L.featureGroup().addTo(map);
    ed.problems = L.featureGroup().addTo(map);
    setGrids(config.grids);
    if (ed.editable && map.pm) wireGeoman();
    map.on("click", function () {
      var pm = map.pm;
      if (pm && (pm.globalDrawModeEnabled() || pm.globalEditModeEnabled() || pm.globalRemovalModeEnabled())) return;
      if (ed.selected.length) select(null);
    });
    wirePanel();
    updatePanel();
    scheduleReport(0);
    return api;
  }

  var api = {
    init: init,
    map: function () { return ed.map; },
    features: function () { return featureCollection(false); },
    codes: codes,
    layer: findLayer,
    select: select,
    setGeometry: setGeometry,
    addGrid: addGrid,
    remove: remove,
    merge: merge,
    splitByLine: splitByLine,
    save: save,
    reload: reload,
    copyToDraft: copyToDraft,
    refreshReport: function () { scheduleReport(0); return api.whenIdle(); },
    whenIdle: function () {
      if (!ed.reportPending && !ed.saving) return Promise.resolve(api.state());
      return new Promise(function (resolve) { ed.idleWaiters.push(resolve); })
        .then(function () { return ed.saving; }).then(function () { return api.state(); });
    },
    state: function () {
      var s = ed.summary || {};
      return {
        version: ed.version, revision: ed.revision, status: ed.status, editable: ed.editable,
        dirty: ed.dirty, grids: codes().length, selected: ed.selected.slice(),
        reportPending: ed.reportPending, reportError: ed.reportError,
        problems: ed.problems.getLayers().map(function (l) { return l.feature.properties.kind; }),
        summary: s, message: $("gp-message").hidden ? "" : $("gp-message").textContent,
      };
    },
    geometry: { difference: difference, union: union, areaM2: areaM2 },
  };
  window.gridEditor = api;
})();

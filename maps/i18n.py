"""Every label, legend and popup text of the map pages, in English and Chinese."""

from __future__ import annotations

LANGUAGES = ("en", "zh")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        # overview
        "title": "Overview", "areas": "Community boundary", "grids": "Grids",
        "buildings": "Buildings", "cameras": "Cameras", "streets": "Streets", "code": "Code",
        "name": "Name", "households": "Households", "address": "Address",
        "estimated": "estimated", "direction": "Direction", "type": "Type", "unknown": "unknown",
        # grids page
        "grids_title": "Grids", "incidents_count": "Incidents", "camera_coverage": "Camera coverage",
        "measure": "Colour by", "share": "share of area",
        # incidents page
        "incidents_title": "Incidents", "incidents": "Incidents", "heat": "Heat",
        "hotspots": "Hot spots (Gi*)",
        "category": "Category", "status": "Status", "reported": "Reported", "filter": "Filter",
        "from": "From", "to": "To", "hours": "Hours", "all": "All", "apply": "Apply",
        "shown": "shown",
        # cameras page
        "cameras_title": "Cameras", "views": "Fields of view", "range": "Range",
        "fov": "Field of view", "defaulted": "defaults used for",
        # patrols
        "plan": "Patrol plan", "team": "Team", "station": "Station", "dwell": "Dwell stop",
        "length": "Length", "time": "Time", "minutes": "min", "turns": "Turn by turn",
        "gpx": "Download GPX", "day": "Day", "legend": "Teams",
        # embeds
        "embed_title": "Map", "count": "Count", "suppressed": "fewer than",
    },
    "zh": {
        "title": "概览", "areas": "社区边界", "grids": "网格", "buildings": "建筑",
        "cameras": "摄像头", "streets": "道路", "code": "编码", "name": "名称",
        "households": "户数", "address": "地址", "estimated": "估算", "direction": "朝向",
        "type": "类型", "unknown": "未知",
        "grids_title": "网格", "incidents_count": "事件数", "camera_coverage": "视频覆盖率",
        "measure": "着色依据", "share": "面积占比",
        "incidents_title": "事件", "incidents": "事件", "heat": "热力",
        "hotspots": "热点 (Gi*)",
        "category": "类别", "status": "状态", "reported": "上报时间", "filter": "筛选",
        "from": "起", "to": "止", "hours": "时段", "all": "全部", "apply": "应用",
        "shown": "条",
        "cameras_title": "摄像头", "views": "可视范围", "range": "距离",
        "fov": "视角", "defaulted": "使用默认值",
        "plan": "巡逻方案", "team": "巡逻队", "station": "平安驿站", "dwell": "驻留点",
        "length": "长度", "time": "时间", "minutes": "分钟", "turns": "路线指引",
        "gpx": "下载 GPX", "day": "第几天", "legend": "巡逻队",
        "embed_title": "地图", "count": "数量", "suppressed": "少于",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` (``en`` or ``zh``), English for anything else."""
    return LABELS.get(lang, LABELS["en"])

"""Turn steps phrased per language at render time.

Routes store their steps as data (:class:`gridpatrol.geo.walks.Step`: action, street,
street type, distance, heading, dwell); this module turns one step into the sentence a
team reads, in English or Simplified Chinese.  Steps stored before the data fields
existed fall back to their stored English ``instruction``.
"""

from __future__ import annotations

__all__ = ["STREET_TYPES", "day_label", "phrase_step", "street_type"]

#: OSM ``highway`` types in Chinese (English: the type with ``_`` as a space).
STREET_TYPES = {
    "footway": "人行道",
    "service": "小路",
    "residential": "居民区道路",
    "living_street": "生活街道",
    "pedestrian": "步行街",
    "path": "小径",
    "track": "土路",
    "cycleway": "自行车道",
    "bridleway": "马道",
    "steps": "台阶",
    "corridor": "走廊",
    "elevator": "电梯",
    "platform": "站台",
    "busway": "公交专用道",
    "road": "道路",
    "way": "道路",
    "unclassified": "普通道路",
    "tertiary": "支路",
    "tertiary_link": "支路连接道",
    "secondary": "次干道",
    "secondary_link": "次干道连接道",
    "primary": "主干道",
    "primary_link": "主干道连接道",
    "trunk": "快速路",
    "trunk_link": "快速路连接道",
    "motorway": "高速公路",
    "motorway_link": "高速公路匝道",
}

_TURNS = {
    "en": {
        "straight": "Continue",
        "slight_left": "Turn slight left",
        "left": "Turn left",
        "sharp_left": "Turn sharp left",
        "slight_right": "Turn slight right",
        "right": "Turn right",
        "sharp_right": "Turn sharp right",
        "u_turn": "U-turn",
    },
    "zh": {
        "straight": "直行",
        "slight_left": "稍向左转",
        "left": "左转",
        "sharp_left": "向左急转",
        "slight_right": "稍向右转",
        "right": "右转",
        "sharp_right": "向右急转",
        "u_turn": "掉头",
    },
}

_COMPASS_ZH = {
    "north": "北",
    "northeast": "东北",
    "east": "东",
    "southeast": "东南",
    "south": "南",
    "southwest": "西南",
    "west": "西",
    "northwest": "西北",
}

_DWELL_LABELS_ZH = {"hot spot": "热点", "camera blind spot": "监控盲区"}


def _lang(lang: str) -> str:
    return "zh" if str(lang).lower().startswith("zh") else "en"


def day_label(day: int, lang: str = "en") -> str:
    """ "Day 3" / "第 3 天"."""
    return f"第 {int(day)} 天" if _lang(lang) == "zh" else f"Day {int(day)}"


def street_type(highway: str, lang: str = "en") -> str:
    """An OSM ``highway`` type as a walker calls it ("footway" -> "人行道")."""
    key = (highway or "way").replace(" ", "_")
    if _lang(lang) == "zh":
        return STREET_TYPES.get(key, "道路")
    return key.replace("_", " ")


def _distance(metres: float, lang: str) -> str:
    """7 m, 240 m, 1.2 km (米 / 公里 in Chinese)."""
    m, km = ("米", "公里") if lang == "zh" else ("m", "km")
    if metres >= 1000:
        return f"{metres / 1000:.1f} {km}"
    if metres >= 20:
        return f"{round(metres / 10) * 10:.0f} {m}"
    return f"{max(1, round(metres)):.0f} {m}"


def _minutes(minutes: float) -> str:
    return f"{minutes:.0f}" if abs(minutes - round(minutes)) < 1e-9 else f"{minutes:.1f}"


def phrase_step(step: dict, lang: str = "en") -> str:
    """The sentence for one stored step (a :meth:`Step.to_dict` mapping) in ``lang``.

    Parameters
    ----------
    step : dict
        ``action``, ``street``, ``named``, ``highway``, ``distance_m``, ``minutes``,
        ``heading``, ``same_street``, ``label``.
    lang : str
        ``"en"`` or ``"zh"`` (``"zh-CN"``); anything else is English.

    Returns
    -------
    str
    """
    lang = _lang(lang)
    action = step.get("action", "")
    if "highway" not in step:  # stored before steps were data: English text only
        return str(step.get("instruction", ""))
    zh = lang == "zh"
    named = bool(step.get("named"))
    name = str(step.get("street", ""))
    if named:
        street = name
    elif zh:
        street = street_type(step.get("highway") or name, "zh")
    else:
        street = f"the {street_type(step.get('highway') or name, 'en')}"
    length = _distance(float(step.get("distance_m", 0.0)), lang)
    same = bool(step.get("same_street"))
    if action == "start":
        return "从平安驿站出发" if zh else "Start at station"
    if action == "arrive":
        at_station = step.get("label", "station") != "end"
        if zh:
            return "到达平安驿站" if at_station else "到达路线终点"
        return "Arrive at station" if at_station else "Arrive at end of route"
    if action == "dwell":
        label = str(step.get("label") or "hot spot")
        minutes = _minutes(float(step.get("minutes", 0.0)))
        if zh:
            return f"在{_DWELL_LABELS_ZH.get(label, label)}驻留 {minutes} 分钟"
        return f"Dwell {minutes} min at {label}"
    if action == "depart":
        heading = str(step.get("heading", ""))
        if zh:
            towards = f"向{_COMPASS_ZH[heading]}" if heading in _COMPASS_ZH else ""
            return f"{towards}沿{street}步行 {length}"
        head = f"Head {heading}" if heading else "Walk"
        return f"{head} on {street} for {length}"
    turn = _TURNS[lang].get(action)
    if turn is None:
        return str(step.get("instruction", ""))
    if zh:
        if action == "straight":
            return f"沿{street}直行 {length}" if same else f"直行进入{street}，步行 {length}"
        if same:
            return f"{turn}，继续沿{street}步行 {length}"
        return f"{turn}进入{street}，步行 {length}"
    if action == "straight":
        return f"Continue {'on' if same else 'onto'} {street} for {length}"
    if same:
        return f"{turn} to stay on {street}, walk {length}"
    return f"{turn} onto {street}, walk {length}"

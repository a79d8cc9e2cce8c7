"""Turn steps phrased per language from the stored step data (maps/steps.py)."""

from __future__ import annotations

import json
import re

import pytest

from gridpatrol.geo.walks import turn_list
from gridpatrol.maps.steps import STREET_TYPES, day_label, phrase_step, street_type

from ..geo.test_walks import ROUTE, toy_graph

ACTIONS = ("straight", "slight_left", "left", "sharp_left", "slight_right", "right")
ACTIONS += ("sharp_right", "u_turn")
LATIN = re.compile(r"[A-Za-z]")


def stored_steps():
    G = toy_graph()
    steps = turn_list(G, ROUTE, speed_kmh=6.0, dwells=[(3, 12)])
    return json.loads(json.dumps([s.to_dict() for s in steps]))  # as the store keeps them


def test_stored_steps_are_data_phrased_in_english_at_render_time():
    steps = stored_steps()
    assert all("instruction" not in step for step in steps)  # one home for the wording
    text = [phrase_step(s, "en") for s in steps]
    assert text[0] == "Start at station" and text[-1] == "Arrive at station"
    assert text[1] == "Head north on Mannerheimintie for 100 m"
    assert text[2] == "Turn right onto Aleksanterinkatu, walk 200 m"


def test_chinese_phrasing_of_a_real_turn_list():
    text = [phrase_step(s, "zh-CN") for s in stored_steps()]
    assert text[0] == "从平安驿站出发"
    assert text[1] == "向北沿Mannerheimintie步行 100 米"
    assert text[2] == "右转进入Aleksanterinkatu，步行 200 米"
    assert text[3] == "在热点驻留 12 分钟"
    assert "右转进入人行道，步行 100 米" in text  # the unnamed footway by its type
    assert "掉头，继续沿人行道步行 100 米" in text
    assert text[-1] == "到达平安驿站"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("highway", sorted(STREET_TYPES))
def test_every_action_and_street_type_has_chinese_words(action, highway):
    step = {
        "action": action,
        "street": highway,
        "named": False,
        "highway": highway,
        "distance_m": 1234.0,
        "same_street": False,
    }
    zh = phrase_step(step, "zh")
    assert not LATIN.search(zh.replace("公里", "")), zh
    assert "1.2 公里" in zh
    assert street_type(highway, "zh") in zh
    en = phrase_step(step, "en")
    assert "1.2 km" in en and highway.replace("_", " ") in en


def test_day_labels_and_old_steps_fall_back_to_their_text():
    assert day_label(1, "zh") == "第 1 天" and day_label(3, "en") == "Day 3"
    old = {"action": "left", "instruction": "Turn left onto X, walk 10 m", "street": "X"}
    assert phrase_step(old, "zh") == old["instruction"]
    assert street_type("no_such_type", "zh") == "道路"

"""Limit and trend monitoring go on across a take-over (review by exception).

The next owner replays the batch's stored process values into its monitor (silently: the
previous owner raised and recorded those findings), so an excursion in progress is not
raised twice and its return is journalled, and a trend pattern begun before the hand-over
completes after it. Same FAKE equipment and recorder as ``test_resume``; the second
engine's recorder holds what the first one stored, as the database would.
"""

from __future__ import annotations

from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.recipe import MasterRecipe

from .harness import FEDBATCH, Harness, reach_cultivation
from .test_resume import first_run, resumed

TEMPERATURE = f"{FEDBATCH}:BR-101.Temperature"
PH = f"{FEDBATCH}:BR-101.pH"
#: the demo's pH trend: centre 7.0, sigma 0.01, Nelson 1, 5, 6; 7.025 is 2.5 sigma high
#: (inside the 6.8-7.2 limits): two such among three points in a row are Nelson rule 5
HIGH_PH = 7.025
ON_TARGET = 7.0


async def _stored(h: Harness, name: str, value: float) -> None:
    await h.until(
        lambda: any(s.name == name and s.value == value for _, s in h.recorder.stored),
        f"{name} = {value} stored",
    )


def _exceptions(h: Harness, subject: str, category: Category | None = None) -> list[object]:
    return [
        e
        for e in h.recorder.exceptions()
        if e["subject"] == subject and (category is None or e["category"] is category)
    ]


async def test_an_excursion_in_progress_is_not_raised_again_and_its_return_is_journalled(
    demo: MasterRecipe,
) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        h1.equipment.publish("BR-101", "Temperature", 38.2, "degC")
        await h1.until(lambda: len(_exceptions(h1, TEMPERATURE)) == 1, "the excursion raised")
        await _stored(h1, "Temperature", 38.2)
    async with resumed(demo, h1) as h2:
        replays = [c for c in h2.recorder.calls if c.method == "stored_values"]
        assert len(replays) == 1
        assert ("BR-101", "Temperature") in replays[0]["watched"]
        h2.equipment.publish("BR-101", "Temperature", 38.9, "degC")  # still the same one
        await h2.settle()
        await _stored(h2, "Temperature", 38.9)
        assert _exceptions(h2, TEMPERATURE) == []
        h2.equipment.publish("BR-101", "Temperature", 37.0, "degC")
        await h2.until(
            lambda: len(h2.recorder.journal_entries("limit.recovered")) == 1, "the return"
        )
        (recovered,) = h2.recorder.journal_entries("limit.recovered")
        assert recovered["subject"] == TEMPERATURE


async def test_a_trend_begun_before_the_take_over_is_found_after_it_once(
    demo: MasterRecipe,
) -> None:
    async with first_run(demo) as h1:
        await reach_cultivation(h1)
        h1.equipment.publish("BR-101", "pH", ON_TARGET, "pH")
        h1.equipment.publish("BR-101", "pH", HIGH_PH, "pH")
        await _stored(h1, "pH", HIGH_PH)
        await h1.settle()
        assert _exceptions(h1, PH) == []  # two points, one beyond 2 sigma: no pattern yet
    async with resumed(demo, h1) as h2:
        h2.equipment.publish("BR-101", "pH", HIGH_PH, "pH")
        await h2.until(lambda: len(_exceptions(h2, PH)) == 1, "the out-of-trend finding")
        (finding,) = _exceptions(h2, PH)
        assert finding["category"] is Category.OUT_OF_TREND
        assert finding["trigger"]["rule"] == "nelson-5"
        h2.equipment.publish("BR-101", "pH", HIGH_PH, "pH")  # the same pattern goes on
        await _stored(h2, "pH", HIGH_PH)
        await h2.settle()
        assert len(_exceptions(h2, PH)) == 1


async def test_values_from_before_the_phase_ran_are_not_replayed_into_it(
    demo: MasterRecipe,
) -> None:
    async with first_run(demo) as h1:
        for _ in range(2):  # while buffer prep runs: not the fed-batch phase's values
            h1.equipment.publish("BR-101", "pH", HIGH_PH, "pH")
        await h1.until(
            lambda: sum(s.name == "pH" for _, s in h1.recorder.stored) == 2, "both stored"
        )
        await reach_cultivation(h1)
        await h1.settle()
    async with resumed(demo, h1) as h2:
        h2.equipment.publish("BR-101", "pH", HIGH_PH, "pH")
        await _stored(h2, "pH", HIGH_PH)
        await h2.settle()
        assert _exceptions(h2, PH) == []

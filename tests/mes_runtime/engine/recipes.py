"""Small inline master recipes for the engine tests (one unit, BR, on BR-101)."""

from __future__ import annotations

from mes_runtime.domain.recipe import MasterRecipe

from .harness import load_yaml_recipe

BR_BINDINGS = {"BR": "BR-101"}

_HEADER_AND_EQUIPMENT = """
header: {name: %(name)s, version: 1, product: P, author: tester}
formula:
  - {name: CultTemp, value: 36.5, unit: degC, low: 35.5, high: 37.5, criticality: critical}
  - {name: Duration, value: 2, unit: h, low: 1, high: 4}
equipment:
  - unit: BR
    capabilities:
      - service: Prepare
        procedure: Fill
        parameters: [{name: Temperature, unit: degC, low: 20, high: 40}]
      - service: Cultivate
        procedure: FedBatch
        parameters: [{name: Duration, unit: h, low: 0, high: 400}]
      - service: Harvest
        procedure: Harvest
        parameters: [{name: Volume, unit: L, low: 0, high: 2000}]
    process_values:
      - {name: Temperature, unit: degC}
      - {name: VCD, unit: 1e6 cells/mL}
"""

#: fill -> (formula condition) -> cultivate; the condition reads a formula value only.
FORMULA_GATED = (
    _HEADER_AND_EQUIPMENT % {"name": "formula-gated"}
    + """
procedure:
  initial: [BR-UP]
  steps:
    - id: BR-UP
      unit: BR
      initial: [main]
      steps:
        - id: main
          initial: [fill]
          steps:
            - {id: fill, service: Prepare, procedure: Fill,
               parameters: {Temperature: {formula: CultTemp}}}
            - {id: cultivate, service: Cultivate, procedure: FedBatch,
               parameters: {Duration: {formula: Duration}}}
          transitions:
            - {id: long-enough, from: [fill], to: [cultivate], condition: formula.Duration > 3}
            - {id: done, from: [cultivate], to: []}
      transitions:
        - {id: up-done, from: [main], to: []}
  transitions:
    - {id: batch-done, from: [BR-UP], to: []}
"""
)

#: The extend branch of bioreactor-fedbatch made a loop: extend again while VCD < 5.
EXTEND_LOOP = (
    _HEADER_AND_EQUIPMENT % {"name": "extend-loop"}
    + """
procedure:
  initial: [BR-UP]
  steps:
    - id: BR-UP
      unit: BR
      initial: [cultivation]
      steps:
        - id: cultivation
          initial: [run-fedbatch]
          steps:
            - {id: run-fedbatch, service: Cultivate, procedure: FedBatch,
               parameters: {Duration: {formula: Duration}}}
            - {id: extend-fedbatch, service: Cultivate, procedure: FedBatch,
               parameters: {Duration: {value: 1, unit: h}},
               monitor: [{name: Temperature, unit: degC, low: 35.5, high: 37.5}]}
            - {id: harvest-broth, service: Harvest, procedure: Harvest,
               parameters: {Volume: {value: 1000, unit: L}}}
          transitions:
            - {id: target-reached, from: [run-fedbatch], to: [harvest-broth],
               condition: BR.VCD >= 5}
            - {id: extend, from: [run-fedbatch], to: [extend-fedbatch], condition: BR.VCD < 5}
            - {id: extended, from: [extend-fedbatch], to: [harvest-broth],
               condition: BR.VCD >= 5}
            - {id: extend-again, from: [extend-fedbatch], to: [extend-fedbatch],
               condition: BR.VCD < 5}
            - {id: harvested, from: [harvest-broth], to: []}
      transitions:
        - {id: up-done, from: [cultivation], to: []}
  transitions:
    - {id: batch-done, from: [BR-UP], to: []}
"""
)


def formula_gated() -> MasterRecipe:
    return load_yaml_recipe(FORMULA_GATED)


def extend_loop() -> MasterRecipe:
    return load_yaml_recipe(EXTEND_LOOP)

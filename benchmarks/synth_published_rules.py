"""The table "Published rules on the nominal parameters" of docs/synth.md: every rule of
``configs/rules.yaml`` on the simulator's nominal parameters (2000 patients, seed 2024) next to
the Se/Sp its paper reports, printed as Markdown.

Run: ``.venv/bin/python benchmarks/synth_published_rules.py``
"""

from __future__ import annotations

from radiomix.synth.config import load_config
from radiomix.synth.published import markdown_table, nominal_parameters, rule_performance

if __name__ == "__main__":
    print(markdown_table(rule_performance(nominal_parameters(load_config(), 2000, 2024))), end="")

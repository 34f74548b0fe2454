"""The rules file (`configs/rules.yaml`): schema, validation and loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radiomix.errors import ConfigError, RuleError
from radiomix.paths import CONFIG_DIR
from radiomix.rules.expression import Node, features_of, is_known_feature, parse_expression

DEFAULT_RULES_PATH = CONFIG_DIR / "rules.yaml"

Proportion = float | None


class PublishedPerformance(BaseModel):
    """Performance as the cited source reports it (fractions, not percent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitivity: Proportion = Field(None, ge=0, le=1)
    specificity: Proportion = Field(None, ge=0, le=1)
    accuracy: Proportion = Field(None, ge=0, le=1)
    ppv: Proportion = Field(None, ge=0, le=1)
    npv: Proportion = Field(None, ge=0, le=1)
    auc: Proportion = Field(None, ge=0, le=1)
    cohort: str = ""
    source: str = Field("", description="where the figures come from, if not the citation")
    evidence: Literal["checked", "derived", "unchecked"]


class RuleSpec(BaseModel):
    """One decision rule as written in the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    tracers: tuple[Literal["FET", "FDOPA", "FDG", "MET"], ...] = Field(
        (), description="tracers the rule applies to; empty = any")
    primary: tuple[Literal["glioma", "metastasis"], ...] = Field(
        (), description="primary tumours the rule applies to; empty = any")
    population: str = Field(min_length=1, description="the population studied")
    positive: str = Field(min_length=1, description="expression true ⇒ recurrence")
    negative: str | None = Field(
        None, description="expression true ⇒ radionecrosis; default: not positive. "
                          "Cases where neither holds are indeterminate.")
    parameter: str = Field(description="the continuous parameter the rule thresholds")
    direction: Literal["higher", "lower"] = Field(
        description="whether a higher or a lower parameter points to recurrence")
    citation: str = Field(min_length=1)
    published: PublishedPerformance
    notes: str = ""


class RulesFile(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    """A validated rule with its expressions parsed."""

    spec: RuleSpec
    positive: Node
    negative: Node | None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def inputs(self) -> list[str]:
        """Every feature the rule reads, its parameter first."""
        names = [self.spec.parameter, *features_of(self.positive)]
        if self.negative is not None:
            names += features_of(self.negative)
        return list(dict.fromkeys(names))


def compile_rule(spec: RuleSpec) -> Rule:
    """Parse a rule's expressions and check its parameter, or raise a RuleError."""
    positive = parse_expression(spec.positive, spec.id)
    negative = None if spec.negative is None else parse_expression(spec.negative, spec.id)
    if not is_known_feature(spec.parameter):
        raise RuleError(f"rule {spec.id!r}: unknown parameter feature {spec.parameter!r}")
    if spec.parameter not in features_of(positive):
        raise RuleError(f"rule {spec.id!r}: parameter {spec.parameter!r} does not appear in "
                        f"its positive expression {spec.positive!r}")
    return Rule(spec=spec, positive=positive, negative=negative)


def _describe(error: ValidationError, raw: dict, path: Path) -> str:
    """A readable summary of a validation error naming the rules concerned."""
    lines = []
    for item in error.errors():
        location = list(item["loc"])
        where = "file"
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            entry = raw["rules"][location[1]]
            rule_id = entry.get("id", "?") if isinstance(entry, dict) else "?"
            where = f"rule {rule_id!r} (entry {location[1] + 1})"
            location = location[2:]
        field = ".".join(str(part) for part in location) or "-"
        lines.append(f"{where}, field {field}: {item['msg']}")
    return f"invalid rules file {path}:\n  " + "\n  ".join(lines)


def parse_rules(raw: object, path: Path) -> list[Rule]:
    """Validate the parsed YAML content of a rules file and compile each rule."""
    if not isinstance(raw, dict):
        raise ConfigError(f"rules file {path} must be a mapping with 'version' and 'rules'")
    try:
        rules_file = RulesFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, raw, path)) from None
    ids = [spec.id for spec in rules_file.rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"rules file {path}: duplicate rule ids {duplicates}")
    return [compile_rule(spec) for spec in rules_file.rules]


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Read and validate a rules file (default: the project's `configs/rules.yaml`).

    Raises ConfigError for an unreadable or malformed file and RuleError (naming the rule
    and the position) for a bad expression or an unknown feature name.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read rules file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"rules file {path} is not valid YAML: {error}") from None
    return parse_rules(raw, path)

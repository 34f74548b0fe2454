"""The rules file (`configs/rules.yaml`): schema, validation and loading.

Every name a rule reads must be a column the tables it is applied to can have: a feature an
extractor family declares under the extraction configuration's settings (asked of the feature
registry, without computing: TBR windows, textured images and their parameter sets) or a
clinical or reader column of the manifest. A family the configuration does not run still
counts: its rules then find their inputs missing on every case, and the baseline says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radiomix.data.manifest import RtTechnique
from radiomix.errors import ConfigError, RuleError
from radiomix.features.config import ExtractionConfig, load_config
from radiomix.features.registry import declares
from radiomix.paths import CONFIG_DIR
from radiomix.rules.expression import Node, features_of, parse_expression
from radiomix.schema import CLINICAL_NUMBER_COLUMNS
from radiomix.yaml_io import read_yaml

DEFAULT_RULES_PATH = CONFIG_DIR / "rules.yaml"
READER_COLUMNS = ("visual_score",)
"""Manifest columns a rule may read besides the features and the clinical numbers."""

Proportion = float | None
Evidence = Literal["checked", "derived", "unchecked"]
Direction = Literal["higher", "lower"]


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
    evidence: Evidence


class Distribution(BaseModel):
    """Mean and standard deviation of a parameter in one class, as published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    sd: float = Field(gt=0)


class ClassDistributions(BaseModel):
    """The published per-class distribution of a rule's parameter, to compute the
    sensitivity and specificity its threshold implies (for proxies and derived cut-offs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recurrence: Distribution
    radionecrosis: Distribution
    source: str = Field(min_length=1)


class RuleEvidence(BaseModel):
    """How the rule's own text was checked: ``checked`` read in the source (through the search
    tool, abstract or full text), ``derived`` arithmetic on checked numbers, ``unchecked``
    from secondary material only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: Evidence
    threshold: Evidence
    population: Evidence

    def __str__(self) -> str:
        return (
            f"definition {self.definition}, threshold {self.threshold}, "
            f"population {self.population}"
        )


class RuleSpec(BaseModel):
    """One decision rule as written in the rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    tracers: tuple[Literal["FET", "FDOPA", "FDG", "MET"], ...] = Field(
        (), description="tracers the rule applies to; empty = any"
    )
    primary: tuple[Literal["glioma", "metastasis"], ...] = Field(
        (), description="primary tumours the rule applies to; empty = any"
    )
    grades: tuple[Literal[1, 2, 3, 4], ...] = Field(
        (), description="WHO grades the rule applies to (manifest column grade); empty = any"
    )
    rt_techniques: tuple[RtTechnique, ...] = Field(
        (),
        description="radiotherapy techniques the rule applies to (manifest column "
        "rt_technique); empty = any",
    )
    population: str = Field(min_length=1, description="the population studied")
    applies_if: str | None = Field(
        None,
        description="expression a case must meet to be in the population (e.g. a "
        "size criterion); unknown counts as a missing input",
    )
    positive: str = Field(min_length=1, description="expression true ⇒ recurrence")
    negative: str | None = Field(
        None,
        description="expression true ⇒ radionecrosis; default: not positive. "
        "Cases where neither holds are indeterminate.",
    )
    parameters: dict[str, Direction] = Field(
        min_length=1,
        description="each feature the rule thresholds and whether a higher or a "
        "lower value points to recurrence",
    )
    evidence: RuleEvidence
    citation: str = Field(min_length=1)
    published: PublishedPerformance
    class_distributions: ClassDistributions | None = None
    notes: str = ""


class RulesFile(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[2]
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    """A validated rule with its expressions parsed."""

    spec: RuleSpec
    positive: Node
    negative: Node | None
    applies_if: Node | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def parameters(self) -> list[str]:
        """The features the rule thresholds, in the order of the rules file."""
        return list(self.spec.parameters)

    @property
    def composite(self) -> bool:
        """True when the rule decides on more than one parameter."""
        return len(self.spec.parameters) > 1

    @property
    def direction(self) -> Direction:
        """Direction of the rule's score: its parameter's, or ``higher`` for the 0/1
        decision that scores a composite rule."""
        return "higher" if self.composite else self.spec.parameters[self.parameters[0]]

    @property
    def inputs(self) -> list[str]:
        """Every feature the rule reads, its parameters first."""
        names = [*self.parameters, *features_of(self.positive)]
        for node in (self.negative, self.applies_if):
            if node is not None:
                names += features_of(node)
        return list(dict.fromkeys(names))


def table_columns(extraction: ExtractionConfig) -> Callable[[str], bool]:
    """Whether a rule may read a name: a feature of the configuration, a clinical or a reader
    column."""
    feature = declares(extraction)
    return lambda name: name in CLINICAL_NUMBER_COLUMNS or name in READER_COLUMNS or feature(name)


def compile_rule(spec: RuleSpec, known: Callable[[str], bool]) -> Rule:
    """Parse a rule's expressions (every name must pass ``known``) and check its parameters, or
    raise a RuleError."""

    def parse(text: str) -> Node:
        return parse_expression(text, spec.id, known)

    positive = parse(spec.positive)
    negative = None if spec.negative is None else parse(spec.negative)
    applies_if = None if spec.applies_if is None else parse(spec.applies_if)
    decided_on = features_of(positive) + ([] if negative is None else features_of(negative))
    if set(decided_on) != set(spec.parameters):
        raise RuleError(
            f"rule {spec.id!r}: parameters {sorted(spec.parameters)} must be the "
            f"features of its expressions {sorted(set(decided_on))}"
        )
    return Rule(spec=spec, positive=positive, negative=negative, applies_if=applies_if)


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


def parse_rules(raw: object, path: Path, extraction: ExtractionConfig | None = None) -> list[Rule]:
    """Validate the parsed YAML content of a rules file and compile each rule against the
    columns of tables made with ``extraction`` (default: the packaged configuration)."""
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
    known = table_columns(extraction or load_config())
    return [compile_rule(spec, known) for spec in rules_file.rules]


def load_rules(
    path: str | Path | None = None, extraction: ExtractionConfig | None = None
) -> list[Rule]:
    """Read and validate a rules file (default: the project's `configs/rules.yaml`) for the
    tables of an extraction configuration (default: the packaged one).

    Raises ConfigError for an unreadable or malformed file and RuleError (naming the rule
    and the position) for a bad expression or a name the configuration does not produce.
    """
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    return parse_rules(read_yaml(path, "rules file"), path, extraction)

"""Registry pydantic types."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, Base64Bytes, BaseModel, Field, StringConstraints

from mainsail.core.types import ArtifactKey, Digest, VersionNumber, object_name

MANIFEST = "mainsail-model.json"  # the package manifest's file name (see registry.packaging)

ModelName = object_name(256)
AliasName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")]
Threshold = Annotated[str, StringConstraints(  # what registry.gate.parse_threshold accepts: ">= 0.85"
    strip_whitespace=True, min_length=2, max_length=60,
    pattern=r"^\s*(>=|<=|==|!=|>|<)\s*-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?\s*$")]  # finite


class Stage(StrEnum):
    """A version's stage. Any case is accepted, and MLflow's names: ``None`` (development), ``Staging``,
    ``Production``, ``Archived`` (deprecated)."""

    development = "development"
    staging = "staging"
    production = "production"
    deprecated = "deprecated"

    @classmethod
    def _missing_(cls, value: object) -> Stage | None:
        if not isinstance(value, str):
            return None
        key = value.strip().lower()
        return cls.__members__.get(STAGE_ALIASES.get(key, key))

    @classmethod
    def parse(cls, value: str) -> Stage | None:
        """The stage ``value`` names (any case, MLflow's names too), or None."""
        try:
            return cls(value)
        except ValueError:
            return None


STAGE_ALIASES = {"archived": "deprecated", "none": "development"}  # MLflow's names for ours


class FileRef(BaseModel):
    digest: str
    size: int


class Lineage(BaseModel):
    """What a version was built from. Ids are references into other domains."""

    run_id: str | None = None
    experiment_id: str | None = None
    dataset_versions: list[str] = Field(default_factory=list, description="'name@version' references")
    feature_views: list[str] = Field(default_factory=list)
    git_commit: str | None = None
    parent_version_id: str | None = None


class ModelCardFields(BaseModel):
    """The editable parts of a model card; the rest is generated from the version's metadata."""

    summary: str | None = None
    intended_use: str | None = None
    limitations: str | None = None
    ethical_considerations: str | None = None
    training_data: str | None = None
    owners: list[str] | None = None


class RegisterVersion(BaseModel):
    """Register a model version (creating the registered model on first use). Its files come from:

    - ``source`` (or ``artifact_uri``): ``runs:/<run_id>/<path>``, the files a run logged under a path
      (all of them, or only those ``artifacts`` lists);
    - ``artifacts`` as a map of file path to SHA-256 digest of blobs already in the artifact store;
    - ``artifacts`` as a list of file names (the seeds' CI shape), each found in ``files`` (uploaded in
      the same call, base64), else among the artifacts of ``source`` or of the run ``run_id``. A file
      found nowhere is named in the error."""

    name: ModelName
    framework: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=1000, validation_alias=AliasChoices("source", "artifact_uri"),
                               examples=["runs:/0123abcd/model"])
    run_id: str | None = Field(None, max_length=256)
    external_source: str | None = Field(
        None, min_length=1, max_length=1000, examples=["s3://bucket/models/churn/3"],
        description="Files kept elsewhere (any URI or path; Mainsail stores it and holds no files): the version "
                    "answers with this source; run_id, when given, need not be a Mainsail run")
    artifacts: dict[ArtifactKey, Digest] | list[ArtifactKey] | None = Field(
        None, examples=[["model.pkl", "preprocessor.pkl"]],
        description="path -> sha256 of a stored blob, or a list of file names to find (see above)")
    files: dict[ArtifactKey, Base64Bytes] = Field(
        default_factory=dict, description="Files uploaded with the registration: name -> base64 content.")
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    stage: Stage = Stage.development
    gate: dict[str, Threshold] | None = Field(None, description='e.g. {"accuracy": ">= 0.85"}')


class StageChange(BaseModel):
    stage: Stage
    archive_existing: bool = Field(False, description="Move the versions now in this stage to deprecated.")
    gate: dict[str, Threshold] | None = None
    reason: str | None = Field(None, max_length=2000)


class AliasSet(BaseModel):
    version: VersionNumber
    reason: str | None = Field(None, max_length=2000)


class GateCheck(BaseModel):
    thresholds: dict[str, Threshold] = Field(description='e.g. {"accuracy": ">= 0.85"}')


class GateFailure(BaseModel):
    metric: str
    op: str
    threshold: float
    actual: float | None


class GateResult(BaseModel):
    passed: bool
    failures: list[GateFailure] = Field(default_factory=list)


class RegisteredModel(BaseModel):
    id: str
    name: str
    project: str = "default"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)
    stages: dict[str, list[int]] = Field(default_factory=dict)
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelVersion(BaseModel):
    id: str
    name: str
    version: int
    stage: Stage
    framework: str
    source: str | None = None
    run_id: str | None = None
    external_source: str | None = Field(None, description="where the files are when Mainsail holds none")
    external_run_id: str | None = Field(None, description="the run id given with an external source when it "
                                                          "is not a Mainsail run")
    aliases: list[str] = Field(default_factory=list)
    files: dict[str, FileRef] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    signature: dict[str, Any] | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    description: str | None = None
    created_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def external(self) -> bool:
        """True when the version's files are elsewhere (``external_source``): Mainsail holds none of them."""
        return self.external_source is not None

    @property
    def registered(self) -> bool:
        """Always True: lets ``log_model``'s result be tested the same way whether it registered or not."""
        return True


class LoggedModel(BaseModel):
    """What ``log_model`` returns when it logged the package but registered nothing, e.g. because its
    quality gate did not hold (``gate`` says which thresholds failed; the run carries the same as tags)."""

    registered: bool = False
    run_id: str
    model_uri: str = Field(description="runs:/<run_id>/<path> of the logged package")
    name: str | None = Field(None, description="the registered model it would have become a version of")
    gate: GateResult | None = None


class Transition(BaseModel):
    version: int | None
    kind: str
    name: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    reason: str | None = None
    actor: str | None = None
    at: dt.datetime


class LineageNode(BaseModel):
    id: str
    type: str  # model_version | run | experiment | dataset_version | feature_view | git_commit
    label: str
    data: dict[str, Any] = Field(default_factory=dict)


class LineageEdge(BaseModel):
    source: str
    target: str
    relation: str


class LineageGraph(BaseModel):
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class ModelCard(BaseModel):
    version_id: str
    fields: ModelCardFields
    markdown: str

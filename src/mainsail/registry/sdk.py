"""Registry methods of the Client, and ``load_model`` from ``models:/…`` and ``runs:/…`` URIs."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mainsail.client.backends import Backend, LocalBackend
from mainsail.core.errors import IntegrityError, InvalidInput
from mainsail.core.ops import LazyOpSet
from mainsail.core.pagination import Page
from mainsail.core.sandbox import contained
from mainsail.core.settings import home_dir
from mainsail.registry.schemas import (
    GateResult,
    LineageGraph,
    ModelCard,
    ModelVersion,
    RegisteredModel,
    Stage,
    Transition,
)

ops = LazyOpSet("mainsail.registry.ops")  # imported on first call: composing the Client stays cheap

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))?/?$")


class RegistryMethods:
    _backend: Backend

    def register_model_version(self, name: str, *, source: str | None = None, artifacts: Mapping[str, str] | None = None,
                               framework: str | None = None, metrics: Mapping[str, float] | None = None,
                               params: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
                               description: str | None = None, lineage: Mapping[str, Any] | None = None,
                               stage: str = "development", gate: Mapping[str, str] | None = None,
                               external_source: str | None = None, run_id: str | None = None) -> ModelVersion:
        """Register a version from ``runs:/<run_id>/<path>`` or from artifact digests; ``gate`` thresholds
        (``{"auc": ">= 0.8"}``) must hold or nothing is registered. ``external_source`` (any URI or path)
        registers a version whose files stay elsewhere: Mainsail records it and holds no files; ``run_id``
        then links the run when it is a Mainsail run and is kept as given otherwise."""
        body = {"name": name, "source": source, "artifacts": dict(artifacts) if artifacts else None,
                "external_source": external_source, "run_id": run_id,
                "framework": framework, "metrics": dict(metrics or {}),
                "params": {k: str(v) for k, v in (params or {}).items()}, "tags": dict(tags or {}),
                "description": description, "lineage": dict(lineage or {}), "stage": stage,
                "gate": dict(gate) if gate else None}
        return self._backend.call(ops.register_version, {"body": body})

    # ------------------------------------------------------------ the seeds' spelling
    def register_model(self, name: str, *, framework: str | None = None, metrics: Mapping[str, float] | None = None,
                       artifacts: Sequence[str | Path] | Mapping[str, str] | None = None, run_id: str | None = None,
                       artifact_uri: str | None = None, **options: Any) -> ModelVersion:
        """The seeds' spelling of :meth:`register_model_version`: ``artifacts`` are local files, uploaded
        with the registration (stored by their file name); with ``run_id`` or ``artifact_uri``
        (``runs:/<run_id>/<path>``) a name that is not a local file is taken from that run's artifacts.
        ``options``: ``params``, ``tags``, ``description``, ``lineage``, ``stage``, ``gate``."""
        body: dict[str, Any] = {"name": name, "framework": framework, "metrics": dict(metrics or {}),
                                "run_id": run_id, "source": artifact_uri}
        if isinstance(artifacts, Mapping):
            body["artifacts"] = dict(artifacts)
        elif artifacts is not None:
            names, files = [], {}
            for item in artifacts:
                local = Path(item)
                if local.is_file():
                    names.append(local.name)
                    files[local.name] = base64.b64encode(local.read_bytes()).decode()
                elif run_id or artifact_uri:
                    names.append(str(item))  # located on the server among the run's artifacts
                else:
                    raise InvalidInput(f"artifact {str(item)!r} not found: no such local file (give run_id or "
                                       "artifact_uri to take it from a run's artifacts)", code="artifact_not_found",
                                       errors=[{"loc": ["artifacts", len(names)], "msg": "no such file"}])
            body.update(artifacts=names, files=files)
        if "params" in options:
            options["params"] = {k: str(v) for k, v in options["params"].items()}
        return self._backend.call(ops.register_version, {"body": {**body, **options}})

    def promote_model(self, id: str, stage: str = "production", *, archive_existing: bool = True,
                      reason: str | None = None) -> ModelVersion:
        """The seeds' spelling of :meth:`set_model_stage`, by version id (what ``register_model``
        returned): the versions already in ``stage`` are archived unless ``archive_existing=False``.
        Stage names in any case, and MLflow's (``Production``, ``Staging``, ``Archived``)."""
        return self._backend.call(ops.set_stage, {"id": id, "body": {
            "stage": stage, "archive_existing": archive_existing, "reason": reason}})

    def get_model(self, name: str, stage: str | None = None, version: int | None = None) -> ModelVersion:
        """The seeds' spelling of :meth:`resolve_model`: the latest version of ``name`` in ``stage``
        (any case, MLflow's names too), that ``version``, or the latest version. Load it with
        ``load_model(f"models:/{name}/{v.version}")``."""
        if stage is not None:
            return self.get_latest_model_version(name, stage)
        return self.resolve_model(f"models:/{name}/{version}" if version is not None else f"models:/{name}")

    # ------------------------------------------------------------ reading
    def get_model_version(self, name_or_id: str, version: int | None = None) -> ModelVersion:
        """By version id, or by model name and version number."""
        if version is None:
            return self._backend.call(ops.get_version, {"id": name_or_id})
        return self._backend.call(ops.get_version_by_number, {"name": name_or_id, "version": version})

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._backend.call(ops.get_model, {"name": name})

    def list_registered_models(self, cursor: str | None = None, limit: int = 100) -> Page[RegisteredModel]:
        return self._backend.call(ops.list_models, {"cursor": cursor, "limit": limit})

    def list_model_versions(self, name: str, stage: str | None = None, cursor: str | None = None,
                            limit: int = 100) -> Page[ModelVersion]:
        return self._backend.call(ops.list_versions, {"name": name, "stage": stage, "cursor": cursor, "limit": limit})

    def set_model_stage(self, name: str, version: int, stage: str, *, archive_existing: bool = False,
                        gate: Mapping[str, str] | None = None, reason: str | None = None) -> ModelVersion:
        """Move a version to a stage; ``archive_existing`` deprecates the versions already there."""
        v = self.get_model_version(name, version)
        body = {"stage": stage, "archive_existing": archive_existing, "gate": dict(gate) if gate else None,
                "reason": reason}
        return self._backend.call(ops.set_stage, {"id": v.id, "body": body})

    def set_model_alias(self, name: str, alias: str, version: int, reason: str | None = None) -> ModelVersion:
        """Point ``alias`` (e.g. ``champion``) at a version; moves atomically."""
        return self._backend.call(ops.set_alias, {"name": name, "alias": alias,
                                                  "body": {"version": version, "reason": reason}})

    def delete_model_alias(self, name: str, alias: str) -> None:
        self._backend.call(ops.delete_alias, {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._backend.call(ops.get_version_by_alias, {"name": name, "alias": alias})

    def get_latest_model_version(self, name: str, stage: str) -> ModelVersion:
        return self._backend.call(ops.get_latest_in_stage, {"name": name, "stage": stage})

    def model_history(self, name: str) -> list[Transition]:
        return self._backend.call(ops.history, {"name": name})

    def model_lineage(self, name: str, version: int) -> LineageGraph:
        return self._backend.call(ops.get_lineage, {"id": self.get_model_version(name, version).id})

    def model_card(self, name: str, version: int) -> ModelCard:
        return self._backend.call(ops.get_card, {"id": self.get_model_version(name, version).id})

    def update_model_card(self, name: str, version: int, **fields: Any) -> ModelCard:
        """Edit card fields: summary, intended_use, limitations, ethical_considerations, training_data, owners."""
        return self._backend.call(ops.update_card, {"id": self.get_model_version(name, version).id, "body": fields})

    def check_model_gate(self, name: str, version: int, thresholds: Mapping[str, str]) -> GateResult:
        return self._backend.call(ops.check_gate, {"id": self.get_model_version(name, version).id,
                                                   "body": {"thresholds": dict(thresholds)}})

    # ------------------------------------------------------------ loading
    def resolve_model(self, uri: str) -> ModelVersion:
        """``models:/churn@champion``, ``models:/churn/production``, ``models:/churn/3``, ``models:/churn``
        (the latest version) → the model version."""
        m = _MODEL_URI.match(uri)
        if not m:
            raise InvalidInput(f"model URI {uri!r} must look like models:/NAME@ALIAS, models:/NAME/STAGE or "
                               "models:/NAME/VERSION", errors=[{"loc": ["uri"], "msg": "malformed model URI"}])
        name, alias, ref = m.group("name"), m.group("alias"), m.group("ref")
        if alias:
            return self.get_model_version_by_alias(name, alias)
        if ref is None:
            latest = self.get_registered_model(name).latest_version
            if latest is None:
                raise InvalidInput(f"registered model {name!r} has no versions")
            return self.get_model_version(name, latest)
        if ref.isdigit():
            return self.get_model_version(name, int(ref))
        stage = Stage.parse(ref)
        if stage is None:
            raise InvalidInput(f"model URI {uri!r}: {ref!r} is neither a version number nor a stage "
                               f"({', '.join(Stage.__members__)}, or MLflow's Staging, Production, Archived)",
                               errors=[{"loc": ["uri"], "msg": "unknown stage"}])
        return self.get_latest_model_version(name, stage.value)

    def download_model(self, uri: str, dest: str | Path | None = None, *, version: ModelVersion | None = None
                       ) -> Path:
        """Fetch a model package's files into a local folder (a per-version cache by default).
        ``version``: the model version ``uri`` already resolved to (saves resolving it again)."""
        if uri.startswith("runs:/"):
            run_id, _, path = uri.removeprefix("runs:/").partition("/")
            folder = Path(dest) if dest else contained(_cache_dir() / "runs", f"{run_id}/{path or '_root'}", "uri")
            files = {a.path[len(path) + 1:] if path else a.path: a.digest
                     for a in self.list_artifacts(run_id, path or None)}  # type: ignore[attr-defined]
            if not files:
                raise InvalidInput(f"{uri}: no artifacts at that path", errors=[{"loc": ["uri"], "msg": "no artifacts"}])
            fetch = lambda rel, digest: self.read_artifact(run_id, f"{path}/{rel}" if path else rel)  # type: ignore[attr-defined]  # noqa: E731
        else:
            v = version or self.resolve_model(uri)
            if v.external_source:
                raise InvalidInput(f"{uri} ({v.name} v{v.version}) has its files elsewhere, at {v.external_source}: "
                                   "Mainsail holds none of them, so fetch them from there",
                                   code="external_model_files", errors=[{"loc": ["uri"], "msg": "files elsewhere"}])
            folder = Path(dest) if dest else _contained_once(_cache_dir() / "models", v.id, "version id")
            files = {rel: ref.digest for rel, ref in v.files.items()}
            fetch = lambda rel, digest: self._backend.call(ops.download_file, {"id": v.id, "path": rel})  # noqa: E731
        verified: dict[str, str] = {}
        for rel, digest in files.items():
            if _contained_once(folder, rel, "artifact key").exists():
                continue  # load_package re-verifies every digest before anything is deserialized
            target = contained(folder, rel, "artifact key")  # checked afresh before anything is written
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(self._backend, LocalBackend):
                self._backend.runtime.store.get_file(digest, target, name=rel)  # hashed while copied
            else:
                data = fetch(rel, digest)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise IntegrityError(f"{uri}: downloaded {rel!r} does not match its SHA-256 {digest}",
                                         code="package_tampered", errors=[{"loc": ["files", rel],
                                                                           "msg": "sha256 mismatch"}])
                tmp = target.with_name(target.name + ".part")
                tmp.write_bytes(data)
                tmp.replace(target)
            verified[rel] = digest
        if verified:
            from mainsail.registry.packaging import record_verified

            record_verified(folder, verified)
        return folder

    def load_model(self, uri: str) -> Any:
        """Load a model as one object with ``predict``: ``models:/…``, ``runs:/<run_id>/<path>`` or a local
        folder. Every file's SHA-256 is checked before anything is deserialized; for registered versions
        the manifest itself is checked against the digest the registry recorded."""
        from mainsail.registry.packaging import MANIFEST, load_package

        if not uri.startswith(("models:/", "runs:/")) and Path(uri).exists():
            return load_package(Path(uri))
        pinned, version = None, None
        if uri.startswith("models:/"):
            version = self.resolve_model(uri)
            ref = version.files.get(MANIFEST)
            if ref is None and version.external_source:
                self.download_model(uri, version=version)  # the error naming where the files are
            if ref is None:
                raise InvalidInput(f"{uri} (v{version.version}) is not a Mainsail model package: it has no "
                                   f"{MANIFEST}; fetch its files with download_model()",
                                   code="not_a_model_package", errors=[{"loc": ["uri"], "msg": "no manifest"}])
            pinned = ref.digest
        return load_package(self.download_model(uri, version=version), manifest_sha256=pinned)


def _cache_dir() -> Path:
    return home_dir() / "cache"


# (base, name) -> the path that passed ``contained``: a version's folder and file keys never change, and
# resolving each path again (a syscall per component) was a third of a warm load's own time
_CONTAINED: dict[tuple[str, str], Path] = {}


def _contained_once(base: Path, name: str, what: str) -> Path:
    """:func:`contained`, remembered per process (a file about to be written is checked afresh)."""
    key = (str(base), name)
    path = _CONTAINED.get(key)
    if path is None:
        if len(_CONTAINED) > 10_000:
            _CONTAINED.clear()
        path = _CONTAINED[key] = contained(base, name, what)
    return path

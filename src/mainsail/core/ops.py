"""Operations: each API call is declared once, as a service function plus its HTTP method and path.

From that one declaration :mod:`mainsail.api.routes` derives the FastAPI route and
:class:`mainsail.client.backends.RemoteBackend` derives the HTTP call;
:class:`mainsail.client.backends.LocalBackend` calls the service in-process. Argument validation (:meth:`Operation.bind`) is the same pydantic model on every side, so
embedded and remote clients raise the same errors for the same input.

A service function's signature decides how each argument travels: names in the path template are
path parameters, a pydantic model is the JSON body, ``bytes`` is a raw octet-stream body, anything
else is a query parameter. Its return annotation is the response type (``None`` → 204)."""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from mainsail.core.errors import InvalidInput, describe_errors, pydantic_errors
from mainsail.core.principal import DEFAULT_PROJECT, ROLES, Principal, check
from mainsail.core.types import unstorable_text

if typing.TYPE_CHECKING:
    from mainsail.core.runtime import Ctx

AUTHENTICATED = "authenticated"  # an operation role: any signed-in caller (the service checks more itself)
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
REFERENCE = re.compile(r"(?:^|_)(?:ids?|refs?|source|service|features)$")  # query parameters naming resources: run_ids, ref


@dataclass
class Param:
    name: str
    annotation: Any
    default: Any
    where: str  # "path" | "query" | "body" | "raw"

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass
class Operation:
    """One API operation: a service function exposed at ``method path`` (relative to ``/api/v1``)."""

    name: str
    method: str
    path: str
    handler: Callable[..., Any]
    tag: str
    status_code: int = 200
    write: bool = True
    auth: bool = False  # needs an authenticated actor with a role (answers 401/403); set from ``role``
    role: str | None = None  # role needed in the call's project (or AUTHENTICATED); None: see default_role
    public: bool = False  # anyone may call it, authenticated or not (login)
    statuses: tuple[int, ...] = ()  # more error statuses it can answer with (e.g. 429 for login)
    projects: bool = False  # its objects carry a project (else: only the default project is served)
    secret: bool = False  # its response carries a secret (a new token): never stored for idempotent replay
    summary: str = ""
    # a read's shortcut: ``fast(runtime, **args, project=…)`` answers without a session (e.g. from a validated cache)
    # or returns None to run the operation as usual; called after :meth:`authorize`
    fast: Callable[..., Any] | None = None
    params: list[Param] = field(default_factory=list)
    response: Any = None
    _args_model: type[BaseModel] | None = None
    _response_adapter: TypeAdapter[Any] | None = None

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in (*ROLES, AUTHENTICATED):
            raise ValueError(f"operation {self.name!r}: role {self.role!r} is not one of {ROLES}")
        self.role = None if self.public else (self.role or default_role(self.method, self.write))
        self.auth = self.role is not None
        hints = typing.get_type_hints(self.handler, include_extras=True)
        sig = inspect.signature(self.handler)
        path_names = set(PATH_PARAM.findall(self.path))
        for pname, p in list(sig.parameters.items())[1:]:  # first parameter is the Ctx
            ann = hints.get(pname, Any)
            if pname in path_names:
                where = "path"
            elif ann is bytes:
                where = "raw"
            elif inspect.isclass(ann) and issubclass(ann, BaseModel):
                where = "body"
            else:
                where = "query"
            self.params.append(Param(pname, ann, p.default, where))
        self.response = hints.get("return", None)
        if self.response is type(None):
            self.response = None
        if self.response is None and self.status_code == 200:
            self.status_code = 204
        fields = {p.name: (p.annotation, ... if p.required else p.default) for p in self.params}
        self._args_model = create_model(  # type: ignore[call-overload]
            f"{self.name}_args", __config__=ConfigDict(arbitrary_types_allowed=True, extra="forbid"), **fields
        )
        if self.response is not None and self.response is not bytes:
            self._response_adapter = TypeAdapter(self.response)
        if not self.summary:
            self.summary = (inspect.getdoc(self.handler) or self.name).split("\n")[0]

    @property
    def operation_id(self) -> str:
        """Unique across the API (op sets may reuse function names): ``registry_get_version``."""
        return f"{self.tag}_{self.name}".replace("-", "_")

    @property
    def problem_statuses(self) -> list[int]:
        """The error statuses this operation can answer with, by one rule for every operation:
        422 (bad input) and 503 (a dependency is down) always; 404 when an input can name another
        resource (a path parameter, a JSON body — at any depth, e.g. a deployment's ``models:/…``
        variants — or a query parameter such as ``run_ids``); 409 for writes and for stored bytes (a
        conflict, or a blob that failed its digest check); 413 when it takes a body (over the route's
        limit, see docs/durability.md); 401 and 403 when the operation needs an
        authenticated actor. Only plain list reads (paging and filters) cannot answer 404."""
        statuses = {422, 503}
        if any(p.where in ("path", "body") or (p.where == "query" and REFERENCE.search(p.name))
               for p in self.params):
            statuses.add(404)
        if self.write or self.method != "GET" or self.response is bytes:  # a POST may compute under a read txn
            statuses.add(409)
        if any(p.where in ("body", "raw") for p in self.params):  # over the route's body limit
            statuses.add(413)
        if self.auth:
            statuses |= {401, 403}
        return sorted(statuses | set(self.statuses))

    def authorize(self, principal: Principal, project: str) -> None:
        """The one permission check of every operation, whichever way it is called (HTTP, embedded
        Client, CLI, pipelines): 401 for an anonymous caller, 403 naming :attr:`role` when it is missing.
        A domain whose objects carry no project yet serves only the default project (422 elsewhere), so
        members of another project never see its objects."""
        if project != DEFAULT_PROJECT and not self.projects:
            raise InvalidInput(
                f"project {project!r} holds no {self.tag} objects: they all live in project {DEFAULT_PROJECT!r} "
                f"(unset MAINSAIL_PROJECT / --project, or send no Mainsail-Project header)",
                code="project_not_supported",
                errors=[{"loc": ["header", "mainsail-project"], "msg": f"only {DEFAULT_PROJECT!r} for now",
                         "type": "project_not_supported"}])
        if self.role == AUTHENTICATED:  # anyone signed in; the service checks the rest (e.g. its own tokens)
            if principal.kind == "anonymous":
                check(principal, "viewer", project)  # raises the 401
        elif self.role is not None:
            check(principal, self.role, project)

    def shortcut(self, runtime: Any, principal: Principal, project: str, args: dict[str, Any]) -> Any:
        """The answer of :attr:`fast` (after the permission check), or None when the call must run."""
        if self.fast is None:
            return None
        self.authorize(principal, project)
        return self.fast(runtime, **args, project=project)  # the call's project: it answers only from there

    def invoke(self, ctx: Ctx, args: dict[str, Any]) -> Any:
        """Run the operation's service function in ``ctx`` for its principal, after :meth:`authorize`."""
        self.authorize(ctx.principal, ctx.project)
        return self.handler(ctx, **args)

    def bind(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validate call arguments; raise :class:`InvalidInput` naming each bad field."""
        assert self._args_model is not None
        try:
            model = self._args_model.model_validate(kwargs)
        except ValidationError as exc:
            errors = [{**e, "loc": self._http_loc(e["loc"])} for e in pydantic_errors(exc)]
            raise InvalidInput(f"invalid request: {describe_errors(errors)}", errors=errors) from None
        args = {name: getattr(model, name) for name in type(model).model_fields}
        # One check for every string of every operation (name, param value, filter, path, run_ids, …).
        if errors := [{**e, "loc": self._http_loc(e["loc"])} for e in unstorable_text(args)]:
            raise InvalidInput(f"invalid request: {describe_errors(errors)}", errors=errors)
        return args

    def _http_loc(self, loc: list[Any]) -> list[Any]:
        """Locations as HTTP callers see them: ``["query", "limit"]``, ``["body", "metrics", "value", 3]``."""
        param = next((p for p in self.params if loc and p.name == loc[0]), None)
        if param is None:
            return loc
        if param.where in ("body", "raw"):
            return ["body", *loc[1:]]
        return [param.where, *loc]

    def dump_response(self, result: Any) -> str | None:
        """The response as JSON text (what an idempotent replay sends again)."""
        if self._response_adapter is None:
            return None
        return self._response_adapter.dump_json(result).decode()

    def parse_response(self, data: bytes) -> Any:
        """Turn a JSON response body into the declared response type."""
        if self._response_adapter is None:
            return data if self.response is bytes else None
        return self._response_adapter.validate_json(data)


def default_role(method: str, write: bool) -> str:
    """The role an operation needs unless it says otherwise: reads (GET, or a POST that writes nothing)
    viewer, writes editor, deletes admin."""
    if method == "DELETE":
        return "admin"
    return "editor" if write else "viewer"


class OpSet:
    """The operations of one domain, declared in its ``ops.py``."""

    def __init__(self, tag: str, *, auth: bool = False, projects: bool = False, role: str | None = None):
        self.tag = tag
        self.auth = auth
        self.role = role  # the role every operation of the set needs, unless one says otherwise
        self.projects = projects  # see Operation.projects
        self.ops: dict[str, Operation] = {}

    def add(self, method: str, path: str, handler: Callable[..., Any], *, status: int = 200,
            name: str | None = None, write: bool | None = None, role: str | None = None,
            public: bool = False, statuses: tuple[int, ...] = (), secret: bool = False,
            projects: bool | None = None) -> Operation:
        """Expose ``handler`` at ``method path``. Reads (GET) run in a read-only transaction. ``role``
        overrides :func:`default_role`; ``public`` needs no credentials at all; ``projects`` overrides the
        set's (an operation on objects that belong to no project)."""
        op = Operation(
            name=name or handler.__name__, method=method.upper(), path=path, handler=handler, tag=self.tag,
            status_code=status, write=(method.upper() != "GET") if write is None else write,
            role=role or self.role, public=public, statuses=statuses,
            projects=self.projects if projects is None else projects, secret=secret,
        )
        if op.name in self.ops:
            raise ValueError(f"operation {op.name!r} declared twice")
        self.ops[op.name] = op
        return op

    def __getattr__(self, name: str) -> Operation:
        try:
            return self.__dict__["ops"][name]
        except KeyError:
            raise AttributeError(name) from None


class LazyOpSet:
    """A domain's :class:`OpSet`, imported from ``module`` on first use. SDK mixins name their domain's
    operations through one, so composing the Client does not import every domain's services and tables
    (a CLI command pays only for the domain it calls)."""

    def __init__(self, module: str):
        self._module = module
        self._target: OpSet | None = None

    def __getattr__(self, name: str) -> Operation:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self.__dict__.get("_target")
        if target is None:
            target = self.__dict__["_target"] = importlib.import_module(self.__dict__["_module"]).ops
        return getattr(target, name)

"""YAML text -> validated ``Case``, with errors that name the file and the key.

The YAML is read with ``yaml.safe_load`` only: a case file is data and nothing in it is evaluated.
"""
from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import CaseError
from .schema import Case, Shape


def load_case(path: str | Path, overrides: Iterable[str] = ()) -> tuple[Case, str]:
    """Read and validate a case file; returns the case and its YAML text (stored in outputs).

    ``overrides`` are ``dotted.key=value`` strings (values parsed as YAML), applied before validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError("", "no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError("", f"cannot read the file ({err})", file=str(path)) from None
    return load_case_text(text, source=str(path), overrides=overrides, directory=path.parent), text


def load_case_text(text: str, source: str = "<case>", overrides: Iterable[str] = (),
                   directory: str | Path | None = None) -> Case:
    """Validate case YAML given as text; ``source`` names it in error messages.

    ``directory``: the folder that file paths in the case (``stl.file``) are relative to, the case
    file's own (load_case passes it); None: the current working folder.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        raise CaseError("", f"YAML syntax error at {_yaml_error_place(err)}: {err.problem}",
                        file=source) from None
    except yaml.YAMLError as err:
        raise CaseError("", f"YAML error: {err}", file=source) from None
    if not isinstance(raw, dict):
        raise CaseError("", "the case file must be a mapping of keys (name, dimension, material, ...)",
                        file=source)
    overrides = list(overrides)
    try:
        for item in overrides:
            key, value = parse_override(item)
            try:
                _set_dotted(raw, key, value)
            except CaseError as err:
                err.origin = item
                raise
        case = _validate(raw, directory)
        check_consistency(case)
    except CaseError as err:
        err.file = source
        err.origin = err.origin or _override_behind(err.key, overrides)
        raise
    return case


def _yaml_error_place(err: yaml.MarkedYAMLError) -> str:
    """Where a YAML syntax error is, as the user counts lines. PyYAML marks where its scanner gave
    up, which for a key without its ':' or an unclosed bracket is the line after the mistake; the
    context mark (where the key or the bracket began) is then the line to fix."""
    mark = err.problem_mark
    context = err.context or ""
    if err.context_mark is not None and (context.startswith(("while scanning a simple key", "while parsing a flow"))):
        mark = err.context_mark
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"


def _override_behind(key: str, overrides: list[str]) -> str | None:
    """The --set item that wrote ``key`` (or a mapping holding it), if any: errors in it are the
    command line's, not the file's. The last one wins, as it does when they are applied."""
    found = None
    for item in overrides:
        set_key = item.partition("=")[0].strip()
        if key == set_key or key.startswith((set_key + ".", set_key + "[")):
            found = item
    return found


def parse_override(item: str) -> tuple[str, Any]:
    """``a.b[1].c=value`` -> (``a.b[1].c``, YAML-parsed value)."""
    if "=" not in item:
        raise CaseError(item, "an override must look like key.subkey=value")
    key, _, text = item.partition("=")
    key = key.strip()
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise CaseError(key, f"cannot parse the override value {text!r} as YAML") from None
    return key, value


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    parts: list[str | int] = []
    for piece in key.split("."):
        name, *indices = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        for index in indices:
            if not index.isdigit():
                raise CaseError(key, f"bad list index [{index}] in the override")
            parts.append(int(index))
    if not parts:
        raise CaseError(key, "empty override key")
    node: Any = raw
    for part, nxt in itertools.pairwise(parts):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise CaseError(key, f"the override's index [{part}] is out of range")
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise CaseError(key, f"cannot set {part!r} inside a value that is not a mapping")
        if node.get(part) is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise CaseError(key, f"the override's index [{last}] is out of range")
    elif not isinstance(node, dict):
        raise CaseError(key, "cannot set a key inside a value that is not a mapping")
    node[last] = value


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The schema class that holds the key at ``loc`` (to suggest names for unknown keys)."""
    model: Any = Case
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is Case and part == "regions":
            model = "regions"
            continue
        if model == "regions":
            model = Shape
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Unwrap Optional[...] and list[...] to the BaseModel inside, if any."""
    stack = [annotation]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
        stack.extend(getattr(ann, "__args__", ()))
    return None


def _validate(raw: dict, directory: str | Path | None = None) -> Case:
    try:
        # The Stl shapes resolve their files against the directory (schema.Stl).
        return Case.model_validate(raw, context={"directory": directory})
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = _dotted(loc)
        kind = first["type"]
        if kind == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
            model = _model_at(loc)
            if model is not None:
                match = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
                if match:
                    message += f"; did you mean {match[0]!r}?"
                else:
                    message += f" (allowed: {', '.join(model.model_fields)})"
        elif kind == "missing":
            message = "required key is missing" + _typo_of(loc, err.errors())
        elif kind == "value_error":
            message = str(first["msg"]).removeprefix("Value error, ")
        else:
            value = first.get("input")
            shown = repr(value) if not isinstance(value, dict) else "a mapping"
            message = f"{first['msg']} (got {shown})"
        raise CaseError(key, message) from None


def _typo_of(loc: tuple, errors: list[dict]) -> str:
    """For a missing key: the unknown key beside it that looks like its misspelling, if any
    (``young_modulus`` for ``youngs_modulus``); pydantic reports the two as separate errors."""
    unknown = [e["loc"][-1] for e in errors
               if e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == loc[:-1]]
    match = difflib.get_close_matches(str(loc[-1]), [str(u) for u in unknown], n=1, cutoff=0.6)
    if match:
        return f"; the unknown key {match[0]!r} beside it looks like its misspelling"
    if unknown:
        return f" (unknown keys beside it: {', '.join(repr(str(u)) for u in unknown)})"
    return ""


def check_consistency(case: Case) -> None:
    """Rules that need the whole case: vector lengths, 2D/3D-only keys, names, solver combinations."""
    dim = case.dimension
    if dim == 3:
        if case.plane is not None:
            raise CaseError("plane", "plane is a 2D setting; remove it from a 3D case")
        if case.thickness is not None:
            raise CaseError("thickness", "thickness is a 2D setting; remove it from a 3D case")

    def vector(key: str, value: list, allow_none: bool = False) -> None:
        if len(value) != dim:
            raise CaseError(key, f"expected {dim} components for a {dim}D case, got {len(value)}")
        for component in value:
            if component is None:
                if not allow_none:
                    raise CaseError(key, "null components are allowed only in velocity and "
                                         "displacement conditions")
            elif not math.isfinite(component):
                raise CaseError(key, f"components must be finite numbers, got {component}")

    def shape(key: str, s: Shape) -> None:
        kind = s.kind
        if kind == "point_set":
            if not key.startswith("regions."):
                raise CaseError(f"{key}.point_set", "a point set names particles of the body: use "
                                                    "it in regions, not as a body part or a hole")
            from ..geometry import shapes  # meshio loads on first use
            try:
                shapes.point_set(s.spec, dim)   # can it be read, does it have the set?
            except shapes.ShapeError as err:
                raise CaseError(f"{key}.point_set.file", str(err)) from None
            return
        if kind in ("circle", "polygon", "ring") and dim != 2:
            other = {"circle": "sphere or cylinder", "polygon": "stl", "ring": "cylinder"}[kind]
            raise CaseError(f"{key}.{kind}", f"{kind} is a 2D shape; use {other} in 3D")
        if kind in ("sphere", "cylinder", "stl") and dim != 3:
            other = "circle" if kind != "stl" else "polygon"
            raise CaseError(f"{key}.{kind}", f"{kind} is a 3D shape; use {other} in 2D")
        spec = s.spec
        for name in ("min", "max", "center", "start", "end", "facing"):
            if getattr(spec, name, None) is not None:
                vector(f"{key}.{kind}.{name}", getattr(spec, name))
        if kind == "ring" and spec.facing is not None and not any(spec.facing):
            raise CaseError(f"{key}.ring.facing", "facing must be a direction, not the zero vector")
        if kind == "ring" and spec.facing is None and spec.arc != 180.0:
            raise CaseError(f"{key}.ring.arc", "arc needs facing, the direction it is centred on")
        if kind == "box" and any(hi <= lo for lo, hi in zip(spec.min, spec.max)):
            raise CaseError(f"{key}.box", "every component of max must exceed min")
        if kind == "cylinder" and all(a == b for a, b in zip(spec.start, spec.end)):
            raise CaseError(f"{key}.cylinder", "start and end must differ")
        if kind == "polygon":
            for index, point in enumerate(spec.points):
                vector(f"{key}.polygon.points[{index}]", point)
        if kind in ("polygon", "stl"):
            from ..geometry import shapes  # shapely and trimesh load on first use
            try:
                if kind == "polygon":
                    shapes.polygon(spec)        # is it simple?
                else:
                    shapes.solid(spec)          # can it be read, is it closed?
            except shapes.ShapeError as err:
                raise CaseError(f"{key}.polygon" if kind == "polygon" else f"{key}.stl.file",
                                str(err)) from None

    body = case.geometry
    for key, part in body.parts:
        shape(key, part)
    spacing = case.discretization.spacing
    if body.box is not None and any(hi - lo < spacing for lo, hi in zip(body.box.min, body.box.max)):
        raise CaseError("discretization.spacing", "the spacing is larger than the box")
    for index, hole in enumerate(body.holes):
        shape(f"geometry.holes[{index}]", hole)
    for name, region in case.regions.items():
        shape(f"regions.{name}", region)

    if case.horizon <= spacing:
        key = "discretization.horizon" if case.discretization.horizon else "discretization.horizon_factor"
        raise CaseError(key, f"the horizon ({case.horizon:g} m) must be larger than the spacing "
                             f"({spacing:g} m); 3.015 spacings is the usual choice")

    for index, crack in enumerate(case.precracks):
        key = f"precracks[{index}]"
        if crack.segment is not None:
            if dim != 2:
                raise CaseError(f"{key}.segment", "segment is a 2D pre-crack; use rectangle in 3D")
            vector(f"{key}.segment.start", crack.segment.start)
            vector(f"{key}.segment.end", crack.segment.end)
        else:
            if dim != 3:
                raise CaseError(f"{key}.rectangle", "rectangle is a 3D pre-crack; use segment in 2D")
            for name in ("corner", "edge1", "edge2"):
                vector(f"{key}.rectangle.{name}", getattr(crack.rectangle, name))

    names = list(case.regions)
    quasi_static = case.solver.type == "quasi_static"
    for index, bc in enumerate(case.boundary_conditions):
        key = f"boundary_conditions[{index}]"
        if bc.region not in case.regions:
            raise CaseError(f"{key}.region", f"unknown region {bc.region!r}" + _suggest(bc.region, names))
        vector(f"{key}.value", bc.value, allow_none=bc.type in ("velocity", "displacement"))
        if all(v is None for v in bc.value):
            raise CaseError(f"{key}.value", "every component is null: the condition would do nothing")
        if quasi_static and bc.type in ("velocity", "initial_velocity"):
            raise CaseError(f"{key}.type", f"{bc.type} has no meaning in a quasi_static run; use "
                                           "displacement, force, traction or body_force")
        if bc.type == "traction" and case.regions[bc.region].kind != "box":
            # The layer depth that turns a traction into a body force is a slab's thickness
            # (docs/theory.md sec. 8); on a curved region the total force would be wrong.
            raise CaseError(f"{key}.type", f"a traction needs a box region at the loaded surface; "
                                           f"{bc.region!r} is a {case.regions[bc.region].kind}, on "
                                           "which its total force would be wrong: give the load as "
                                           "type: force (the total force in N)")
        if quasi_static and bc.ramp_time:
            raise CaseError(f"{key}.ramp_time", "quasi_static runs apply loads in solver.load_steps "
                                                "increments; ramp_time is for explicit runs")
        if bc.type == "initial_velocity" and bc.ramp_time:
            raise CaseError(f"{key}.ramp_time", "an initial velocity is not ramped")
    for index, name in enumerate(case.no_fail):
        if name not in case.regions:
            raise CaseError(f"no_fail[{index}]", f"unknown region {name!r}" + _suggest(name, names))

    solver = case.solver
    if solver.type == "explicit":
        if (solver.end_time is None) == (solver.steps is None):
            raise CaseError("solver", "an explicit solver needs exactly one of end_time or steps")
        if solver.safety_factor is not None and solver.time_step is not None:
            raise CaseError("solver", "give safety_factor or time_step, not both")
        for name in ("load_steps", "tolerance", "max_iterations"):
            if getattr(solver, name) is not None:
                raise CaseError(f"solver.{name}", f"{name} belongs to the quasi_static solver")
    else:
        for name in ("end_time", "steps", "safety_factor", "time_step"):
            if getattr(solver, name) is not None:
                raise CaseError(f"solver.{name}", f"{name} belongs to the explicit solver; "
                                                  "quasi_static uses load_steps")


def _suggest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1)
    if match:
        return f"; did you mean {match[0]!r}?"
    return f" (defined: {', '.join(choices) or 'none'})"

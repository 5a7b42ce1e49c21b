"""Read Detectron2's Python config files without running them: a small evaluator over their syntax trees.

Detectron2 keeps configuration in Python: `defaults.py` assigns every yacs default (`_C.MODEL.RPN.NMS_THRESH = 0.7`),
a yaml may hold a `!!python/object/apply:eval` expression (Base-RetinaNet.yaml's anchor sizes), and the LSJ
baselines are LazyConfig files (`model.backbone.norm = "SyncBN"`, `L(RegNet)(depth=22, ...)`). Running any of them
would import detectron2 (not installed, and the files are untrusted input), so this module walks their `ast`
instead and evaluates only what configuration needs: literals, arithmetic, list/generator comprehensions,
attribute assignment, `dict(...)`, yacs's `CN(...)`, LazyConfig's `L(target)(**kwargs)`, `OmegaConf.create()`,
and imports, where an import of code becomes an opaque `Symbol` (its dotted name; a call of one, such as
`ShapeSpec(channels=256)`, is recorded as a `Node` with `_call_`, never run) and a relative import of another
config file reads that file the same way. Anything else is a `StaticConfigError` naming the file and
line: a config that needs more is not silently half-read.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.errors import ExplorerError

_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: Mapping[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_MAX_EXPONENT = 64  # 2 ** (1/3) is configuration; 10 ** 10 ** 10 is an attack
_MAX_RANGE = 10_000  # configuration loops over a few levels or stages
_INTERPOLATION = re.compile(r"^\$\{(\.*)([A-Za-z_][\w.]*)\}$")
#: The calls a config may make that this reader evaluates, by the callee's dotted name.
LAZY_CALL_NAMES = frozenset({"detectron2.config.LazyCall", "detectron2.config.lazy.LazyCall"})
_OMEGACONF_CREATE = "omegaconf.OmegaConf.create"


class StaticConfigError(ExplorerError, ValueError):
    """A config file uses Python this static reader does not evaluate (or is not valid Python / yaml)."""


@dataclass(frozen=True)
class Symbol:
    """An imported name that is code, not configuration: kept as its dotted name, never imported."""

    name: str

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class LambdaCall:
    """`lambda c: NaiveSyncBatchNorm(c, ...)`: a factory, kept as the name of what it calls."""

    callee: str


@dataclass(frozen=True)
class _LazyTarget:
    """`L(target)`: waiting for its keyword arguments."""

    target: str


class Node(dict):
    """A config mapping (a `dict(...)`, a yacs node, or a LazyCall's arguments with `_target_`)."""


class _Evaluator:
    """Evaluates one expression against a scope of names (module globals plus comprehension variables)."""

    def __init__(self, scope: Mapping[str, Any], where: str) -> None:
        self.scope = scope
        self.where = where

    def fail(self, node: ast.AST, what: str) -> StaticConfigError:
        return StaticConfigError(f"{self.where}:{getattr(node, 'lineno', '?')}: {what} cannot be read statically")

    def __call__(self, node: ast.AST, local: Mapping[str, Any] | None = None) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"a {type(node).__name__} expression")
        return method(node, local or {})

    def _Constant(self, node: ast.Constant, local: Mapping[str, Any]) -> Any:
        return node.value

    def _List(self, node: ast.List, local: Mapping[str, Any]) -> list[Any]:
        return [self(item, local) for item in node.elts]

    def _Tuple(self, node: ast.Tuple, local: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(self(item, local) for item in node.elts)

    def _Dict(self, node: ast.Dict, local: Mapping[str, Any]) -> Node:
        if any(key is None for key in node.keys):
            raise self.fail(node, "a ** in a dict literal")
        return Node({self(key, local): self(value, local) for key, value in zip(node.keys, node.values, strict=True)})

    def _UnaryOp(self, node: ast.UnaryOp, local: Mapping[str, Any]) -> Any:
        if type(node.op) not in _UNARY:
            raise self.fail(node, "this unary operator")
        return _UNARY[type(node.op)](self(node.operand, local))

    def _BinOp(self, node: ast.BinOp, local: Mapping[str, Any]) -> Any:
        if type(node.op) not in _BINARY:
            raise self.fail(node, "this operator")
        left, right = self(node.left, local), self(node.right, local)
        if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (left, right)):
            raise self.fail(node, "arithmetic on non-numbers")
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise self.fail(node, f"an exponent of {right}")
        return _BINARY[type(node.op)](left, right)

    def _Name(self, node: ast.Name, local: Mapping[str, Any]) -> Any:
        if node.id in local:
            return local[node.id]
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("dict", "list", "tuple", "range"):
            return Symbol(f"builtins.{node.id}")
        raise self.fail(node, f"the name {node.id!r}")

    def _Attribute(self, node: ast.Attribute, local: Mapping[str, Any]) -> Any:
        owner = self(node.value, local)
        if isinstance(owner, Symbol):
            return Symbol(f"{owner.name}.{node.attr}")
        if isinstance(owner, Mapping):
            if node.attr not in owner:
                raise self.fail(node, f"the missing key {node.attr!r}")
            return owner[node.attr]
        raise self.fail(node, f"the attribute {node.attr!r} of a {type(owner).__name__}")

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp, local: Mapping[str, Any]) -> list[Any]:
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise self.fail(node, "a comprehension with several loops")
        loop = node.generators[0]
        if not isinstance(loop.target, ast.Name):
            raise self.fail(node, "a comprehension that unpacks")
        items = self(loop.iter, local)
        if not isinstance(items, list | tuple | range):
            raise self.fail(node, f"a loop over a {type(items).__name__}")
        values = []
        for item in items:
            inner = {**local, loop.target.id: item}
            if all(self(condition, inner) for condition in loop.ifs):
                values.append(self(node.elt, inner))
        return values

    def _ListComp(self, node: ast.ListComp, local: Mapping[str, Any]) -> list[Any]:
        return self._comprehension(node, local)

    def _GeneratorExp(self, node: ast.GeneratorExp, local: Mapping[str, Any]) -> list[Any]:
        return self._comprehension(node, local)

    def _Lambda(self, node: ast.Lambda, local: Mapping[str, Any]) -> LambdaCall:
        body = node.body
        if isinstance(body, ast.Call) and isinstance(body.func, ast.Name | ast.Attribute):
            callee = self(body.func, {**local, **{arg.arg: None for arg in node.args.args}})
            if isinstance(callee, Symbol):
                return LambdaCall(callee.name)
        raise self.fail(node, "a lambda that is not one call of an imported name")

    def _Call(self, node: ast.Call, local: Mapping[str, Any]) -> Any:
        callee = self(node.func, local)
        if any(keyword.arg is None for keyword in node.keywords) or any(
                isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(node, "a call with * or ** arguments")
        args = [self(arg, local) for arg in node.args]
        kwargs = {keyword.arg: self(keyword.value, local) for keyword in node.keywords}
        if isinstance(callee, _LazyTarget):
            if args:
                raise self.fail(node, "a LazyCall with positional arguments")
            return Node({"_target_": callee.target, **kwargs})
        name = callee.name if isinstance(callee, Symbol) else ""
        if name in LAZY_CALL_NAMES and len(args) == 1 and not kwargs and isinstance(args[0], Symbol):
            return _LazyTarget(args[0].name)
        if name == "builtins.dict" and not args:
            return Node(kwargs)
        if name in ("builtins.tuple", "builtins.list") and len(args) == 1 and not kwargs:
            return (tuple if name.endswith("tuple") else list)(args[0])
        if name == "builtins.range" and 1 <= len(args) <= 3 and all(type(arg) is int for arg in args):
            steps = range(*args)
            if len(steps) > _MAX_RANGE:
                raise self.fail(node, f"a range of {len(steps)} items")
            return steps
        if name == _OMEGACONF_CREATE and not args and not kwargs:
            return Node()
        if name.endswith(".CfgNode") and len(args) <= 1 and not kwargs:  # yacs CfgNode in defaults.py
            return Node(args[0] if args else {})
        if name and not name.startswith("builtins."):  # e.g. ShapeSpec(channels=256): recorded, never run
            return Node({"_call_": name, "_args_": args, **kwargs})
        raise self.fail(node, f"a call of {name or type(callee).__name__}")


def evaluate_expression(text: str, where: str) -> Any:
    """One Python expression (e.g. a yaml `!!python/object/apply:eval` argument), evaluated statically."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise StaticConfigError(f"{where}: {text!r} is not a Python expression") from error
    return _Evaluator({}, where)(tree.body)


def _target_path(node: ast.AST, where: str) -> list[str]:
    """`a.b.c` (an assignment target) -> ["a", "b", "c"]."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise StaticConfigError(f"{where}:{getattr(node, 'lineno', '?')}: an assignment to something other than "
                                "a name or attribute cannot be read statically")
    return [node.id, *reversed(parts)]


class ConfigModule:
    """One config file executed statically: its module-level names (`namespace`) after every assignment.

    `root` bounds the relative imports: a config may import other configs below `root`, nothing else;
    `relative_imports_are_code` is for defaults.py, whose `from .config import CfgNode as CN` is code.
    """

    def __init__(self, path: Path, root: Path, *, relative_imports_are_code: bool = False,
                 importers: tuple[Path, ...] = ()) -> None:
        self.path = path
        self.root = root
        self.importers = (*importers, path.resolve())  # the files whose imports led here, to refuse a cycle
        self.relative_imports_are_code = relative_imports_are_code
        self.where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        self.namespace: dict[str, Any] = {}
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError) as error:
            raise StaticConfigError(f"{self.where}: not a readable Python file ({error})") from error
        self._evaluate = _Evaluator(self.namespace, self.where)
        for statement in tree.body:
            self._run(statement)

    def _fail(self, node: ast.AST, what: str) -> StaticConfigError:
        return StaticConfigError(f"{self.where}:{getattr(node, 'lineno', '?')}: {what} cannot be read statically")

    def _run(self, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            return  # a docstring or a bare literal
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                bound = alias.asname or alias.name.split(".")[0]
                self.namespace[bound] = Symbol(alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(statement, ast.ImportFrom):
            self._import_from(statement)
        elif isinstance(statement, ast.Assign):
            value = self._evaluate(statement.value)
            for target in statement.targets:
                self._assign(_target_path(target, self.where), value, statement)
        elif isinstance(statement, ast.AugAssign) and type(statement.op) in _BINARY:
            path = _target_path(statement.target, self.where)
            current = self._evaluate(statement.target)
            change = self._evaluate(statement.value)
            self._assign(path, self._evaluate(ast.BinOp(ast.Constant(current), statement.op, ast.Constant(change),
                                                        lineno=statement.lineno)), statement)
        else:
            raise self._fail(statement, f"a {type(statement).__name__} statement")

    def _import_from(self, statement: ast.ImportFrom) -> None:
        if statement.level == 0 or self.relative_imports_are_code:
            for alias in statement.names:
                self.namespace[alias.asname or alias.name] = Symbol(f"{statement.module}.{alias.name}")
            return
        folder = self.path.parent
        for _ in range(statement.level - 1):
            folder = folder.parent
        target = folder.joinpath(*(statement.module or "").split(".")).with_suffix(".py")
        if not target.resolve().is_relative_to(self.root.resolve()) or not target.is_file():
            raise self._fail(statement, f"the import of {'.' * statement.level}{statement.module} (no config file "
                             "there below the config folder)")
        if target.resolve() in self.importers:
            raise self._fail(statement, f"the import cycle through {target.name}")
        imported = ConfigModule(target, self.root, importers=self.importers).namespace  # afresh, as LazyConfig.load
        for alias in statement.names:
            if alias.name not in imported:
                raise self._fail(statement, f"the name {alias.name!r}, which {target.name} does not define,")
            self.namespace[alias.asname or alias.name] = imported[alias.name]

    def _assign(self, path: list[str], value: Any, statement: ast.stmt) -> None:
        if len(path) == 1:
            self.namespace[path[0]] = value
            return
        owner = self.namespace.get(path[0])
        for part in path[1:-1]:
            if not isinstance(owner, Mapping) or part not in owner:
                raise self._fail(statement, f"an assignment below the missing key {part!r}")
            owner = owner[part]
        if not isinstance(owner, dict):
            raise self._fail(statement, f"an assignment into a {type(owner).__name__}")
        owner[path[-1]] = value


def lookup(root: Mapping[str, Any], dotted: str, where: str = "") -> Any:
    """The value at `a.b.c` below `root`, resolving OmegaConf interpolations ("${..num_classes}") on the way.

    A relative interpolation with n dots is looked up from the n-th mapping above the key (1 = the mapping that
    holds the key), an absolute one from `root`, as OmegaConf does.
    """
    stack: list[Mapping[str, Any]] = []  # the mappings above the current key, innermost last
    value: Any = root
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"{where}: no {dotted!r} in the config" if where else dotted)
        stack.append(value)
        value = value[part]
        value = _resolve(value, stack, root, where)
    return value


def _resolve(value: Any, stack: list[Mapping[str, Any]], root: Mapping[str, Any], where: str) -> Any:
    if not isinstance(value, str):
        return value
    match = _INTERPOLATION.match(value)
    if match is None:
        return value
    dots, rest = len(match.group(1)), match.group(2)
    if dots == 0:
        return lookup(root, rest, where)
    if dots >= len(stack):
        raise KeyError(f"{where}: interpolation {value!r} climbs above the config root")
    return lookup(stack[-dots], rest, where)

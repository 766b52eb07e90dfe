"""Numbers a newcomer would use to judge the code's shape: modules per package, the largest module and
function, comparisons of a status or outcome against a bare string, `# type: ignore` comments, and the
README's size. Run from the repository root: .venv/bin/python scripts/architecture_metrics.py"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOTS = ("safeguard", "flows", "tasks", "cli")
STATUS_ATTRIBUTES = {"status", "outcome", "decision", "kind", "verb"}


def code_files(root: Path) -> list[Path]:
    return sorted(p for top in ROOTS for p in (root / top).rglob("*.py") if "migrations" not in p.parts)


def bare_status_comparisons(tree: ast.AST) -> int:
    """`x.status == "WITHDRAWN"`, `r.outcome in ("accepted", ...)` and the like."""
    def is_text(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return True
        return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(is_text(e) for e in node.elts)

    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr in STATUS_ATTRIBUTES for s in sides)
            count += named and any(is_text(s) for s in sides)
    return count


def main(root: Path) -> None:
    files = code_files(root)
    per_package: Counter[str] = Counter()
    largest_module = max(files, key=lambda p: len(p.read_text().splitlines()))
    functions: list[tuple[int, str]] = []
    comparisons = ignores = 0
    for path in files:
        rel = path.relative_to(root)
        per_package["/".join(rel.parts[:2]) if len(rel.parts) > 2 else rel.parts[0]] += 1
        text = path.read_text()
        tree = ast.parse(text)
        functions += [(n.end_lineno - n.lineno + 1, f"{rel}:{n.name}") for n in ast.walk(tree)  # type: ignore[operator]
                      if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        comparisons += bare_status_comparisons(tree)
        ignores += text.count("# type: ignore")
    print("modules per package:")
    for package, count in sorted(per_package.items()):
        print(f"  {package}: {count}")
    print(f"largest module: {largest_module.relative_to(root)} "
          f"({len(largest_module.read_text().splitlines())} lines)")
    size, name = max(functions)
    print(f"largest function: {name} ({size} lines)")
    print(f"status/outcome compared with a bare string: {comparisons}")
    print(f"'# type: ignore' in {', '.join(ROOTS)}: {ignores}")
    readme = root / "README.md"
    print(f"README.md: {readme.stat().st_size} bytes, {len(readme.read_text().splitlines())} lines")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())

"""Render the route table of docs/API.md from the OpenAPI document, so the two cannot drift.

``python -m hall.apidoc docs/API.md`` rewrites the text between the markers
``<!-- routes:begin -->`` and ``<!-- routes:end -->``; everything else in the file is
written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- routes:begin -->", "<!-- routes:end -->"


def _body(op: dict[str, Any]) -> str:
    schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
              .get("schema", {}))
    required = set(schema.get("required", ()))
    fields = [f"`{name}`{'' if name in required else '?'}: {spec['type']}"
              for name, spec in schema.get("properties", {}).items()]
    return ", ".join(fields) or "—"


def _answer(op: dict[str, Any]) -> str:
    """The success body's declared schema: its model name(s) (``/openapi.json`` has them)."""
    ok: dict[str, Any] = next((r for s, r in op["responses"].items() if s.startswith("2")), {})
    content = ok.get("content", {})
    if "application/json" not in content:
        return ", ".join(f"`{m}`" for m in content) or "—"
    schema = content["application/json"]["schema"]
    refs = [s.get("$ref", "") for s in schema.get("anyOf", [schema])]
    names = [r.rsplit("/", 1)[1] for r in refs if r]
    extra = [f"`{m}`" for m in content if m != "application/json"]
    return " \\| ".join(f"`{n}`" for n in names) + (" or " + ", ".join(extra) if extra
                                                       else "") if names else "object"


def routes_table(doc: dict[str, Any]) -> str:
    """A Markdown table per tag: method and path, what it does, who may call, body fields,
    and the declared success body."""
    by_tag: dict[str, list[str]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            who = op["description"].removeprefix("Who may call: ").removesuffix(".")
            summary = op["summary"].replace("|", "\\|")
            row = (f"| `{method.upper()} {path}` | {summary} | {who} | {_body(op)} | "
                   f"{_answer(op)} |")
            by_tag.setdefault(op["tags"][0], []).append(row)
    out: list[str] = []
    for tag, rows in by_tag.items():
        out += [f"### {tag}", "",
                "| route | what it does | who may call | JSON body (`?` optional) | answer |",
                "|---|---|---|---|---|", *rows, ""]
    return "\n".join(out)


def rewrite(path: Path, doc: dict[str, Any]) -> None:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{routes_table(doc)}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str]) -> int:
    from hall.app import create_app
    from hall.http import openapi_document
    from hall.settings import Settings

    create_app(Settings(redis_url="redis://unused", start_worker=False))  # registers routes
    rewrite(Path(argv[0] if argv else "docs/API.md"), openapi_document())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

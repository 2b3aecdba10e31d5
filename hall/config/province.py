"""A province file: many halls generated from a few templates, loaded in bounded time.

A provincial platform (省级统建) runs thousands of halls that differ only in their id,
name and region. Writing 20,000 hall files and validating each would take minutes; a
province file names the templates and how many halls each gives::

    [province]
    name_zh = "示范省"
    name_en = "Demo Province"
    cities = 21                  # generated halls are spread over cities c01 … c21

    [[province.halls]]
    template = "district"        # a bundled template, or a hall file relative to this one
    count = 20
    prefix = "d"                 # ids d00001 … d00020

Each template is read and validated ONCE (``hall.config.parse``); every generated hall
is a copy of the typed template with its own id, names and region (the matters, queues,
windows and staff tuples are shared, not copied), so loading costs microseconds a hall.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from hall.config.checking import ConfigError, check
from hall.config.schema import Table
from hall.config.types import HallConfig
from hall.text import hall_id_chars

TEMPLATES = ("district", "town", "village")


def _prefix(value: str) -> str:
    if not value or not hall_id_chars(value):
        raise ValueError("may hold only letters, digits, '-' and '_'")
    return value


class GenerateTable(Table):
    template: str
    count: Annotated[int, Field(ge=0, le=100_000)]
    prefix: Annotated[str, AfterValidator(_prefix)]


class ProvinceTable(Table):
    name_zh: str = "省级平台"
    name_en: str = "Provincial platform"
    cities: Annotated[int, Field(ge=1, le=1000)] = 1
    halls: list[GenerateTable] = Field(default_factory=list)


class ProvinceFile(Table):
    province: ProvinceTable


def is_province(raw: Mapping[str, Any]) -> bool:
    """A parsed TOML mapping is a province file (it has a ``[province]`` table)."""
    return "province" in raw


def region_of(index: int, cities: int) -> str:
    """The city a generated hall belongs to: halls are dealt over cities in turn."""
    return f"c{index % cities + 1:02d}"


def generate(raw: Mapping[str, Any], source: Path,
             load: Any) -> dict[str, HallConfig]:
    """Expand a province file into its halls; ``load(path)`` reads one template (cached).

    Every mistake is collected before refusing (one ``ConfigError``): the province table,
    each template missing or with mistakes of its own (named through the group that uses
    it), and hall ids generated twice. A generated hall differs from its template only in
    id, names and region, so a valid template and a unique id make a valid hall."""
    problems: list[str] = []
    found = check(ProvinceFile, raw, (), problems)
    if found is None:
        raise ConfigError(str(source), problems)
    province = found.province
    halls: dict[str, HallConfig] = {}
    dealt = 0
    for i, group in enumerate(province.halls):
        at = f"province.halls[{i}]"
        path = template_path(group.template, source.parent)
        if not path.is_file():
            problems.append(f"{at}.template: no template '{group.template}' "
                            f"(bundled: {', '.join(TEMPLATES)}, or a hall file)")
            continue
        try:
            template: HallConfig = load(path)
        except ConfigError as exc:
            problems.extend(f"{at}.template '{group.template}': {p}" for p in exc.problems)
            continue
        width = max(5, len(str(group.count)))
        twice: list[str] = []
        for n in range(1, group.count + 1):
            hall_id = f"{group.prefix}{n:0{width}d}"
            if hall_id in halls:
                twice.append(hall_id)
                continue
            halls[hall_id] = dataclasses.replace(
                template, id=hall_id, name_zh=f"{template.name_zh} {n:0{width}d}",
                name_en=f"{template.name_en} {n:0{width}d}",
                region=region_of(dealt, province.cities), template=group.template)
            dealt += 1
        if twice:
            problems.append(f"{at}.prefix: hall id '{twice[0]}' is generated twice"
                            + (f" (and {len(twice) - 1} more ids)" if len(twice) > 1 else "")
                            + "; give each group its own prefix")
    if problems:
        raise ConfigError(str(source), problems)
    return halls


def template_path(name: str, base: Path) -> Path:
    """A bundled template by name (``hall/halls/<name>.toml``), else a path from ``base``."""
    if name in TEMPLATES:
        return Path(__file__).resolve().parent.parent / "halls" / f"{name}.toml"
    return (base / name).resolve()


def province_text(counts: Mapping[str, int], cities: int = 1,
                  name_zh: str = "省级平台", name_en: str = "Provincial platform") -> str:
    """A province file for ``counts`` halls per bundled template (``hall province generate``)."""
    lines = ["# Halls generated from templates (`hall province generate`, hall/config/province.py)",
             "", "[province]", f'name_zh = "{name_zh}"', f'name_en = "{name_en}"',
             f"cities = {cities}"]
    for template, count in counts.items():
        if count:
            lines += ["", "[[province.halls]]", f'template = "{template}"', f"count = {count}",
                      f'prefix = "{template[0]}"']
    return "\n".join(lines) + "\n"

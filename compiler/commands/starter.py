"""`meshgen init`: a commented starter spec that validates and builds as written."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import Location, fail
from ..build.resources import resource_dir


def project_name(directory: Path) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", directory.resolve().name.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"analytics_{name}".rstrip("_")
    return name[:63]


def write_starter(directory: Path) -> list[Path]:
    target = directory / "meshgen.yaml"
    if target.exists():
        raise fail(Location(str(target)), "a spec already exists here", "edit it, or run `meshgen init` in another folder")
    starter = resource_dir("templates") / "init"
    text = (starter / "meshgen.yaml").read_text(encoding="utf-8")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace("__PROJECT_NAME__", project_name(directory)), encoding="utf-8", newline="\n")
    written = [target]
    # The sample rows the spec's `output.ci.sample_data` names, unless the folder has its own.
    for fixture in sorted((starter / "fixtures").glob("*.csv")):
        copy = directory / "fixtures" / fixture.name
        if not copy.exists():
            copy.parent.mkdir(exist_ok=True)
            copy.write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8", newline="\n")
            written.append(copy)
    return written

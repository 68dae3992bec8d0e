"""A PEP 517 build backend in the standard library alone, so `pip install ./clients/python` works with no
package index (setuptools needs `wheel` to build one, and an index to fetch both). It builds the pure-Python
wheel and the sdist of the `warden` package from pyproject.toml's [project] table; nothing else."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "warden"


def _project() -> dict[str, Any]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib

        return dict(tomllib.loads(text)["project"])
    except ImportError:  # Python 3.10: the few plain `key = "value"` lines this backend reads
        table = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return {k: v for k, v in re.findall(r'^([\w-]+)\s*=\s*"([^"]*)"', table, re.M)}


def _dist_name(project: dict[str, Any]) -> str:
    return re.sub(r"[-_.]+", "_", str(project["name"])).lower()


def _metadata(project: dict[str, Any]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.10')}",
        "Classifier: Typing :: Typed",
        "Description-Content-Type: text/markdown",
        "",
        (ROOT / "README.md").read_text(encoding="utf-8"),
    ]
    return "\n".join(lines)


def _package_files() -> list[Path]:
    root = ROOT / PACKAGE
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None) -> str:
    """Builds ``<name>-<version>-py3-none-any.whl`` into ``wheel_directory``; returns its file name."""
    project = _project()
    name, version = _dist_name(project), str(project["version"])
    info = f"{name}-{version}.dist-info"
    wheel = f"{name}-{version}-py3-none-any.whl"
    entries: list[tuple[str, bytes]] = [
        (p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in _package_files()
    ]
    entries.append((f"{info}/METADATA", _metadata(project).encode()))
    entries.append(
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: warden_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    )
    entries.append((f"{info}/top_level.txt", f"{PACKAGE}\n".encode()))
    record = [_record_line(n, d) for n, d in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for entry, data in entries:
            z.writestr(zipfile.ZipInfo(entry, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    """Builds ``<name>-<version>.tar.gz`` (the package, pyproject.toml, README.md and this backend)."""
    project = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    files = [ROOT / "pyproject.toml", ROOT / "README.md", Path(__file__).resolve(), *_package_files()]
    pkg_info = _metadata(project).encode()
    with tarfile.open(os.path.join(sdist_directory, f"{base}.tar.gz"), "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=f"{base}/{path.relative_to(ROOT).as_posix()}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return f"{base}.tar.gz"


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    return []

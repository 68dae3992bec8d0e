"""The package as pip installs it: the in-tree build backend's wheel carries the whole package with its
type marker, imports from the wheel alone, and its RECORD matches its files."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "build_backend"))

import warden_build  # noqa: E402


class PackagingTests(unittest.TestCase):
    def test_wheel_builds_with_the_standard_library_and_imports_alone(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            name = warden_build.build_wheel(out)
            self.assertEqual(name, "warden_client-0.1.0-py3-none-any.whl")
            wheel = Path(out) / name
            with zipfile.ZipFile(wheel) as z:
                names = set(z.namelist())
                self.assertIn("warden/py.typed", names)
                sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "warden").glob("*.py")}
                self.assertLessEqual(sources, names)
                self.assertFalse(any("__pycache__" in n for n in names))
                record = z.read("warden_client-0.1.0.dist-info/RECORD").decode().splitlines()
                for line in record:
                    path, digest, _size = line.rsplit(",", 2)
                    if digest:
                        sha = base64.urlsafe_b64encode(hashlib.sha256(z.read(path)).digest()).rstrip(b"=")
                        self.assertEqual(digest, f"sha256={sha.decode()}", path)
                metadata = z.read("warden_client-0.1.0.dist-info/METADATA").decode()
                self.assertIn("Name: warden-client", metadata)
            # A pure-Python wheel imports straight from the zip: nothing from this checkout is on the path.
            code = "import warden, sys; print(warden.__version__, warden.__file__)"
            ran = subprocess.run(
                [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(wheel)!r}); {code}"],
                capture_output=True,
                text=True,
                cwd=out,
                check=True,
            )
            self.assertTrue(ran.stdout.startswith("0.1.0 "), ran.stdout + ran.stderr)
            self.assertIn(name, ran.stdout)

    def test_sdist_carries_what_a_build_needs(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            name = warden_build.build_sdist(out)
            import tarfile

            with tarfile.open(Path(out) / name) as tar:
                names = set(tar.getnames())
            base = "warden_client-0.1.0"
            needed_files = ("pyproject.toml", "README.md", "build_backend/warden_build.py", "warden/py.typed", "PKG-INFO")
            for needed in needed_files:
                self.assertIn(f"{base}/{needed}", names)


if __name__ == "__main__":
    unittest.main()

"""Refresh the vendored Swagger UI of /docs from its npm package, at the pinned version.

    python3 scripts/vendor_swagger_ui.py             # the pinned VERSION below
    python3 scripts/vendor_swagger_ui.py 5.37.0 sha512-...   # another version, with its npm integrity

``npm pack`` fetches the package's tarball through npm's configured registry; the tarball's sha512 must be the
pinned integrity (``npm view swagger-ui-dist@X.Y.Z dist.integrity`` gives it), or nothing is written. Only the
files the page needs are kept (the bundle, its CSS, the licences), byte for byte as published: no source maps,
no ES bundles, no standalone preset. ``storehouse/web/vendor/swagger-ui/VERSION`` records what was taken.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "swagger-ui-dist"
VERSION = "5.36.0"
INTEGRITY = "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A=="
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
TARGET = Path(__file__).resolve().parents[1] / "storehouse" / "web" / "vendor" / "swagger-ui"


def integrity_of(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch(version: str, integrity: str, into: Path) -> Path:
    """The package tarball, packed by npm into ``into``; SystemExit if its integrity is not the pinned one."""
    subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(into)], check=True)
    tarball = into / f"{PACKAGE}-{version}.tgz"
    found = integrity_of(tarball)
    if found != integrity:
        raise SystemExit(f"{tarball.name}: integrity {found}, expected {integrity}; nothing written")
    return tarball


def main(argv: list[str]) -> None:
    version, integrity = (argv[0], argv[1]) if len(argv) == 2 else (VERSION, INTEGRITY)
    with tempfile.TemporaryDirectory() as temp:
        tarball = fetch(version, integrity, Path(temp))
        staged = Path(temp) / "staged"
        staged.mkdir()
        with tarfile.open(tarball) as archive:
            for name in FILES:
                member = archive.extractfile(f"package/{name}")
                if member is None:
                    raise SystemExit(f"{tarball.name} has no {name}")
                (staged / name).write_bytes(member.read())
        (staged / "VERSION").write_text(
            f"npm package: {PACKAGE}\nversion: {version}\nintegrity: {integrity}\n"
            f"files: {', '.join(FILES)}\nrefreshed by: scripts/vendor_swagger_ui.py\n"
        )
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(staged, TARGET)
    for path in sorted(TARGET.iterdir()):
        print(f"{path.stat().st_size:>10,}  {path.relative_to(TARGET.parents[3])}")


if __name__ == "__main__":
    main(sys.argv[1:])

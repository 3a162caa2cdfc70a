"""Install as a user does: build the wheel, install it into a fresh virtual environment and run
`sunlight replay` of the city sample from another directory. No network: the build uses this
environment's setuptools and the fresh environment reaches the dependencies already installed
here through a `.pth` line (the package itself comes only from the wheel)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from paths import CITY_SAMPLE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out)],
        check=True, capture_output=True, timeout=300,
    )
    (found,) = out.glob("sunlight-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    # Dependencies from this environment, after the fresh site-packages (a path added by a
    # .pth line has its own .pth files ignored, so this environment's editable install of
    # sunlight does not leak in).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    return root


def test_every_package_of_the_tree_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in sorted(ROOT.glob("*/**/__init__.py")):
        rel = init.relative_to(ROOT)
        if rel.parts[0] in ("tests", ".venv", "build") or rel.parts[0].startswith("."):
            continue
        wanted = ("sunlight_config", *rel.parts[1:]) if rel.parts[0] == "config" else rel.parts
        assert "/".join(wanted) in names, f"{rel} is not in the wheel (pyproject packages)"
    for yaml_file in sorted((ROOT / "config").rglob("*.yaml")):
        rel = yaml_file.relative_to(ROOT / "config")
        if rel.parts[0] != "ops":
            assert f"sunlight_config/{rel.as_posix()}" in names


def test_replay_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    expected = json.loads((CITY_SAMPLE / "expected.json").read_text())
    out = tmp_path / "alerts.jsonl"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import streams, detectors.config as c; print(streams.__file__); "
         "print(c.DEFAULT_CONFIG_DIR)"],
        cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert all(p.startswith(str(venv)) for p in where), where
    proc = subprocess.run(
        [str(venv / "bin" / "sunlight"), "replay", str(CITY_SAMPLE / "stream.jsonl.gz"),
         "--until", expected["until"], "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    # The sample's 97, and the 5 of the detectors added after it was made.
    later = json.loads((CITY_SAMPLE / "expected-typologies.json").read_text())
    assert len(alerts) == len(expected["expected"]) + len(later["expected"]) == 102


def test_an_operator_folder_replaces_the_shipped_one(venv: Path, tmp_path: Path) -> None:
    """`SUNLIGHT_CONFIG` names the folder; one missing rule file is refused with its name."""
    folder = tmp_path / "etc"
    (folder / "detectors").mkdir(parents=True)
    for f in (ROOT / "config" / "detectors").glob("*.yaml"):
        if f.stem != "tank_overfill":
            (folder / "detectors" / f.name).write_bytes(f.read_bytes())
    proc = subprocess.run(
        [str(venv / "bin" / "sunlight"), "replay", str(CITY_SAMPLE / "stream.jsonl.gz")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "SUNLIGHT_CONFIG": str(folder)},
    )
    assert proc.returncode == 2
    assert f"{folder / 'detectors'}: no rule file for tank_overfill" in proc.stderr

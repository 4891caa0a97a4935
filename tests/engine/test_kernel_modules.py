"""Kernel modules import only numpy, numba, math and other kernel modules (STYLE 2.2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import validate_nb
from engine.schema import Reason

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("polars", "duckdb", "pyarrow", "solana", "solders", "pandas")


def kernel_modules() -> list[str]:
    names = ["engine.layout"]
    for path in sorted((ROOT / "engine").rglob("*_nb.py")):
        names.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    amm = ROOT / "engine" / "amm"
    names += [f"engine.amm.{p.stem}" for p in sorted(amm.glob("*.py"))
              if p.stem not in ("__init__", "exact") and not p.stem.endswith("_nb")]
    return names


@pytest.mark.parametrize("module", kernel_modules())
def test_kernel_module_imports_no_heavy_package(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"


def test_validate_kernel_codes_mirror_the_reason_enum() -> None:
    for reason in Reason:
        assert getattr(validate_nb, reason.name) == reason.value

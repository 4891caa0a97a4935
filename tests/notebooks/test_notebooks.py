"""The notebooks run top to bottom in a fresh Jupyter kernel and their own checks pass.

Each notebook is executed by nbclient in a new ipykernel started with this interpreter (the
project's venv), from the ``notebooks/`` folder, with ``$SHOAL_LAKE`` pointing at a temporary
lake: the first notebook generates a small synthetic market into it, the others reuse it (each
generates it itself when run alone). ``04`` lands the real mainnet fixtures into a lake of its
own. A cell that raises fails the test; the cells tagged ``checks`` hold each notebook's
assertions about its own results. The committed notebooks carry no outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
FIXTURES = Path(os.environ.get("SHOAL_FIXTURES", ROOT.parent / "shared" / "fixtures"))
NAMES = ("01_explore_lake", "02_backtest_and_sweep", "03_paper_run_review", "04_ingest_real_transactions")
KERNEL = "shoal-notebook-test"
CELL_TIMEOUT_S = 900  # a cold Numba cache compiles each strategy's kernel once: minutes on a busy 2-core machine
CHECKS_TAG = "checks"


@pytest.fixture(scope="module")
def kernel_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A kernelspec running this interpreter, and the kernel's environment with temporary lakes."""
    root = tmp_path_factory.mktemp("notebooks")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "shoal (test)", "language": "python"}))
    env = {**os.environ, "SHOAL_LAKE": str(root / "lake"), "SHOAL_MAINNET_LAKE": str(root / "mainnet"),
           "SHOAL_FIXTURES": str(FIXTURES), "PYTHONPATH": os.pathsep.join(
               p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return root / "kernels", env


def execute(name: str, kernels: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    """Run a copy of notebook ``name`` in a fresh kernel; raise on the first failing cell."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_and_its_checks_pass(name: str, kernel_setup) -> None:
    # Arrange
    kernels, env = kernel_setup
    if name.startswith("04") and not (FIXTURES / "0xjeffro-tx-parser").is_dir():
        pytest.skip(f"fixtures not found at {FIXTURES}; set SHOAL_FIXTURES")
    # Act
    nb = execute(name, kernels, env)
    # Assert
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a code cell did not run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    checks = [c for c in code if CHECKS_TAG in c.metadata.get("tags", [])]
    assert checks and all("assert " in c.source for c in checks), f"{name} has no cell of checks"
    figures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert figures, f"{name} drew no figure"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs_and_uses_the_python3_kernel(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code), "strip the outputs before committing"
    assert nb.metadata["kernelspec"]["name"] == "python3"

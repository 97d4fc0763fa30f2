"""notebooks/policy_tuning.ipynb runs top to bottom on a real results table."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extras")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "policy_tuning.ipynb"


def test_the_notebook_runs_on_a_tiny_sweep(tiny_report, monkeypatch):
    monkeypatch.setenv("SMSVERIFY_RESULTS", str(tiny_report / "results.csv"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "order value" in text
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 3


def test_the_notebooks_default_table_is_the_committed_example():
    example = NOTEBOOK.parent / ".." / "reports" / "example" / "results.csv"
    assert "../reports/example/results.csv" in NOTEBOOK.read_text("utf-8")
    assert example.resolve().is_file()

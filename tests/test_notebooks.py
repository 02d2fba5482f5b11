"Every notebook in nbs/ is a test: run each one through nbdev (cells flagged in `tst_flags` are skipped)."
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

NBS = Path(__file__).parent.parent / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)
    skip = get_config().tst_flags.split()
    force = os.environ.get('DREAMBOOTH_NB_FLAGS', '').split()
    ok, secs = run_notebook(nb, skip_flags=skip, force_flags=force, do_print=False)
    assert ok, f'{nb.name} failed (its traceback is printed above)'

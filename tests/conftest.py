import os, tempfile, pytest
# Tests never reach a model hub: everything runs on ShapesWorld or tiny models built in the test.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

@pytest.fixture(autouse=True)
def _scratch_under_tmp_path(tmp_path, monkeypatch):
    "Notebooks make scratch folders with `tempfile.mkdtemp()`: put them under `tmp_path`, which pytest prunes, so test runs don't fill the disk."
    monkeypatch.setenv('TMPDIR', str(tmp_path))
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))

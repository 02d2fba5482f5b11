"The repository's promises: README current with index.ipynb, the README's commands are the ones CI runs."
import subprocess, sys
from pathlib import Path
from dreambooth_nb.docs import readme_text

ROOT = Path(__file__).parent.parent

def test_readme_is_current():
    assert (ROOT / 'README.md').read_text() == readme_text(ROOT / 'nbs' / 'index.ipynb'), \
        'README.md is stale: run `python -m dreambooth_nb.docs` and commit it.'

def test_readme_test_command_is_what_ci_runs():
    readme, ci = (ROOT / 'README.md').read_text(), (ROOT / '.ci' / 'run').read_text()
    cmd = 'pip install -e ".[dev]" && pytest'
    assert cmd in readme and cmd in ci

def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, '-m', 'dreambooth_nb.cli', '--help'], capture_output=True, text=True)
    for c in ('demo', 'prior', 'train', 'sample', 'prompts'): assert c in out.stdout

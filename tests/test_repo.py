"The repository's promises: README current with index.ipynb, the README's commands are the ones CI runs."
import subprocess, sys
from pathlib import Path
from dreambooth_nb.docs import readme_text

ROOT = Path(__file__).parent.parent
BOOK = sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb') if not any(q.startswith(('_', '.')) for q in p.relative_to(ROOT / 'nbs').parts))

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

def test_chapters_that_draw_are_committed_with_their_pictures():
    "The book shows its work: a chapter that draws images (show_images, image_grid, matplotlib) is committed executed."
    import json, re
    missing = []
    for nb in BOOK:
        cells = json.loads(nb.read_text())['cells']
        draws = any(c['cell_type'] == 'code' and re.search(r'show_images\(|image_grid\(|plt\.|labelled_grid\(', ''.join(c['source'])) for c in cells)
        has_png = any('image/png' in o.get('data', {}) for c in cells if c['cell_type'] == 'code' for o in c.get('outputs', []))
        if draws and not has_png: missing.append(nb.name)
    assert not missing, f"{missing} draw pictures but are committed without them: run `python -m dreambooth_nb.docs --execute` on them."

def test_book_stays_small():
    total = sum(p.stat().st_size for p in BOOK)
    assert total <= 5 * 2**20, f'the notebooks take {total / 2**20:.1f} MB: keep figures small (64-px images, no huge grids)'

def test_book_renders_to_html_with_its_pictures(tmp_path):
    "The offline render of every chapter (nbconvert, no Quarto): each page holds its chapter's pictures, and no cell shows an error."
    import json
    from dreambooth_nb.docs import render_html
    res = render_html(BOOK, tmp_path)
    for nb in BOOK:
        pngs = sum('image/png' in o.get('data', {}) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))
        shown, errors = res[nb.stem]
        assert errors == 0, f'{nb.name} is committed with {errors} error output(s)'
        assert shown >= pngs, f'{nb.name}: {pngs} pictures committed, {shown} on its HTML page'

def test_import_cells_hold_only_imports():
    "nbdev's docs step (nbdev_proc_nbs) runs every cell that has an import: such cells must hold imports only."
    import json, re
    bad = []
    for nb in BOOK:
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or src.startswith('#| export'): continue
            lines = [l for l in src.splitlines() if l.strip() and not l.strip().startswith('#')]
            imports = [l for l in lines if re.match(r'(import |from \S+ import )', l)]
            if imports and len(imports) != len(lines): bad.append(f'{nb.name} cell {i}: {imports[0]}')
    assert not bad, f'cells mixing imports with other code (move the imports to an import cell): {bad}'

def test_install_lines_point_at_the_docs_repository():
    "The README's and the Colab tutorial's install lines and badge name the repository settings.ini builds the docs from."
    import re
    from nbdev.config import get_config
    repo = get_config().git_url.rstrip('/').split('github.com/')[1]
    texts = {p.name: p.read_text() for p in [ROOT / 'README.md', *BOOK] if 'github.com/' in p.read_text()}
    found = {(name, m) for name, t in texts.items() for m in re.findall(r'(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w-]+)', t)
             if not m.startswith(('huggingface/', 'google/', 'AnswerDotAI/', 'fastai/', 'kohya-ss/', 'ShivamShrirao/', 'openai/'))}
    assert found and all(m == repo for _, m in found), sorted(found)

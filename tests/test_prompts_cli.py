"`dreambooth_nb prompts` fails loudly: an unreachable or silent model, a bad `--out` or `--class-noun`, a failed write (issue 14)."
import os, sys, socket, subprocess, time
import pytest
from dreambooth_nb.llm_server import FakeOpenAI
from dreambooth_nb.llm import prompts_main, write_lines, template_class_prompts

PREFIX = 'dreambooth_nb prompts: '

def free_port() -> int:
    "A loopback port where nothing listens."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def dead(monkeypatch):
    "Options for an OpenAI model behind a URL where nothing listens, with a dummy key in $OPENAI_API_KEY."
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-dummy')
    return ['--base-url', f'http://127.0.0.1:{free_port()}/v1', '--provider', 'openai', '--timeout', '1', '--retries', '0']

def run(capsys, *args):
    "The exit status, stdout and stderr lines of `dreambooth_nb prompts *args`."
    rc = prompts_main(list(args))
    o = capsys.readouterr()
    return rc, o.out, o.err.splitlines()

@pytest.mark.parametrize('kind', ['class', 'eval'])
def test_unreachable_model_is_an_error(tmp_path, capsys, dead, kind):
    rc, out, err = run(capsys, '--class-noun', 'dog', '--n', '5', '--kind', kind, '--out', str(tmp_path/'p.txt'), *dead)
    assert (rc, out) == (1, '')
    assert len(err) == 2, err  # the progress line, then the error
    assert err[0].startswith('asking gpt-5-mini at http://127.0.0.1:') and err[0].endswith('(timeout 1s, 0 retries)...')
    assert err[1].startswith(PREFIX + 'the chat model failed') and 'cannot reach' in err[1]
    assert '--fallback templates' in err[1] and '--offline' in err[1]
    assert list(tmp_path.iterdir()) == []

def test_fallback_templates_writes_templates_and_says_so(tmp_path, capsys, dead):
    out_file = tmp_path/'p.txt'
    rc, out, err = run(capsys, '--class-noun', 'dog', '--n', '5', '--out', str(out_file), '--fallback', 'templates', *dead)
    assert rc == 0 and len(err) == 1 and err[0].startswith('asking gpt-5-mini')
    assert out_file.read_text().splitlines() == template_class_prompts('dog', 5)
    assert '(offline templates: the chat model failed: cannot reach' in out and 'gpt-5-mini;' not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['p.txt']

def test_model_and_offline_summaries(tmp_path, capsys):
    with FakeOpenAI(['class_prompts', 'class_prompts']) as srv:
        rc, out, err = run(capsys, '--class-noun', 'dog', '--n', '8', '--out', str(tmp_path/'m.txt'), '--base-url', srv.url, '--timeout', '5')
    assert rc == 0 and '(gpt-5-mini; In: ' in out and 'offline templates' not in out
    assert err == [f'asking gpt-5-mini at {srv.url} for 8 class prompts (timeout 5s, 2 retries)...']
    rc, out, err = run(capsys, '--class-noun', 'dog', '--n', '3', '--out', str(tmp_path/'o.txt'), '--offline')
    assert (rc, err) == (0, []) and out.strip().endswith('(offline templates)')

def test_silent_server_costs_one_timeout(tmp_path, capsys, monkeypatch):
    with socket.socket() as mute:  # accepts connections (the kernel's backlog) and never answers
        mute.bind(('127.0.0.1', 0)); mute.listen(4)
        t0 = time.monotonic()
        rc, out, err = run(capsys, '--class-noun', 'dog', '--n', '5', '--out', str(tmp_path/'p.txt'),
                           '--base-url', f'http://127.0.0.1:{mute.getsockname()[1]}/v1', '--timeout', '1', '--retries', '0')
    assert time.monotonic() - t0 < 15
    assert (rc, len(err)) == (1, 2) and 'did not answer within 1' in err[1], err
    assert list(tmp_path.iterdir()) == []

def test_retries_are_passed_to_the_client(tmp_path, capsys):
    with FakeOpenAI([{'fault': 500}] * 3) as srv:
        rc, out, err = run(capsys, '--class-noun', 'dog', '--out', str(tmp_path/'p.txt'), '--base-url', srv.url, '--retries', '1')
        assert rc == 1 and 'HTTP 500 after 1 retries' in err[-1] and len(srv.requests) == 2

@pytest.mark.parametrize('args,flag', [
    (['--out', '{d}/sub'], '--out'), (['--out', '{d}/new/'], '--out'),
    (['--class-noun', ''], '--class-noun'), (['--class-noun', '   '], '--class-noun'),
    (['--identifier', ''], '--identifier'), (['--timeout', '0'], '--timeout'), (['--retries', '-1'], '--retries')])
def test_usage_errors_are_one_line_before_asking(tmp_path, capsys, args, flag):
    (tmp_path/'sub').mkdir()
    with FakeOpenAI() as srv:
        rc, out, err = run(capsys, '--class-noun', 'dog', '--out', str(tmp_path/'p.txt'),
                           *[a.format(d=tmp_path) for a in args], '--base-url', srv.url)
        assert srv.requests == []
    assert (rc, out, len(err)) == (2, '', 1), err
    assert err[0].startswith(PREFIX + flag)
    assert [p.name for p in tmp_path.iterdir()] == ['sub'] and list((tmp_path/'sub').iterdir()) == []

def test_unwritable_out_is_one_line(tmp_path, capsys):
    (tmp_path/'f.txt').write_text('')
    target = tmp_path/'f.txt'/'p.txt'  # its folder is a file
    rc, out, err = run(capsys, '--class-noun', 'dog', '--out', str(target), '--offline')
    assert (rc, out, len(err)) == (1, '', 1) and err[0].startswith(f'{PREFIX}cannot write --out {target}: ')
    assert [p.name for p in tmp_path.iterdir()] == ['f.txt']

def test_full_disk_is_one_line_and_leaves_no_tmp(tmp_path, capsys, monkeypatch):
    def full(*a): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'replace', full)
    target = tmp_path/'p.txt'
    rc, out, err = run(capsys, '--class-noun', 'dog', '--out', str(target), '--offline')
    assert (rc, out, err) == (1, '', [f'{PREFIX}cannot write --out {target}: No space left on device'])
    assert list(tmp_path.iterdir()) == []

def test_write_lines_removes_its_tmp_on_failure(tmp_path, monkeypatch):
    def full(*a): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'replace', full)
    with pytest.raises(OSError, match='No space left'): write_lines(['a dog'], tmp_path/'p.txt')
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert write_lines(['a  dog'], tmp_path/'p.txt').read_text() == 'a dog\n'
    assert [p.name for p in tmp_path.iterdir()] == ['p.txt']

def test_entry_point_exit_status(tmp_path):
    "Through `python -m dreambooth_nb.cli`: a script sees status 1 and one error line, no traceback."
    env = {**os.environ, 'OPENAI_API_KEY': 'sk-test-dummy'}
    r = subprocess.run([sys.executable, '-m', 'dreambooth_nb.cli', 'prompts', '--class-noun', 'dog', '--n', '3', '--out',
                        str(tmp_path/'p.txt'), '--base-url', f'http://127.0.0.1:{free_port()}/v1', '--provider', 'openai',
                        '--timeout', '1', '--retries', '0'], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and r.stdout == ''
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and lines[1].startswith(PREFIX + 'the chat model failed') and 'Traceback' not in r.stderr
    assert list(tmp_path.iterdir()) == []

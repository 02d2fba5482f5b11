"The LLM client against the loopback chat-completions server, through the official openai SDK."
import os, json, logging, warnings
import pytest
from pydantic import BaseModel
from dreambooth_nb.llm_server import FakeOpenAI
from dreambooth_nb.llm import Client, Chat, LLMError, MissingKeyError, class_prompts, eval_prompts, prompts_main, EVAL_KINDS, PromptList

KEY = 'sk-test-DO-NOT-LEAK-1234'

@pytest.fixture
def srv():
    s = FakeOpenAI()
    yield s
    s.stop()

@pytest.fixture
def cli(srv): return Client('gpt-5-mini', base_url=srv.url, api_key=KEY, provider='openai', timeout=3, max_retries=2)

def test_key_never_logged_or_shown(srv, cli, caplog):
    caplog.set_level(logging.DEBUG)
    srv.add('hello')
    chat = Chat(cli)
    chat('hi', temperature=0.3)
    assert KEY not in repr(cli) and KEY not in repr(chat) and KEY not in caplog.text
    assert srv.requests[-1]['headers']['authorization'] == f'Bearer {KEY}'

def test_profile_renames_and_drops(srv, cli):
    srv.add('hello')
    Chat(cli)('hi', temperature=0.3, max_tokens=20)
    body = srv.last
    assert body['max_completion_tokens'] == 20 and 'temperature' not in body and 'max_tokens' not in body

def test_stream_records_usage_and_message(srv, cli):
    srv.add('reasoning')
    chat = Chat(cli)
    text = ''.join(chat('why prior images?', stream=True))
    assert text == chat.h[-1]['content'] and text.startswith('Use about 200')
    assert (chat.use.prompt, chat.use.cached, chat.use.reasoning) == (1200, 1024, 128)
    assert chat.use.cost is not None and chat.use.cost > 0 and cli.use.calls == 1

def test_429_then_success_is_retried(srv, cli):
    srv.add({'fault': 429, 'retry_after': 0.05}, {'fault': 503, 'retry_after': 0.05}, 'hello')
    assert Chat(cli)('hi').startswith('Hello')
    assert len(srv.requests) == 3

def test_500_exhausted_gives_clear_error(srv, cli):
    srv.add(*[{'fault': 500}] * 3)
    with pytest.raises(LLMError, match='HTTP 500'): Chat(cli)('hi')

def test_learns_rejected_parameter():
    with FakeOpenAI(['hello', 'hello'], rejects={'seed': 400}) as s:
        c = Client('gpt-4o-mini', base_url=s.url, api_key=KEY, provider='openai')
        with pytest.warns(UserWarning, match="'seed'"): Chat(c)('hi', seed=1)
        Chat(c)('hi', seed=1)
        assert ['seed' in r['body'] for r in s.requests] == [True, False, False]

def test_structured_all_routes(srv, cli):
    srv.add('class_prompts')
    a = Chat(cli).structured('prompts', PromptList)
    srv.add('class_prompts')
    b = Chat(Client('tiny', base_url=srv.url, provider='local')).structured('prompts', PromptList)
    assert a == b and len(a.prompts) == 10

def test_missing_key(monkeypatch):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    with pytest.raises(MissingKeyError, match='OPENAI_API_KEY'): Client('gpt-5-mini')

def test_tasks_offline_and_cli(tmp_path, srv):
    cp = class_prompts('backpack', 40)
    assert len(cp) == len(set(cp)) == 40 and all('backpack' in p and 'sks' not in p for p in cp)
    ep = eval_prompts('backpack', 9, identifier='zwx')
    assert [e.kind for e in ep[:3]] == list(EVAL_KINDS) and all('zwx backpack' in e.prompt for e in ep)
    out = tmp_path/'p.txt'
    assert prompts_main(['--class-noun', 'backpack', '--n', '5', '--out', str(out), '--offline']) == 0
    assert out.read_text().splitlines() == class_prompts('backpack', 5)
    srv.add('eval_prompts')
    assert prompts_main(['--class-noun', 'dog', '--kind', 'eval', '--n', '3', '--out', str(out), '--base-url', srv.url]) == 0
    assert out.read_text().splitlines() == ['a sks dog on a cobblestone street at night', 'a sks dog wearing a yellow raincoat', 'a blue sks dog']

